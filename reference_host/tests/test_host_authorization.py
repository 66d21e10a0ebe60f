"""Every route, every role (own and another agency/department): the SDK policy's answer.

For each route the test names the actions the handler asks the SDK for, and for each demo
user computes what the policy says (``session.can``) — the host adds no rule of its own, so
the HTTP answer must follow: allowed → the page or JSON; refused → 403 (a page, or
problem+json under /api) and one more ``denied`` record in the SDK's access log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import govsvc
from govsvc import Action, Resource

CSRF = "csrf-token-for-tests-0001"
USERS = ("zhangwei", "lina", "zhangwei.bingcheng", "wangxiuying.beifang", "wangfang", "sunli",
         "liming", "zhaomin", "gaojun", "heyan", "chenqiang", "linxia", "zhoujie", "wuqiang",
         "zhenghao")
ORG = "91230103MA1BX4K238"
CHINA = dt.timezone(dt.timedelta(hours=8))


@attrs.frozen
class Route:
    name: str
    method: str
    path: Callable[[dict[str, govsvc.Case]], str]
    # (session, cases) → whether the policy allows everything the handler asks
    allowed: Callable[[govsvc.Session, dict[str, govsvc.Case]], bool]
    data: Callable[[dict[str, govsvc.Case]], dict[str, Any]] | None = None
    api: bool = False
    fresh: bool = False  # the route changes the case: give every user a new one
    ok: tuple[int, ...] = (200, 303)  # the answers when the policy allows
    both_ways: bool = True  # some demo role may, and some may not

def _can(session: govsvc.Session, action: Action, resource: Any) -> bool:
    return bool(session.can(action, resource))


def _queue(session: govsvc.Session) -> bool:
    agency = session.principal.agency
    return _can(session, Action.REVIEW_QUEUE, agency if agency else Resource.platform())


def _apply_shop(session: govsvc.Session) -> bool:
    shop = "11230102MB1C3376104000175001001"
    return _can(session, Action.CASE_APPLY, Resource.application(
        govsvc.PartyKey.of("230103198503120316"), agency=shop[:18], item_code=shop,
        division=shop[2:8], today=dt.datetime.now(CHINA).date()))


def _portal(session: govsvc.Session, *also: Action) -> bool:
    """The portal's landing: one's own cases (a principal without a party: the platform's
    lists), then ``also`` on each of one's own keys (the person and whom they act for)."""
    me = session.principal
    if me.party is None:
        return _can(session, Action.CASE_LIST, Resource.platform())
    keys = [k for k in (me.party, me.acting_for) if k is not None]
    return _can(session, Action.CASE_LIST, me.party) and all(
        _can(session, action, key) for action in also for key in keys)


def _portal_apply(session: govsvc.Session) -> bool:
    me = session.principal
    key = me.acting_for or me.party
    if key is None:
        return _can(session, Action.CASE_LIST, Resource.platform())
    return _can(session, Action.PARTY_IDENTIFY, key) and _can(
        session, Action.PARTY_CERTIFICATES, key)


def _samr_task(case: govsvc.Case) -> str:
    return next(t.id for t in case.open_tasks if t.department == "11230100013114525L")


