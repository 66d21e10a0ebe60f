"""search: the result names of each item's newest version become its keywords

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

People look for the licence they want (食品经营许可证), not for the procedure's name
(食品经营许可（新办）). Publishing now indexes the newest version's result names (办理结果)
as keywords; this revision indexes the items published before it the same way. No table
changes: the search rows are rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from govsvc.store import search

    search.rebuild(op.get_bind())  # reads the tables as this release describes them


def downgrade() -> None:
    from govsvc.store import search

    search.rebuild(op.get_bind(), result_names=False)  # the index as 0007 made it
