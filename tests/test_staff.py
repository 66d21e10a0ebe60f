"""The staff directory: which login is which staff principal, changes recorded, expiry and
deactivation honoured, bad records refused naming the field — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

import govsvc
from govsvc import PrincipalKind, StaffRecord
from govsvc.testing import TEST_LOGIN, clerk_for

SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"
ADMIN = govsvc.Principal.system_admin("ops-01", "运维 刘强", auth=TEST_LOGIN)
LOGIN = govsvc.Authentication(provider="hlj-sso", subject="u-7781", assurance=govsvc.Assurance.L3)


def clerk_record(**changes: object) -> StaffRecord:
    fields: dict[str, object] = dict(
        provider="hlj-sso",
        subject="u-7781",
        kind="clerk",
        staff_id="HRB-0301",
        name="王芳",
        agency=SAMR,
        serves=[HEALTH],
        hall="南岗区政务服务中心",
        division="230103",
    )
    fields.update(changes)
    return StaffRecord(**fields)  # type: ignore[arg-type]


def test_a_listed_login_becomes_its_staff_principal(platform: govsvc.Platform) -> None:
    staff = platform.session(ADMIN).staff
    staff.add(clerk_record())
    staff.add(
        StaffRecord(
            provider="hlj-sso",
            subject="u-9001",
            kind=PrincipalKind.REVIEWER,
            staff_id="WJW-0007",
            name="赵敏",
            agency=HEALTH,
        )
    )
    system = platform.system().staff
    clerk = system.principal_for("hlj-sso", "u-7781", auth=LOGIN)
    assert clerk is not None and clerk.kind is PrincipalKind.CLERK
    assert (clerk.id, clerk.agency, clerk.serves, clerk.hall) == (
        "HRB-0301",
        SAMR,
        (SAMR, HEALTH),
        "南岗区政务服务中心",
    )
    assert clerk.auth == LOGIN
    assert system.principal_for("hlj-sso", "nobody", auth=LOGIN) is None
    assert system.principal_for("other-idp", "u-7781", auth=LOGIN) is None  # per provider
    assert [r.staff_id for r in staff.list()] == ["HRB-0301", "WJW-0007"]
    assert [r.staff_id for r in staff.list(agency=HEALTH)] == ["WJW-0007"]
    first = staff.list(limit=1)
    assert [r.staff_id for r in first] == ["HRB-0301"] and first.next is not None
    assert [r.staff_id for r in staff.list(limit=1, after=first.next)] == ["WJW-0007"]
    # a new role for the same staff id replaces the record
    staff.add(clerk_record(kind="approver", serves=[], hall=""))
    promoted = system.principal_for("hlj-sso", "u-7781", auth=LOGIN)
    assert promoted is not None and promoted.kind is PrincipalKind.APPROVER
    changes = platform.system().supervision.access_log(outcome="changed")
    assert [(r.actor.id, r.action) for r in changes] == [("ops-01", "staff.manage")] * 3
    assert any("HRB-0301" in r.detail and "approver" in r.detail for r in changes)


def test_deactivated_and_expired_staff_make_no_principal(platform: govsvc.Platform) -> None:
    staff = platform.session(ADMIN).staff
    today = platform.today()
    staff.add(clerk_record(valid_until=today))
    assert platform.system().staff.principal_for("hlj-sso", "u-7781", auth=LOGIN) is not None
    staff.add(clerk_record(valid_until=today - dt.timedelta(days=1)))
    assert platform.system().staff.principal_for("hlj-sso", "u-7781", auth=LOGIN) is None
    staff.add(clerk_record())
    gone = staff.deactivate("HRB-0301")
    assert gone.active is False
    assert platform.system().staff.principal_for("hlj-sso", "u-7781", auth=LOGIN) is None
    assert staff.list() == [] and [r.staff_id for r in staff.list(active=None)] == ["HRB-0301"]
    assert staff.get("HRB-0301").active is False
    with pytest.raises(govsvc.NotFound, match="no staff record 'nobody'"):
        staff.deactivate("nobody")


def test_one_login_is_one_person(platform: govsvc.Platform) -> None:
    staff = platform.session(ADMIN).staff
    staff.add(clerk_record())
    with pytest.raises(govsvc.InvalidInput, match="already staff HRB-0301"):
        staff.add(clerk_record(staff_id="HRB-0999", name="李雷"))
    staff.deactivate("HRB-0301")
    assert staff.add(clerk_record(staff_id="HRB-0999", name="李雷")).staff_id == "HRB-0999"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "applicant"}, "staff principal"),
        ({"kind": "clerk", "agency": None}, "agency"),
        ({"kind": "reviewer", "agency": None, "serves": []}, "reviewer"),
        ({"kind": "supervisor", "division": None}, "supervisor"),
        ({"name": " "}, "StaffRecord.name"),
        ({"subject": "a\x00b"}, "StaffRecord.subject"),
        ({"agency": "not-a-code"}, "credit code"),
        ({"division": "2301"}, "division"),
    ],
)
def test_a_record_that_cannot_be_a_principal_is_refused_naming_why(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(govsvc.InvalidInput, match=message):
        clerk_record(**changes)


def test_only_system_administrators_and_the_platform_keep_the_directory(
    platform: govsvc.Platform,
) -> None:
    clerk = platform.session(clerk_for(SAMR)).staff
    with pytest.raises(govsvc.PermissionDenied):
        clerk.add(clerk_record())
    with pytest.raises(govsvc.PermissionDenied):
        clerk.list()
    assert platform.system().staff.list() == []
