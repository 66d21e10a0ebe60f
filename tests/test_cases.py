"""The pure case state machine: transitions, events, one-time notice, tracking codes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

import govsvc
from govsvc import Actor, CaseState, EventKind, MaterialKind, PrincipalKind, ProvidedMaterial
from govsvc.cases import Case, TrackingCode, check_materials
from tests.conftest import sample_catalogue

ACTOR = Actor(kind=PrincipalKind.PLATFORM, id="t", name="测试")
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
ZHANG = govsvc.PartyKey.of("230103198503120316")


def version_named(name: str) -> govsvc.ItemVersion:
    for item, versions in sample_catalogue():
        if item.name == name:
            return versions[-1]
    raise AssertionError(name)


FOOD = version_named("食品经营许可（新办）")


def full(version: govsvc.ItemVersion) -> list[ProvidedMaterial]:
    return [
        ProvidedMaterial(code=m.code, filename=f"f.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]


def submitted(
    version: govsvc.ItemVersion = FOOD, materials: list[ProvidedMaterial] | None = None
) -> Case:
    step = Case.start(
        version=version,
        applicant=ZHANG,
        applicant_name="张伟",
        channel="2",
        materials=full(version) if materials is None else materials,
        now=NOW,
        actor=ACTOR,
    )
    return step.case.submit(now=NOW, actor=ACTOR).case


def in_review() -> Case:
    return submitted().accept(FOOD, now=NOW, actor=ACTOR).case


def test_every_step_returns_case_and_event_with_next_seq() -> None:
    step = Case.start(
        version=FOOD,
        applicant=ZHANG,
        applicant_name="张伟",
        channel="2",
        materials=full(FOOD),
        now=NOW,
        actor=ACTOR,
    )
    assert (step.case.version, step.event.seq, step.event.kind) == (1, 1, EventKind.DRAFTED)
    nxt = step.case.submit(now=NOW, actor=ACTOR)
    assert (nxt.case.version, nxt.event.seq, nxt.event.kind) == (2, 2, EventKind.SUBMITTED)
    assert step.case.state is CaseState.DRAFT  # the old value is untouched


@pytest.mark.parametrize(
    ("case_factory", "command", "allowed"),
    [
        (submitted, "decide", ("accept", "prereview", "refuse", "withdraw")),
        (
            in_review,
            "accept",
            (
                "decide",
                "extend",
                "request_extension",
                "supply",
                "suspend",
                "verify_commitment",
                "withdraw",
            ),
        ),
    ],
)
def test_illegal_move_names_the_allowed_ones(case_factory, command, allowed) -> None:  # type: ignore[no-untyped-def]
    case = case_factory()
    with pytest.raises(govsvc.InvalidTransition) as err:
        if command == "decide":
            case.decide(FOOD, "x", approve=True, now=NOW, actor=ACTOR)
        else:
            case.accept(FOOD, now=NOW, actor=ACTOR)
    assert err.value.allowed == allowed


def test_closed_cases_accept_nothing() -> None:
    case = submitted().withdraw(reason="不办了", now=NOW, actor=ACTOR).case
    assert case.state is CaseState.WITHDRAWN and not case.is_open
    with pytest.raises(govsvc.InvalidTransition, match="closed"):
        case.withdraw(reason="again", now=NOW, actor=ACTOR)


def test_check_materials_reports_missing_and_defective_at_once() -> None:
    given_ = [m for m in full(FOOD) if m.code not in {"M02", "M06"}]
    given_[0] = ProvidedMaterial(code=given_[0].code, filename="scan.bmp")
    items = check_materials(FOOD, given_, {"M03": "模糊"})
    found = {(i.code, i.problem) for i in items}
    assert found == {
        ("M01", "defective"),
        ("M02", "missing"),
        ("M03", "defective"),
        ("M06", "missing"),
    }
    tolerable = {i.code for i in items if i.tolerable}
    assert tolerable == {"M06"}
    with pytest.raises(govsvc.MaterialNotAllowed):
        check_materials(FOOD, given_, {"M99": "?"})


def test_optional_materials_are_never_demanded() -> None:
    assert all(i.code != "M07" for i in check_materials(FOOD, full(FOOD)))
    assert check_materials(FOOD, full(FOOD)) == ()


def test_ecert_only_where_the_guide_names_a_certificate_type() -> None:
    ok = ProvidedMaterial(code="M02", kind=MaterialKind.ECERT, reference="1.2.156.3005.2.x")
    submitted(materials=[ok, *[m for m in full(FOOD) if m.code != "M02"]])
    with pytest.raises(govsvc.MaterialNotAllowed, match="e-certificate"):
        submitted(materials=[ProvidedMaterial(code="M01", kind=MaterialKind.ECERT)])
    with pytest.raises(govsvc.MaterialNotAllowed, match="twice"):
        submitted(materials=[ProvidedMaterial(code="M01"), ProvidedMaterial(code="M01")])


def test_a_decided_task_cannot_be_decided_again() -> None:
    case = in_review()
    task = case.open_tasks[0]
    case = case.decide(FOOD, task.id, approve=True, now=NOW, actor=ACTOR).case
    with pytest.raises(govsvc.InvalidTransition, match="already approved"):
        case.decide(FOOD, task.id, approve=True, now=NOW, actor=ACTOR)
    with pytest.raises(govsvc.InvalidInput, match="no review task"):
        case.decide(FOOD, "nope", approve=True, now=NOW, actor=ACTOR)


def test_suspension_ledger() -> None:
    case = in_review()
    today = dt.date(2026, 3, 2)
    case = case.suspend(
        govsvc.SuspensionReason.ON_SITE_INSPECTION,
        notice="现场勘验",
        today=today,
        now=NOW,
        actor=ACTOR,
    ).case
    assert case.is_suspended and not case.suspensions[0].reason.statutory
    with pytest.raises(govsvc.InvalidTransition):
        case.suspend(govsvc.SuspensionReason.HEARING, notice="x", today=today, now=NOW, actor=ACTOR)
    case = case.resume(today=dt.date(2026, 3, 4), now=NOW, actor=ACTOR).case
    assert case.suspensions[0].end == dt.date(2026, 3, 4)
    with pytest.raises(govsvc.InvalidTransition, match="not suspended"):
        case.resume(today=today, now=NOW, actor=ACTOR)


@pytest.mark.parametrize("days", [0, -1, 61, True])
def test_extension_bounds(days: int) -> None:
    with pytest.raises(govsvc.InvalidInput, match="1 to 60"):
        in_review().extend(days, reason="复杂", now=NOW, actor=ACTOR)


def test_refusal_needs_reason_and_basis() -> None:
    with pytest.raises(govsvc.InvalidInput, match="basis"):
        submitted().refuse(reason="不属于本机关职权范围", basis="", now=NOW, actor=ACTOR)
    step = submitted().refuse(
        reason="不属于本机关职权范围", basis="《行政许可法》第三十二条", now=NOW, actor=ACTOR
    )
    assert step.case.state is CaseState.NOT_ACCEPTED
    assert step.outbox[0].topic == "applicant.notify"


# --- tracking codes (全程一码) ------------------------------------------------------------------


def test_new_tracking_codes_validate_and_display() -> None:
    for _ in range(200):
        code = TrackingCode.new()
        assert TrackingCode.normalise(code) == code
        shown = TrackingCode.display(code)
        assert len(shown) == 13 and TrackingCode.normalise(shown.lower()) == code


@given(st.data())
def test_every_single_character_change_is_rejected(data: st.DataObject) -> None:
    code = data.draw(st.text(alphabet=TrackingCode.ALPHABET, min_size=10, max_size=10))
    code += TrackingCode._check(code)
    pos = data.draw(st.integers(min_value=0, max_value=10))
    other = data.draw(st.sampled_from([c for c in TrackingCode.ALPHABET if c != code[pos]]))
    changed = code[:pos] + other + code[pos + 1 :]
    with pytest.raises(govsvc.InvalidIdentifier):
        TrackingCode.normalise(changed)


@pytest.mark.parametrize(("text", "rule"), [("ABC", "11 characters"), ("IIIIIIIIIII", "never use")])
def test_malformed_tracking_codes_say_why(text: str, rule: str) -> None:
    with pytest.raises(govsvc.InvalidIdentifier, match=rule):
        TrackingCode.normalise(text)