ROUTES = (
    Route("case page", "GET", lambda c: f"/cases/{c['food'].tracking_code}",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])),
    Route("own-agency case page", "GET", lambda c: f"/cases/{c['shop'].tracking_code}",
          lambda s, c: _can(s, Action.CASE_READ, c["shop"])),
    Route("receipt", "GET", lambda c: f"/cases/{c['food'].tracking_code}/receipt",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])),
    Route("window", "GET", lambda c: "/window",
          lambda s, c: _can(s, Action.CASE_LIST, Resource.platform())),
    Route("window look-up", "GET", lambda c: f"/window?number={ORG}",
          lambda s, c: _can(s, Action.CASE_LIST, Resource.platform())
          and _can(s, Action.PARTY_READ, govsvc.PartyKey.of(ORG))
          and _can(s, Action.CASE_LIST, govsvc.PartyKey.of(ORG))),
    Route("back office", "GET", lambda c: "/backoffice", lambda s, c: _queue(s)),
    Route("supervision", "GET", lambda c: "/supervision",
          lambda s, c: _can(s, Action.SUPERVISION_OVERDUE, Resource.division_of(
              s.principal.division)) and _can(s, Action.SUPERVISION_STATISTICS,
              Resource.division_of(s.principal.division))
          and _can(s, Action.SUPERVISION_ACCESS_LOG, None)),
    Route("admin", "GET", lambda c: "/admin",
          lambda s, c: _can(s, Action.DEPARTMENT_HEALTH, None)
          and _can(s, Action.OUTBOX_READ, None)),
    Route("pre-review", "POST", lambda c: f"/cases/{c['waiting'].tracking_code}/do/prereview",
          lambda s, c: _can(s, Action.CASE_READ, c["waiting"])
          and _can(s, Action.CASE_PREREVIEW, c["waiting"]),
          data=lambda c: {"version": str(c["waiting"].version)}, fresh=True),
    Route("decide", "POST", lambda c: f"/cases/{c['food'].tracking_code}/do/decide",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])
          and _can(s, Action.REVIEW_DECIDE, (c["food"], _samr_task(c["food"]))),
          data=lambda c: {"version": str(c["food"].version), "task_id": _samr_task(c["food"]),
                          "outcome": "approve"}, fresh=True),
    Route("suspend", "POST", lambda c: f"/cases/{c['food'].tracking_code}/do/suspend",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])
          and _can(s, Action.CASE_SUSPEND, c["food"]),
          data=lambda c: {"version": str(c["food"].version), "reason": "现场勘验",
                          "notice": "现场核查"}, fresh=True),
    Route("profile", "GET", lambda c: f"/cases/{c['food'].tracking_code}/profile",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])
          and _can(s, Action.CASE_TRAIL, c["food"])
          and _can(s, Action.PARTY_IDENTIFY, c["food"].applicant)),
    Route("material scan", "GET", lambda c: f"/cases/{c['food'].tracking_code}/materials/M01",
          lambda s, c: _can(s, Action.CASE_READ, c["food"]), ok=(404,)),  # paper: no scan
    Route("apply form", "GET",
          lambda c: f"/window/apply/{c['shop'].item_code}?applicant=230103198503120316",
          lambda s, c: _can(s, Action.PARTY_READ, govsvc.PartyKey.of("230103198503120316"))),
    Route("register applicant", "POST", lambda c: "/window/applicants",
          lambda s, c: _can(s, Action.PARTY_REGISTER, govsvc.PartyKey.of("230102199001011230")),
          data=lambda c: {"number": "230102199001011230", "name": "李娜"}),
    Route("refuse", "POST", lambda c: f"/cases/{c['waiting'].tracking_code}/do/refuse",
          lambda s, c: _can(s, Action.CASE_READ, c["waiting"])
          and _can(s, Action.CASE_REFUSE, c["waiting"]),
          data=lambda c: {"version": str(c["waiting"].version), "reason": "不符合条件",
                          "basis": "行政许可法第三十二条"}, fresh=True),
    Route("request extension", "POST",
          lambda c: f"/cases/{c['food'].tracking_code}/do/request_extension",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])
          and _can(s, Action.CASE_REQUEST_EXTENSION, c["food"]),
          data=lambda c: {"version": str(c["food"].version), "workdays": "3",
                          "reason": "需补充核查"}, fresh=True),
    Route("withdraw", "POST", lambda c: f"/cases/{c['shop'].tracking_code}/do/withdraw",
          lambda s, c: _can(s, Action.CASE_READ, c["shop"])
          and _can(s, Action.CASE_WITHDRAW, c["shop"]),
          data=lambda c: {"version": str(c["shop"].version), "reason": "不办了"}, fresh=True),
    Route("account", "GET", lambda c: "/account", lambda s, c: True, both_ways=False),
    Route("portal: my cases", "GET", lambda c: "/portal", lambda s, c: _portal(s)),
    Route("portal: apply form", "GET", lambda c: f"/portal/apply/{c['shop'].item_code}",
          lambda s, c: _portal_apply(s), ok=(200, 422)),  # 422: staff are sent to the window
    Route("portal: apply", "POST", lambda c: f"/portal/apply/{c['shop'].item_code}",
          lambda s, c: _portal_apply(s), data=lambda c: {"action": "submit"},
          ok=(422,)),  # allowed, and told in one notice which materials are missing
    Route("portal: case", "GET", lambda c: f"/portal/cases/{c['shop'].tracking_code}",
          lambda s, c: _can(s, Action.CASE_READ, c["shop"])
          and _can(s, Action.CASE_TRAIL, c["shop"])),
    Route("portal: supplement", "POST",
          lambda c: f"/portal/cases/{c['shop'].tracking_code}/supplement",
          lambda s, c: _can(s, Action.CASE_READ, c["shop"])
          and _can(s, Action.CASE_RESUBMIT, c["shop"]),
          ok=(409,)),  # allowed, but a submitted case has no notice to answer
    Route("portal: data use", "GET", lambda c: "/portal/data-use",
          lambda s, c: _portal(s, Action.PARTY_DATA_USE)),
    Route("portal: messages", "GET", lambda c: "/portal/messages", lambda s, c: _portal(s)),
    Route("portal: mark read", "POST", lambda c: "/portal/messages/read",
          lambda s, c: _portal(s)),
    Route("portal: SMS outbox", "GET", lambda c: "/portal/sms",
          lambda s, c: _can(s, Action.OUTBOX_READ, Resource.platform())),
    Route("api apply", "POST", lambda c: "/api/v1/applications", lambda s, c: _apply_shop(s),
          data=lambda c: {"item_code": "11230102MB1C3376104000175001001",
                          "applicant": {"number": "230103198503120316", "name": "张伟"}},
          api=True, ok=(201,)),
    Route("api applicant's cases", "GET", lambda c: f"/api/v1/cases?applicant={ORG}",
          lambda s, c: _can(s, Action.CASE_LIST, govsvc.PartyKey.of(ORG)), api=True),
    Route("api decision", "POST",
          lambda c: f"/api/v1/cases/{c['food'].tracking_code}/tasks/{_samr_task(c['food'])}/decision",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])
          and _can(s, Action.REVIEW_DECIDE, (c["food"], _samr_task(c["food"]))),
          data=lambda c: {"approve": True}, api=True, fresh=True),
    Route("api callback", "POST", lambda c: "/api/v1/callbacks/decisions",
          lambda s, c: _can(s, Action.REVIEW_RECORD, (c["food"], _samr_task(c["food"]))),
          data=lambda c: {"task_id": _samr_task(c["food"]), "approved": True}, api=True,
          both_ways=False),
    Route("api track", "GET",
          lambda c: f"/api/v1/track?code={c['shop'].tracking_code}&suffix=0316",
          lambda s, c: _can(s, Action.CASE_TRACK, None), api=True),
    Route("api case", "GET", lambda c: f"/api/v1/cases/{c['food'].tracking_code}",
          lambda s, c: _can(s, Action.CASE_READ, c["food"]), api=True),
    Route("api trail", "GET", lambda c: f"/api/v1/cases/{c['food'].tracking_code}/trail",
          lambda s, c: _can(s, Action.CASE_TRAIL, c["food"]), api=True),
    Route("api tasks", "GET", lambda c: "/api/v1/tasks", lambda s, c: _queue(s), api=True),
    Route("api accept", "POST",
          lambda c: f"/api/v1/cases/{c['waiting'].tracking_code}/commands/accept",
          lambda s, c: _can(s, Action.CASE_ACCEPT, c["waiting"]),
          data=lambda c: {}, api=True, fresh=True),
)


