"""Sessions bound to principals: refusals that change nothing and are recorded, reads of
personal data with their purpose, agents and mandates, filtered lists, concurrency by
tracking code, frozen values, stored documents across releases — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

import govsvc
from govsvc import Action, CaseState, EventKind, PrincipalKind, ProvidedMaterial
from govsvc.events import PAYLOADS
from govsvc.store import cases as case_store
from govsvc.store import documents, tables
from govsvc.testing import (
    TEST_LOGIN,
    applicant_of,
    clerk_for,
    make_item,
    make_organisation,
    reviewer_of,
)
from tests.conftest import SAMPLE_AGENCIES, People, sample_catalogue

FOOD = "食品经营许可（新办）"
SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"
LI = govsvc.Person(key=govsvc.PartyKey.of("230102199001011230"), name="李娜")
RESTAURANT = govsvc.Organisation(
    key=govsvc.PartyKey.of("91230103MA1BX4K238"),
    name="哈尔滨市冰城饺子馆有限公司",
    legal_representative="张伟",
)


def code_of(name: str) -> str:
    return next(i.implementation_code for i, _ in sample_catalogue() if i.name == name)


def materials(p: govsvc.Platform, name: str = FOOD) -> list[ProvidedMaterial]:
    version = p.public().catalogue.version(code_of(name))
    return [
        ProvidedMaterial(code=m.code, filename=f"{m.code}.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]


def stored(p: govsvc.Platform) -> dict[str, Any]:
    """Every row of the case tables (a refused command must leave them exactly as they were)."""
    with p.engine.connect() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in (tables.cases_t, tables.events_t, tables.outbox_t, tables.tasks_t)
        }


def denials(p: govsvc.Platform) -> list[govsvc.AccessRecord]:
    return p.system().supervision.access_log(outcome="denied")


# --- refusals ------------------------------------------------------------------------------


def test_every_refusal_names_the_rule_changes_nothing_and_is_recorded(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    before = stored(platform)
    unauthenticated = govsvc.Principal.clerk("c-x", "未登录", agency=SAMR, auth=None)
    unknown = govsvc.Principal(kind=PrincipalKind.UNKNOWN, id="u-1", name="某人", auth=TEST_LOGIN)
    other_hall = govsvc.Principal.clerk(
        "c-y", "别处窗口", agency="11450100MB0000000M", auth=TEST_LOGIN
    )
    attempts = [
        (platform.session(unauthenticated).cases.accept, "authenticated"),
        (platform.session(unknown).cases.accept, "default-deny"),
        (platform.session(other_hall).cases.accept, "clerk.hall-agencies"),
        (people.applicant(LI).cases.withdraw, "applicant.own"),
        (people.reviewer(SAMR).cases.accept, "default-deny"),
    ]
    for command, rule in attempts:
        with pytest.raises(govsvc.PermissionDenied) as err:
            command(case.tracking_code)
        assert err.value.rule == rule
        assert err.value.action in {"cases.accept", "cases.withdraw"}
        assert "nothing was changed" in str(err.value)
    # a staff read of someone's data without a purpose
    with pytest.raises(govsvc.PermissionDenied, match="用证事由") as err:
        platform.session(clerk_for(SAMR)).cases.get(case.tracking_code)
    assert err.value.rule == "purpose-of-use"
    assert stored(platform) == before
    recorded = denials(platform)
    assert [(r.actor.id, r.rule) for r in reversed(recorded)] == [
        ("c-x", "authenticated"),
        ("u-1", "default-deny"),
        ("c-y", "clerk.hall-agencies"),
        (applicant_of(LI).id, "applicant.own"),
        (reviewer_of(SAMR).id, "default-deny"),
        (clerk_for(SAMR).id, "purpose-of-use"),
    ]
    assert all(r.case_id == case.id and r.subject == str(zhang.key) for r in recorded)
    assert platform.system().supervision.verify_access_log().ok


def test_a_case_of_another_applicant_is_not_even_readable(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    li = people.applicant(LI).cases
    for look in (li.get, li.trail, li.lights):
        with pytest.raises(govsvc.PermissionDenied, match="belongs to 111:2301"):
            look(case.tracking_code)
    assert [c.id for c in li.mine()] == []
    with pytest.raises(govsvc.PermissionDenied):
        li.of_applicant(zhang.key)


def test_the_public_sees_the_catalogue_and_tracks_with_the_id_suffix(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    public = platform.public()
    assert len(public.catalogue.items()) == len(sample_catalogue())
    found = public.cases.track(case.tracking_code, id_suffix="0316")
    assert (found.state, found.applicant_name) == (CaseState.SUBMITTED, "张*")
    for wrong in ("0317", "316", ""):
        with pytest.raises(govsvc.CaseNotFound, match="no case matches"):
            public.cases.track(case.tracking_code, id_suffix=wrong)
    with pytest.raises(govsvc.CaseNotFound, match="no case matches"):  # the same words
        public.cases.track("0000-0000-00X", id_suffix="0316")
    with pytest.raises(govsvc.PermissionDenied):
        public.cases.get(case.tracking_code)


def test_lists_and_the_look_up_read_summaries_from_columns_as_the_case_shows_them(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    """Lists and the public look-up build summaries from the case's columns (no document
    parsed); they must say exactly what the case itself says."""
    walk_in = people.clerk.cases.apply(
        code_of(FOOD), RESTAURANT, materials=materials(platform), agent=zhang
    )
    plain = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    accepted = people.clerk.cases.accept(plain)
    task = accepted.tasks[0]
    people.reviewer(task.department).cases.suspend(
        accepted, govsvc.SuspensionReason.ON_SITE_INSPECTION, notice="现场核查"
    )
    for case in (walk_in, plain):
        stored_case = people.system.cases.get(case.tracking_code)
        for mask in (False, True):
            assert govsvc.CaseSummary.of(stored_case, mask_names=mask).suspended is (
                case is plain
            )
        listed = {s.id: s for s in people.clerk.cases.of_applicant(stored_case.applicant)}
        assert listed[case.id] == govsvc.CaseSummary.of(stored_case, mask_names=True)
        suffix = stored_case.applicant.number[-4:]
        tracked = platform.public().cases.track(case.tracking_code, id_suffix=suffix)
        assert tracked == govsvc.CaseSummary.of(stored_case, mask_names=True)
    mine = {s.id: s for s in people.applicant(zhang).cases.mine()}
    assert mine[walk_in.id].agent_name == zhang.name  # handled as agent: in their own list
    assert mine[plain.id] == govsvc.CaseSummary.of(people.system.cases.get(plain.id))


# --- reads of personal data are recorded ----------------------------------------------------


def test_staff_reads_are_recorded_and_the_applicant_sees_them(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    clerk = people.clerk  # purpose 窗口受理 for the session
    clerk.cases.get(case.tracking_code)
    clerk.parties.register(zhang)
    assert clerk.parties.get(zhang.key, purpose="核对申请人信息") == zhang
    people.applicant(zhang).cases.get(case.tracking_code)  # one's own read: not recorded
    uses = people.applicant(zhang).parties.data_use(zhang.key)
    assert [(u.source, u.action, u.purpose) for u in uses] == [
        ("access", "parties.read", "核对申请人信息"),
        ("access", "cases.read", "窗口受理"),
    ]
    assert uses[0].who.startswith("窗口工作人员")
    with pytest.raises(govsvc.PermissionDenied):
        people.applicant(LI).parties.data_use(zhang.key)
    assert people.supervisor().parties.data_use(zhang.key) == uses


def test_data_use_includes_exchanges_with_departments(make_platform: Any) -> None:
    from tests.departments import ZHANG, plugin_for, standard_departments

    p = make_platform(plugin_for(standard_departments()))
    key = govsvc.PartyKey.of(ZHANG)
    p.session(clerk_for(SAMR)).parties.identify(key, purpose="办理食品经营许可")
    uses = p.session(applicant_of(govsvc.Person(key=key, name="张伟"))).parties.data_use(key)
    exchanges = [u for u in uses if u.source == "exchange"]
    assert {u.action for u in exchanges} == {"profile"}
    assert len(exchanges) == len(p.departments)  # every department holds a profile
    assert {u.purpose for u in uses} == {"办理食品经营许可"}
    [read] = [u for u in uses if u.source == "access"]
    assert read.action == "parties.identify" and read.agency == SAMR


# --- agents and mandates ----------------------------------------------------------------------


def test_an_organisation_applies_through_its_agent(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    owner = people.applicant(RESTAURANT)  # 张伟, legal representative, as agent
    case = owner.cases.apply(code_of(FOOD), RESTAURANT, materials=materials(platform))
    assert case.applicant == RESTAURANT.key
    assert case.agent is not None and case.agent.name == "张伟"
    assert case.agent.key == applicant_of(RESTAURANT).party
    assert [c.id for c in owner.cases.mine()] == [case.id]
    # the agent cannot apply for another organisation
    other = make_organisation(7)
    with pytest.raises(govsvc.PermissionDenied, match="acts only for"):
        owner.cases.apply(code_of(FOOD), other, materials=materials(platform))


def test_a_person_applies_for_another_with_a_mandate(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People, clock: Any
) -> None:
    item = code_of(FOOD)
    mandate = govsvc.Mandate(
        id="WT-001",
        agent=LI.key,
        grantor=zhang.key,
        items=(item,),
        valid_from=dt.date(2026, 3, 1),
        valid_until=dt.date(2026, 3, 10),
    )
    li = people.applicant(LI)
    before = stored(platform)
    with pytest.raises(govsvc.PermissionDenied, match="a mandate"):
        li.cases.apply(item, zhang, materials=materials(platform))
    assert stored(platform) == before
    case = li.cases.apply(item, zhang, materials=materials(platform), mandate=mandate)
    assert case.applicant == zhang.key
    assert case.agent == govsvc.CaseAgent(
        key=LI.key, name="李娜", mandate="WT-001", mandate_until=dt.date(2026, 3, 10)
    )
    assert case.id in {c.id for c in li.cases.mine()}  # what the agent handled
    assert case.id in {c.id for c in people.applicant(zhang).cases.mine()}
    assert li.cases.get(case.id).id == case.id  # the agent handles it: no purpose needed
    assert people.system.cases.trail(case)[0].payload.agent == str(LI.key)
    clock.set_local_date(dt.date(2026, 3, 11))
    with pytest.raises(govsvc.PermissionDenied, match="expired on 2026-03-10"):
        li.cases.withdraw(case)
    with pytest.raises(govsvc.PermissionDenied, match="expired on 2026-03-10"):
        li.cases.apply(item, zhang, materials=materials(platform), mandate=mandate)
    assert people.applicant(zhang).cases.withdraw(case).state is CaseState.WITHDRAWN


def test_a_window_clerk_applies_for_a_walk_in_and_records_the_agent(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.apply(
        code_of(FOOD), RESTAURANT, materials=materials(platform), agent=zhang
    )
    assert case.channel == govsvc.Channel.WINDOW.value
    assert case.agent is not None and case.agent.key == zhang.key
    first = people.system.cases.trail(case)[0]
    assert first.actor.kind is PrincipalKind.CLERK
    far = govsvc.Principal.clerk("c-z", "远方", agency="11450100MB0000000M", auth=TEST_LOGIN)
    with pytest.raises(govsvc.PermissionDenied, match="does not accept applications"):
        platform.session(far).cases.apply(code_of(FOOD), zhang, materials=materials(platform))


def test_an_item_refuses_applicants_it_does_not_serve(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    item, version = make_item(SAMR, targets=[govsvc.ServiceTarget.ENTERPRISE], materials=1)
    people.system.catalogue.publish(item, version)
    before = stored(platform)
    with pytest.raises(govsvc.InvalidInput, match=r"企业法人 \(2\) only.*自然人"):
        people.applicant(zhang).cases.apply(item.implementation_code, zhang)
    assert stored(platform) == before
    case = people.applicant(RESTAURANT).cases.apply(item.implementation_code, RESTAURANT)
    assert case.state is CaseState.SUBMITTED


# --- lists are filtered by the principal --------------------------------------------------------


def test_lists_are_filtered_to_what_the_principal_may_see(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    food = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    card_code = code_of("社会保障卡申领")
    card = people.applicant(zhang).cases.apply(
        card_code, zhang, materials=materials(platform, "社会保障卡申领")
    )
    samr_only = platform.session(clerk_for(SAMR), purpose="窗口受理")
    assert [c.id for c in samr_only.cases.of_applicant(zhang.key)] == [food.id]
    assert {c.id for c in people.clerk.cases.of_applicant(zhang.key)} == {food.id, card.id}
    assert {c.id for c in people.supervisor("230100").cases.of_applicant(zhang.key)} == {
        food.id,
        card.id,
    }
    assert list(people.supervisor("450100").cases.of_applicant(zhang.key)) == []
    with pytest.raises(govsvc.PermissionDenied):
        people.reviewer(SAMR).cases.of_applicant(zhang.key)
    # a supervisor reads a queue in the division; never one outside it
    assert people.supervisor().reviews.queue(SAMR) == []
    with pytest.raises(govsvc.PermissionDenied):
        people.supervisor("450100").reviews.queue(SAMR)
    with pytest.raises(govsvc.PermissionDenied, match="own department"):
        people.reviewer(HEALTH).reviews.queue(SAMR)


def test_lists_come_in_keyset_pages(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People, clock: Any
) -> None:
    made = []
    for _ in range(5):
        clock.advance(hours=1)
        made.append(
            people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
        )
    mine = people.applicant(zhang).cases
    first = mine.mine(limit=2)
    assert [c.id for c in first] == [made[4].id, made[3].id] and first.next
    second = mine.mine(limit=2, after=first.next)
    third = mine.mine(limit=2, after=second.next)
    assert [c.id for c in second] + [c.id for c in third] == [m.id for m in made[2::-1]]
    assert third.next is None
    with pytest.raises(govsvc.InvalidInput, match="start from the first page"):
        mine.mine(after="not-a-cursor")
    for case in made:
        clock.advance(hours=1)
        people.clerk.cases.accept(case)
    reviewer = people.reviewer(SAMR).reviews
    page = reviewer.queue(limit=3)
    rest = reviewer.queue(limit=3, after=page.next)
    assert len(page) == 3 and len(rest) == 2 and rest.next is None
    assert [v.case.id for v in [*page, *rest]] == [m.id for m in made]


def test_commands_are_what_the_state_allows_and_the_policy_grants(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    assert people.clerk.cases.commands(case) == {"prereview", "accept", "refuse", "withdraw"}
    assert people.applicant(zhang).cases.commands(case) == {"withdraw"}
    assert people.reviewer(SAMR).cases.commands(case) == set()
    case = people.clerk.cases.accept(case)
    assert people.reviewer(SAMR).cases.commands(case) == {
        "decide",
        "suspend",
        "request_extension",
        "verify_commitment",
    }
    assert "extend" in people.approver(SAMR).cases.commands(case)
    assert people.supervisor().cases.commands(case) == set()  # reads everything, changes nothing
    # can() is the policy alone: the clerk may accept this agency's cases, whatever the state
    assert people.clerk.can(Action.CASE_ACCEPT, case)
    assert "accept" not in people.clerk.cases.commands(case)  # but the state says no
    samr_task = next(t for t in case.tasks if t.department == SAMR)
    assert people.reviewer(SAMR).can(Action.REVIEW_DECIDE, (case, samr_task.id))
    assert not people.reviewer(HEALTH).can(Action.REVIEW_DECIDE, (case, samr_task.id))


# --- concurrency by tracking code ---------------------------------------------------------------


def test_two_clerks_accepting_by_tracking_code_one_gets_concurrent_update(
    platform: govsvc.Platform,
    zhang: govsvc.Person,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    # A true race: both clerks have read the case before either writes. (SQLite reads it
    # before taking the writer lock, PostgreSQL inside its transaction without a row lock.)
    barrier = threading.Barrier(2, timeout=10)
    original = case_store.load_case

    def load_then_wait(conn: sa.Connection, **kw: Any) -> govsvc.Case | None:
        found = original(conn, **kw)
        if threading.current_thread().name in ("A", "B"):
            barrier.wait()
        return found

    monkeypatch.setattr(case_store, "load_case", load_then_wait)
    outcomes: list[str] = []

    def clerk(name: str) -> None:
        try:
            platform.session(clerk_for(SAMR, name=name)).cases.accept(case.tracking_code)
            outcomes.append("ok")
        except govsvc.ConcurrentUpdate:
            outcomes.append("conflict")
        except Exception as exc:  # reported below with its type
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=clerk, args=(n,), name=n) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    kinds = [e.kind for e in people.system.cases.trail(case)]
    assert kinds.count(EventKind.ACCEPTED) == 1


def test_a_retried_apply_with_its_idempotency_key_returns_the_same_case(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    portal = people.applicant(zhang)
    request = dict(materials=materials(platform), form={"经营场所": "道里区中央大街1号"})
    first = portal.cases.apply(code_of(FOOD), zhang, idempotency_key="req-7f3a", **request)
    # The answer was lost (the process died after the commit): the channel sends it again.
    again = portal.cases.apply(code_of(FOOD), zhang, idempotency_key="req-7f3a", **request)
    assert again.id == first.id and again.tracking_code == first.tracking_code
    assert len(portal.cases.mine().items) == 1
    # A changed request under a used key is refused, naming the case; nothing is written.
    before = stored(platform)
    changed = dict(request, form={"经营场所": "南岗区红军街2号"})
    with pytest.raises(govsvc.IdempotencyConflict, match="req-7f3a") as info:
        portal.cases.apply(code_of(FOOD), zhang, idempotency_key="req-7f3a", **changed)
    assert info.value.case_id == first.id
    assert govsvc.TrackingCode.display(first.tracking_code) in str(info.value)
    assert stored(platform) == before
    # Keys are per principal: a clerk's request id never meets the portal's.
    clerk = platform.session(clerk_for(SAMR))
    walk_in = clerk.cases.apply(code_of(FOOD), zhang, idempotency_key="req-7f3a", **request)
    assert walk_in.id != first.id
    # A draft keyed the same way; a new key is a new application.
    draft = portal.cases.new_application(code_of(FOOD), zhang, idempotency_key="d-1")
    assert portal.cases.new_application(code_of(FOOD), zhang, idempotency_key="d-1").id == draft.id
    other = portal.cases.apply(code_of(FOOD), zhang, idempotency_key="req-7f3b", **request)
    assert other.id != first.id


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, 42, "a\x00b"])
def test_a_malformed_idempotency_key_is_refused(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People, key: Any
) -> None:
    before = stored(platform)
    with pytest.raises(govsvc.InvalidInput, match="idempotency_key"):
        people.applicant(zhang).cases.apply(
            code_of(FOOD), zhang, materials=materials(platform), idempotency_key=key
        )
    assert stored(platform) == before


def test_two_racing_applies_with_one_key_create_one_case(
    platform: govsvc.Platform,
    zhang: govsvc.Person,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from govsvc.store import idempotency

    if platform.engine.dialect.name == "postgresql":
        # A true race: both requests look the key up before either stores it. (SQLite's
        # writer lock serialises them, so there the second simply finds the first.)
        barrier = threading.Barrier(2, timeout=10)
        original = idempotency.find
        waited: set[str] = set()

        def find_then_wait(conn: sa.Connection, owner: str, key: str) -> Any:
            found = original(conn, owner, key)
            name = threading.current_thread().name
            if name in ("A", "B") and name not in waited:  # the loser's second look: no wait
                waited.add(name)
                barrier.wait()
            return found

        monkeypatch.setattr(idempotency, "find", find_then_wait)
    portal = people.applicant(zhang)
    got: list[str] = []

    def apply() -> None:
        try:
            case = portal.cases.apply(
                code_of(FOOD), zhang, materials=materials(platform), idempotency_key="race-1"
            )
            got.append(case.id)
        except Exception as exc:  # reported below with its type
            got.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=apply, name=n) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] == got[1], got
    assert [c.id for c in portal.cases.mine().items] == [got[0]]


# --- frozen values, stored documents ------------------------------------------------------------


def test_a_returned_case_cannot_be_edited_in_place(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(
        code_of(FOOD),
        zhang,
        materials=materials(platform),
        form={"经营场所": "哈尔滨市南岗区学府路52号", "经营项目": ["热食类", "冷食类"]},
    )
    with pytest.raises(TypeError):
        case.form["经营场所"] = "别处"  # type: ignore[index]
    assert case.form["经营项目"] == ("热食类", "冷食类")
    assert case.form == {"经营场所": "哈尔滨市南岗区学府路52号", "经营项目": ("热食类", "冷食类")}
    entry = people.system.outbox.pending()[0] if people.system.outbox.pending() else None
    if entry is not None:
        with pytest.raises(TypeError):
            entry.payload["x"] = 1  # type: ignore[index]
    again = people.system.cases.get(case.id)
    assert again.form["经营场所"] == "哈尔滨市南岗区学府路52号"


def test_stored_documents_tolerate_newer_fields_and_upcast_older_ones(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    with platform.engine.begin() as conn:
        data = conn.execute(
            sa.select(tables.cases_t.c.data).where(tables.cases_t.c.id == case.id)
        ).scalar_one()
        assert data["_schema"] == documents.SCHEMAS["case"]
        # a newer release added a field (and a field inside a material)
        newer = {**data, "priority": "urgent"}
        newer["materials"] = [{**m, "watermark": "仅供办理使用"} for m in data["materials"]]
        conn.execute(
            sa.update(tables.cases_t).where(tables.cases_t.c.id == case.id).values(data=newer)
        )
    assert people.system.cases.get(case.id) == case  # this release reads it
    # a wave-1 document: no schema version at all
    old = {k: v for k, v in newer.items() if k not in ("_schema", "agent", "extension_request")}
    assert documents.load("case", old, govsvc.Case) == case
    # a wave-1 event payload of a false commitment ("code", not "commitment")
    denied = documents.load(
        "event", {"code": "M05", "truthful": False, "note": "不实", "outcome": "denied"},
        PAYLOADS[EventKind.DENIED],
    )
    assert (denied.commitment, denied.note) == ("M05", "不实")
    # an event of a kind only a newer release knows reads as UNKNOWN, not an error
    with platform.engine.begin() as conn:
        conn.execute(
            sa.insert(tables.events_t).values(
                case_id=case.id,
                seq=case.version + 1,
                kind="certificate_linked",
                at=platform.now(),
                actor_kind="archivist",
                actor_id="x",
                actor_name="归档",
                actor_agency=None,
                data={"certificate": "1.2.156…", "_schema": 9},
                prev_hash=case.trail_head,
                hash="f" * 64,
            )
        )
    last = people.system.cases.trail(case)[-1]
    assert last.kind is EventKind.UNKNOWN and last.payload.kind == "certificate_linked"
    assert last.payload.data == {"certificate": "1.2.156…"}
    assert last.actor.kind is PrincipalKind.UNKNOWN


def test_projections_rebuild_from_the_aggregates(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    for _ in range(2):
        case = people.applicant(zhang).cases.apply(
            code_of(FOOD), zhang, materials=materials(platform)
        )
        case = people.clerk.cases.accept(case)
        people.approve_all(case)
    with platform.engine.begin() as conn:
        assert case_store.rebuild_projections(conn) == []  # nothing differed
        conn.execute(sa.delete(tables.materials_t).where(tables.materials_t.c.case_id == case.id))
        conn.execute(
            sa.update(tables.tasks_t)
            .where(tables.tasks_t.c.case_id == case.id)
            .values(status="open")
        )
        conn.execute(
            sa.update(tables.cases_t).where(tables.cases_t.c.id == case.id).values(state="draft")
        )
        assert case_store.rebuild_projections(conn) == [case.id]
        assert case_store.rebuild_projections(conn) == []
    assert people.system.cases.get(case.id).state is CaseState.APPROVED


def test_events_carry_typed_payloads_and_structured_actors(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    case = people.clerk.cases.accept(case)
    trail = people.system.cases.trail(case)
    accepted = trail[-1]
    assert accepted.kind is EventKind.ACCEPTED
    assert isinstance(accepted.payload, PAYLOADS[EventKind.ACCEPTED])
    assert {t.department for t in accepted.payload.tasks} == {SAMR, HEALTH}
    assert accepted.actor == govsvc.Actor(
        kind=PrincipalKind.CLERK,
        id=clerk_for(*SAMPLE_AGENCIES).id,
        name="窗口工作人员",
        agency=SAMPLE_AGENCIES[0],
    )
    assert attrs.has(type(accepted.payload))
