"""The logged-in person's own page: who they are logged in as, and (applicants) their cases."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from govsvc_host.web.common import Me, host_of

router = APIRouter()


@router.get("/account", name="account")
def account(
    request: Request, me: Me, after: str | None = None
) -> Response:
    host = host_of(request)
    session = host.session(me)
    cases = uses = None
    if me.party is not None:
        cases = session.cases.mine(after=after, limit=20)
        uses = session.parties.data_use(me.party, limit=50)
    item_names = {i.implementation_code: i.name for i in host.platform.public().catalogue.items()}
    return host.render(
        request, "account.html", principal=me, cases=cases, uses=uses, item_names=item_names
    )