class _Cases(dict[str, Any]):
    """The cases of a walk; the finished and the rated one made only for routes that ask."""

    def __init__(self, host: Any) -> None:
        super().__init__(food=host.food_case(), waiting=host.food_case(accept=False),
                         shop=host.shop_case())
        self.host = host

    def __missing__(self, key: str) -> Any:
        if key == "finished":
            self[key] = self.host.finish(self.host.food_case())
        elif key == "rated":  # a bad rating of a finished case, SAMR's to answer
            self[key] = self.host.session("zhangwei.bingcheng").ratings.rate(
                self["finished"], "不满意")
        else:
            raise KeyError(key)
        return self[key]


def _rating(s: govsvc.Session, rating: govsvc.Rating) -> Resource:
    return Resource.of_rating(rating, today=dt.datetime.now(CHINA).date(), purpose=s.purpose)


def _division_or_platform(s: govsvc.Session) -> Any:
    p = s.principal
    return Resource.division_of(p.division) if p.kind is govsvc.PrincipalKind.SUPERVISOR else None


def _rating_queue(s: govsvc.Session) -> bool:
    p = s.principal
    if p.kind is not govsvc.PrincipalKind.SUPERVISOR and p.agency:
        return _can(s, Action.RATING_QUEUE, p.agency)
    return _can(s, Action.RATING_QUEUE, Resource.division_of(p.division))


