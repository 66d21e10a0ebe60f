"""The base of every resource service: its session, the runtime, the principal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govsvc._text import check_text
from govsvc.errors import InvalidInput
from govsvc.policy import Action, Decision, Resource
from govsvc.principals import Principal

if TYPE_CHECKING:
    from govsvc.services._runtime import Runtime
    from govsvc.services._session import Session

__all__ = ["Service"]


class Service:
    """A resource service bound to a session (``session.cases``, ``session.reviews``, …)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._rt: Runtime = session._runtime

    @property
    def principal(self) -> Principal:
        return self._session.principal

    def _authorize(self, action: Action, resource: Resource) -> Decision:
        return self._session.authorize(action, resource)

    @staticmethod
    def _arg(value: object, name: str, *, optional: bool = False, max_length: int = 200) -> str:
        """A text argument checked before it reaches the policy or the SQL: text, storable
        (no NUL or lone surrogate), not over ``max_length``; :class:`InvalidInput` naming
        ``name`` otherwise. ``optional`` lets None through (returned as "")."""
        if value is None and optional:
            return ""
        check_text(value, name)  # type: ignore[arg-type]  # refuses non-text, naming it
        assert isinstance(value, str)
        if len(value) > max_length:
            raise InvalidInput(f"{name} is {len(value)} characters; at most {max_length}")
        return value

    def _purpose(self, purpose: str | None) -> str:
        return check_text(
            purpose if purpose is not None else self._session.purpose, "purpose"
        ).strip()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.principal}>"
