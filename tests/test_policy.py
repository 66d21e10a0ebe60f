"""The default policy, cell by cell: every principal kind × every action × own and another's
resource, against the table in docs/access.md (the table is the specification)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import attrs
import pytest

import govsvc
from govsvc import Action, PrincipalKind, Resource, ResourceKind
from govsvc.policy import division_covers, significant_prefix

ROOT = Path(__file__).resolve().parents[1]
LOGIN = govsvc.Authentication(provider="test", assurance=govsvc.Assurance.L3)
SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"  # Harbin (230100)
ELSEWHERE = "11450100MB0000000M"  # an agency in Nanning (450100)
ZHANG = govsvc.PartyKey.of("230103198503120316")
LI = govsvc.PartyKey.of("230102199001011230")
RESTAURANT = govsvc.PartyKey.of("91230103MA1BX4K238")
TODAY = dt.date(2026, 3, 2)


def docs_table() -> dict[str, dict[str, str]]:
    """action → kind → cell, read from the rule table in docs/access.md."""
    text = (ROOT / "docs" / "access.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(text) if ln.startswith("| Action |"))
    kinds = re.findall(r"`([a-z_]+)`", text[start])
    rows = []
    for line in text[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    table: dict[str, dict[str, str]] = {}
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not re.fullmatch(r"`[a-z_]+\.[a-z_]+`", cells[0]):
            continue
        table[cells[0].strip("`")] = dict(zip(kinds, cells[1:], strict=True))
    return table


def principal_of(kind: PrincipalKind) -> govsvc.Principal:
    """One principal of each kind, all in Harbin and authenticated at L3."""
    P = govsvc.Principal
    if kind is PrincipalKind.APPLICANT:
        return P.applicant(ZHANG, "张伟", auth=LOGIN)
    if kind is PrincipalKind.AGENT:
        return P.agent(ZHANG, "张伟", organisation=RESTAURANT, auth=LOGIN)
    if kind is PrincipalKind.CLERK:
        return P.clerk("c1", "王芳", agency=SAMR, serves=[HEALTH], division="230100", auth=LOGIN)
    if kind is PrincipalKind.REVIEWER:
        return P.reviewer("r1", "李强", department=SAMR, auth=LOGIN)
    if kind is PrincipalKind.APPROVER:
        return P.approver("a1", "孙丽", department=SAMR, auth=LOGIN)
    if kind is PrincipalKind.SUPERVISOR:
        return P.supervisor("s1", "周监察", division="230100", auth=LOGIN)
    if kind is PrincipalKind.CATALOGUE_ADMIN:
        return P.catalogue_admin("k1", "钱管理", agency=SAMR, auth=LOGIN)
    if kind is PrincipalKind.SYSTEM_ADMIN:
        return P.system_admin("o1", "运维", auth=LOGIN)
    if kind is PrincipalKind.DEPARTMENT_SYSTEM:
        return P.department_system(SAMR, "市场监管业务系统", auth=LOGIN)
    if kind is PrincipalKind.CHANNEL:
        granted = [a for a in Action if a in govsvc.policy.CHANNEL_GRANTABLE]
        return P.channel("app-1", "冰城办 App", scopes=granted, auth=LOGIN)
    if kind is PrincipalKind.PLATFORM:
        return P.platform()
    if kind is PrincipalKind.PUBLIC:
        return P.public()
    return govsvc.Principal(kind=PrincipalKind.UNKNOWN, id="x", name="某人", auth=LOGIN)


RESOURCE_KIND = {
    "catalogue.read": ResourceKind.PLATFORM,
    "catalogue.publish": ResourceKind.ITEM,
    "cases.apply": ResourceKind.APPLICATION,
    "cases.list": ResourceKind.PARTY,
    "cases.track": ResourceKind.PLATFORM,
    "reviews.queue": ResourceKind.DEPARTMENT,
    "reviews.decide": ResourceKind.TASK,
    "reviews.record": ResourceKind.TASK,
    "supervision.overdue": ResourceKind.DIVISION,
    "supervision.statistics": ResourceKind.DIVISION,
    "indicators.report": ResourceKind.DIVISION,
    "departments.prereview": ResourceKind.CASE,
    "ratings.rate": ResourceKind.CASE,
    "ratings.queue": ResourceKind.DEPARTMENT,
    "ratings.statistics": ResourceKind.DEPARTMENT,
    "ratings.configure": ResourceKind.PLATFORM,
    "certificates.library": ResourceKind.PARTY,
    "certificates.verify": ResourceKind.PLATFORM,
    "certificates.work": ResourceKind.PLATFORM,
}


def resource_kind(action: Action) -> ResourceKind:
    service = action.value.split(".")[0]
    return RESOURCE_KIND.get(
        action.value,
        {
            "parties": ResourceKind.PARTY,
            "cases": ResourceKind.CASE,
            "ratings": ResourceKind.RATING,
            "certificates": ResourceKind.CERTIFICATE,
        }.get(service, ResourceKind.PLATFORM),
    )


def own_resource(principal: govsvc.Principal, action: Action) -> Resource:
    """A resource that is the principal's own in every sense a rule can ask about."""
    agency = principal.agency or (principal.serves[0] if principal.serves else SAMR)
    party = principal.acting_for or principal.party or ZHANG
    return Resource(
        kind=resource_kind(action),
        agency=agency,
        party=party,
        item_code=agency + "3000176010001",
        departments=frozenset({agency}),
        department=agency,
        division=principal.division or agency[2:8],
        purpose="测试",
        today=TODAY,
    )