PERIOD = "since=2026-01-01&until=2026-12-31"
RATING_ROUTES = (
    Route("rate form", "GET", lambda c: f"/cases/{c['finished'].tracking_code}/rate",
          lambda s, c: _can(s, Action.CASE_READ, c["finished"])
          and _can(s, Action.RATING_READ, c["finished"])),
    # A clerk may record ratings (of window visits): the SDK sends a case rating to
    # rate_occasion, so the policy's yes is a 422 naming it, not a 403.
    Route("rate", "POST", lambda c: f"/cases/{c['finished'].tracking_code}/rate",
          lambda s, c: _can(s, Action.CASE_READ, c["finished"])
          and _can(s, Action.RATING_RATE, c["finished"]),
          data=lambda c: {"level": "满意"}, fresh=True, ok=(303, 422)),
    Route("rate visit form", "GET",
          lambda c: f"/rate/visit?case={c['food'].tracking_code}&occasion="
                    f"{c['food'].tracking_code}-v{c['food'].version}",
          lambda s, c: _can(s, Action.CASE_READ, c["food"])),
    Route("rating page", "GET", lambda c: f"/ratings/{c['rated'].id}",
          lambda s, c: _can(s, Action.RATING_READ, _rating(s, c["rated"]))),
    Route("answer", "POST", lambda c: f"/ratings/{c['rated'].id}/do/answer",
          lambda s, c: _can(s, Action.RATING_READ, _rating(s, c["rated"]))
          and _can(s, Action.RATING_ANSWER, _rating(s, c["rated"])),
          data=lambda c: {"version": str(c["rated"].version), "answer": "已整改"}, fresh=True),
    Route("ratings queue", "GET", lambda c: "/ratings", lambda s, c: _rating_queue(s)),
    Route("my ratings", "GET", lambda c: "/ratings/mine",
          lambda s, c: _can(s, Action.RATING_READ, s.principal.party or Resource.platform())),
    Route("indicators", "GET", lambda c: f"/supervision/indicators?{PERIOD}",
          lambda s, c: _can(s, Action.INDICATORS_REPORT, _division_or_platform(s))),
    Route("indicators csv", "GET", lambda c: f"/supervision/indicators.csv?{PERIOD}",
          lambda s, c: _can(s, Action.INDICATORS_REPORT, _division_or_platform(s))),
    Route("indicators chart", "GET", lambda c: f"/supervision/indicators/shares.svg?{PERIOD}",
          lambda s, c: _can(s, Action.INDICATORS_REPORT, _division_or_platform(s))),
)
ROUTES = ROUTES + RATING_ROUTES


def _cases(host: Any) -> dict[str, Any]:
    return _Cases(host)


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_every_role_gets_the_policys_answer(host: Any, route: Route) -> None:
    shared = _cases(host)
    outcomes = {True: 0, False: 0}
    for username in USERS:
        cases = _cases(host) if route.fresh else shared
        session = host.session(username)
        expected = route.allowed(session, cases)
        principal = host.principal(username)
        before = host.denied(principal)
        client = host.client(username)
        path = route.path(cases)
        if route.method == "GET":
            response = client.get(path)
        elif route.api:
            response = client.post(path, json=route.data(cases) if route.data else {},
                                   headers={"X-CSRF-Token": CSRF})
        else:
            data = {"csrf_token": CSRF, **(route.data(cases) if route.data else {})}
            response = client.post(path, data=data)
        where = f"{route.name} as {username} ({principal.kind.value})"
        if expected:
            assert response.status_code in route.ok, f"{where}: {response.status_code} {response.text[:300]}"
            assert host.denied(principal) == before, where
        else:
            assert response.status_code == 403, f"{where}: {response.status_code} {response.text[:300]}"
            if route.api:
                assert response.headers["content-type"] == "application/problem+json", where
                assert response.json()["rule"], where
            else:
                assert "无权进行此操作" in response.text, where
            assert host.denied(principal) == before + 1, where
        outcomes[expected] += 1
    # Every route is walked both ways: someone may, someone may not.
    if route.both_ways:
        assert outcomes[True] and outcomes[False], outcomes
    else:
        assert sum(outcomes.values()) == len(USERS)