def other_resource(action: Action) -> Resource:
    """A resource that belongs to nobody the principals above are."""
    return Resource(
        kind=resource_kind(action),
        agency=ELSEWHERE,
        party=LI,
        item_code=ELSEWHERE + "3000176010001",
        departments=frozenset({ELSEWHERE}),
        department=ELSEWHERE,
        division="450100",
        purpose="测试",
        today=TODAY,
    )


def expected(cell: str) -> tuple[bool, bool]:
    """(allowed on own, allowed on another's) for a table cell."""
    return {"any": (True, True), "own": (True, False), "scoped": (True, True), "—": (False, False)}[
        cell
    ]


def test_the_docs_table_covers_every_action_and_kind() -> None:
    table = docs_table()
    assert sorted(table) == sorted(a.value for a in Action)
    assert all(sorted(row) == sorted(k.value for k in PrincipalKind) for row in table.values())


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_every_cell_of_the_table(action: Action) -> None:
    policy = govsvc.DefaultPolicy()
    row = docs_table()[action.value]
    wrong = []
    for kind in PrincipalKind:
        principal = principal_of(kind)
        own_ok, other_ok = expected(row[kind.value])
        own = policy.allowed(principal, action, own_resource(principal, action))
        other = policy.allowed(principal, action, other_resource(action))
        if (own.allowed, other.allowed) != (own_ok, other_ok):
            wrong.append(
                f"{kind.value}: table says {row[kind.value]!r}, policy gives own={own} "
                f"other={other}"
            )
        for decision in (own, other):
            assert decision.rule, "every decision names its rule"
            if not decision.allowed:
                assert decision.reason, "every refusal says why"
    assert wrong == []


def test_the_table_is_the_code() -> None:
    # The docs table and RULES agree cell for cell (the behavioural walk above is the proof
    # that the policy follows them; this names a drifted cell directly).
    table = docs_table()
    names = {None: "—", "any": "any", "own": "own", "scoped": "scoped"}
    for action in Action:
        for kind in PrincipalKind:
            scope = govsvc.RULES.get(action, {}).get(kind)
            assert table[action.value][kind.value] == names[scope.value if scope else None], (
                action.value,
                kind.value,
            )


def test_unauthenticated_and_unknown_principals_are_refused() -> None:
    policy = govsvc.DefaultPolicy()
    anonymous_clerk = govsvc.Principal.clerk("c9", "无登录", agency=SAMR, auth=None)
    resource = own_resource(anonymous_clerk, Action.CASE_ACCEPT)
    decision = policy.allowed(anonymous_clerk, Action.CASE_ACCEPT, resource)
    assert not decision and decision.rule == "authenticated" and "log in" in decision.reason
    unknown = principal_of(PrincipalKind.UNKNOWN)
    for action in Action:
        assert not policy.allowed(unknown, action, own_resource(unknown, action))


def test_applying_needs_a_real_name_login() -> None:
    policy = govsvc.DefaultPolicy()
    weak = govsvc.Principal.applicant(
        ZHANG, "张伟", auth=govsvc.Authentication(provider="x", assurance=govsvc.Assurance.L1)
    )
    resource = own_resource(weak, Action.CASE_APPLY)
    decision = policy.allowed(weak, Action.CASE_APPLY, resource)
    assert not decision and decision.rule == "assurance" and "L2" in decision.reason
    assert policy.allowed(weak, Action.CASE_READ, own_resource(weak, Action.CASE_READ))
    lenient = govsvc.DefaultPolicy(min_assurance=govsvc.Assurance.L1)
    assert lenient.allowed(weak, Action.CASE_APPLY, resource)


def test_staff_reads_of_personal_data_need_a_purpose() -> None:
    policy = govsvc.DefaultPolicy()
    clerk = principal_of(PrincipalKind.CLERK)
    without = attrs.evolve(own_resource(clerk, Action.PARTY_IDENTIFY), purpose="  ")
    decision = policy.allowed(clerk, Action.PARTY_IDENTIFY, without)
    assert not decision and decision.rule == "purpose-of-use" and "用证事由" in decision.reason
    # one's own data needs no purpose
    zhang = principal_of(PrincipalKind.APPLICANT)
    mine = attrs.evolve(own_resource(zhang, Action.CASE_READ), purpose="")
    assert policy.allowed(zhang, Action.CASE_READ, mine)


def test_mandates_are_checked_at_apply() -> None:
    policy = govsvc.DefaultPolicy()
    li = govsvc.Principal.applicant(LI, "李娜", auth=LOGIN)
    item = SAMR + "3000176010001"
    mandate = govsvc.Mandate(
        id="WT-2026-001",
        agent=LI,
        grantor=ZHANG,
        items=(item,),
        valid_from=dt.date(2026, 3, 1),
        valid_until=dt.date(2026, 3, 31),
    )

    def application(m: govsvc.Mandate | None, on: dt.date = TODAY, code: str = item) -> Resource:
        return Resource.application(
            ZHANG, agency=SAMR, item_code=code, division="230100", mandate=m, today=on
        )

    assert not policy.allowed(li, Action.CASE_APPLY, application(None))
    assert policy.allowed(li, Action.CASE_APPLY, application(mandate)).rule == "mandate"
    late = policy.allowed(li, Action.CASE_APPLY, application(mandate, on=dt.date(2026, 4, 1)))
    assert not late and "expired on 2026-03-31" in late.reason
    other_item = policy.allowed(
        li, Action.CASE_APPLY, application(mandate, code=SAMR + "3000176019999")
    )
    assert not other_item and "does not cover item" in other_item.reason
    stranger = govsvc.Principal.applicant(
        govsvc.PartyKey.of("11010519491231002X"), "赵六", auth=LOGIN
    )
    assert not policy.allowed(stranger, Action.CASE_APPLY, application(mandate))


def test_divisions_nest_by_their_significant_prefix() -> None:
    assert significant_prefix("230000") == "23"
    assert significant_prefix("230100") == "2301"
    assert significant_prefix("230103") == "230103"
    assert significant_prefix("230103001000") == "230103001"
    assert division_covers("230000", "230103") and division_covers("230100", "230103")
    assert not division_covers("230100", "230200") and not division_covers("230100", None)


def test_a_province_can_wrap_the_default() -> None:
    class NoDecisionsBy:
        def __init__(self, inner: govsvc.Policy, banned: str) -> None:
            self.inner, self.banned = inner, banned

        def allowed(
            self, principal: govsvc.Principal, action: Action, resource: Resource
        ) -> govsvc.Decision:
            if action is Action.REVIEW_DECIDE and principal.id == self.banned:
                return govsvc.Decision.deny("province.suspended-staff", "staff member suspended")
            return self.inner.allowed(principal, action, resource)

    policy = NoDecisionsBy(govsvc.DefaultPolicy(), banned="r1")
    assert isinstance(policy, govsvc.Policy)
    reviewer = principal_of(PrincipalKind.REVIEWER)
    decision = policy.allowed(
        reviewer, Action.REVIEW_DECIDE, own_resource(reviewer, Action.REVIEW_DECIDE)
    )
    assert not decision and decision.rule == "province.suspended-staff"


def test_principals_refuse_impossible_shapes() -> None:
    with pytest.raises(govsvc.InvalidInput, match="organisation acts through an agent"):
        govsvc.Principal.applicant(RESTAURANT, "冰城饺子馆", auth=LOGIN)
    with pytest.raises(govsvc.InvalidInput, match="division"):
        govsvc.Principal(kind=PrincipalKind.SUPERVISOR, id="s", name="无辖区", auth=LOGIN)
    with pytest.raises(govsvc.InvalidInput, match="only channel applications"):
        govsvc.Principal(
            kind=PrincipalKind.CLERK, id="c", name="x", agency=SAMR, scopes=["cases.track"]
        )
    with pytest.raises(govsvc.InvalidIdentifier):
        govsvc.Principal.reviewer("r", "x", department="not-a-credit-code", auth=LOGIN)
