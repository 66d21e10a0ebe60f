"""The certificate aggregate: issue, suspend/resume, revoke, cancel, expire, re-issue."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from govsvc.ecert import (
    Certificate,
    CertificateEventKind,
    CertificateStatus,
    CertificateType,
    ReissueKind,
    local_date,
)
from govsvc.errors import InvalidInput, InvalidTransition, StructureError
from govsvc.identity import DocumentType

from .conftest import (
    APPROVER,
    BIRTH_FACE,
    DUMPLINGS,
    FOOD_FACE,
    HEALTH,
    ISSUED_AT,
    SAMR,
    SUN_YUE,
    food_licence,
)

LATER = ISSUED_AT + dt.timedelta(days=10)


def test_issue_fills_metadata_from_the_type(food_type: CertificateType) -> None:
    step = Certificate.issue(
        food_type, serial="jy22301030012345", issuer=SAMR, number="JY22301030012345",
        holder_name="哈尔滨市冰城饺子馆有限公司", holder=DUMPLINGS, division="230103",
        face=FOOD_FACE, at=ISSUED_AT, actor=APPROVER, status_index=7, case_id="case-1",
    )
    c, event = step  # a step unpacks as (certificate, event)
    assert c.name == c.type_name == "食品经营许可证"
    assert c.id.serial == "JY22301030012345" and c.id.version == "001"
    assert c.id.issuer == SAMR.credit_code and c.type_code == "11100000MB0143028R006"
    assert c.defining_agency.credit_code == "11100000MB0143028R"
    assert c.issued_on == c.valid_from == dt.date(2026, 3, 2)
    assert c.valid_until == dt.date(2031, 3, 1)  # 5 years, the day before the anniversary
    assert c.holder_code_type is DocumentType.CREDIT_CODE
    assert c.status is CertificateStatus.VALID and c.seq == 1
    assert (c.status_list, c.status_index, c.case_id) == (0, 7, "case-1")
    assert event.kind is CertificateEventKind.ISSUED and event.seq == 1
    assert event.actor == APPROVER and event.certificate_id == c.id
    assert event.data == {"number": "JY22301030012345", "case_id": "case-1"}


def test_issue_dates_are_china_dates() -> None:
    late_evening_utc = dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.UTC)  # 01:30 on 2 March
    assert local_date(late_evening_utc) == dt.date(2026, 3, 2)
    with pytest.raises(InvalidInput, match="no time zone"):
        local_date(dt.datetime(2026, 3, 2, 9))


def test_long_term_type_has_no_end_and_refuses_one(birth_type: CertificateType) -> None:
    def issue(**kw: object) -> Certificate:
        return Certificate.issue(
            birth_type, serial="Q230123456", issuer=HEALTH, number="Q230123456",
            holder_name="孙悦", holder=SUN_YUE, division="230103", face=BIRTH_FACE,
            at=ISSUED_AT, actor=APPROVER, status_index=1, **kw,
        ).certificate

    assert issue().valid_until is None and issue().long_term
    with pytest.raises(InvalidInput, match="长期"):
        issue(valid_until=dt.date(2030, 1, 1))


def test_issue_checks_face_and_holder(food_type: CertificateType, birth_type: CertificateType) -> None:
    with pytest.raises(StructureError, match="premises"):
        Certificate.issue(
            food_type, serial="A1", issuer=SAMR, number="A1", holder_name="x", holder=DUMPLINGS,
            division="230103", face={**FOOD_FACE, "premises": ""}, at=ISSUED_AT, actor=APPROVER,
            status_index=1,
        )
    with pytest.raises(InvalidInput, match="held by a person"):
        Certificate.issue(
            birth_type, serial="A1", issuer=HEALTH, number="A1", holder_name="x",
            holder=DUMPLINGS, division="230103", face=BIRTH_FACE, at=ISSUED_AT, actor=APPROVER,
            status_index=1,
        )
    with pytest.raises(InvalidInput, match="6-, 9- or 12-digit division code"):
        Certificate.issue(
            food_type, serial="A1", issuer=SAMR, number="A1", holder_name="x", holder=DUMPLINGS,
            division="2301", face=FOOD_FACE, at=ISSUED_AT, actor=APPROVER, status_index=1,
        )


def test_invariants_cannot_be_broken(licence: Certificate) -> None:
    with pytest.raises(InvalidInput, match="before valid_from"):
        attrs.evolve(licence, valid_until=dt.date(2020, 1, 1))
    with pytest.raises(InvalidInput, match="identifier names issuer"):
        attrs.evolve(licence, issuer=HEALTH)
    with pytest.raises(InvalidInput, match="earlier version"):
        attrs.evolve(licence, predecessor=licence.id)


def test_suspend_resume_and_revoke(licence: Certificate) -> None:
    suspended, event = licence.suspend(reason="责令停业整顿", at=LATER, actor=APPROVER)
    assert suspended.status is CertificateStatus.SUSPENDED and suspended.seq == 2
    assert suspended.suspended_bit and not suspended.revoked_bit
    assert (event.kind, event.seq, event.data) == (CertificateEventKind.SUSPENDED, 2, {"reason": "责令停业整顿"})
    resumed, event = suspended.resume(at=LATER, actor=APPROVER, note="整改完成")
    assert resumed.status is CertificateStatus.VALID and not resumed.suspended_bit
    assert event.kind is CertificateEventKind.RESUMED and event.seq == 3
    revoked, event = resumed.revoke(reason="以欺骗手段取得许可", at=LATER, actor=APPROVER)
    assert revoked.status is CertificateStatus.REVOKED and revoked.revoked_bit
    assert revoked.status_reason == "以欺骗手段取得许可" and event.seq == 4


def test_transitions_need_reasons(licence: Certificate) -> None:
    for command in (licence.suspend, licence.revoke, licence.cancel):
        with pytest.raises(InvalidInput, match="give the reason"):
            command(reason="  ", at=LATER, actor=APPROVER)


def test_invalid_transitions_name_the_allowed_moves(licence: Certificate) -> None:
    with pytest.raises(InvalidTransition) as caught:
        licence.resume(at=LATER, actor=APPROVER)
    assert str(caught.value) == (
        "cannot resume a certificate that is valid; allowed in this state: "
        "cancel, expire, reissue, revoke, suspend"
    )
    cancelled = licence.cancel(reason="企业注销", at=LATER, actor=APPROVER).certificate
    with pytest.raises(InvalidTransition, match="none \\(the certificate is closed\\)"):
        cancelled.suspend(reason="x", at=LATER, actor=APPROVER)
    assert cancelled.allowed_commands() == frozenset()
    assert licence.suspend(reason="x", at=LATER, actor=APPROVER).certificate.allowed_commands() == {
        "resume", "revoke", "cancel", "expire"
    }


def test_expiry_and_reminders(licence: Certificate) -> None:
    end = licence.valid_until
    assert end == dt.date(2031, 3, 1)
    assert not licence.expired_on(end) and licence.expired_on(end + dt.timedelta(days=1))
    assert not licence.reminder_due(end - dt.timedelta(days=31))
    assert licence.reminder_due(end - dt.timedelta(days=30))
    assert licence.reminder_due(end)
    assert not licence.reminder_due(end + dt.timedelta(days=1))
    assert licence.reminder_due(end - dt.timedelta(days=60), days_before=60)
    with pytest.raises(InvalidInput, match="cannot expire on 2031-03-01"):
        licence.expire(at=dt.datetime(2031, 3, 1, 12, tzinfo=dt.UTC), actor=APPROVER)
    expired, event = licence.expire(at=dt.datetime(2031, 3, 1, 16, 30, tzinfo=dt.UTC), actor=APPROVER)
    assert expired.status is CertificateStatus.EXPIRED and event.kind is CertificateEventKind.EXPIRED
    assert not expired.reminder_due(end) and not expired.revoked_bit


def test_replacement_reissue_links_predecessor_and_supersedes_it(
    licence: Certificate, food_type: CertificateType
) -> None:
    reissue = licence.reissue(
        ReissueKind.REPLACEMENT, food_type, at=LATER, actor=APPROVER, status_index=99,
        reason="遗失补发", case_id="case-2",
    )
    old, new = reissue.superseded.certificate, reissue.issued.certificate
    assert new.id == licence.id.next_version() and new.id.version == "002"
    assert new.predecessor == licence.id and new.status_index == 99
    assert (new.face, new.number, new.valid_from, new.valid_until) == (
        licence.face, licence.number, licence.valid_from, licence.valid_until
    )
    assert new.issued_on == dt.date(2026, 3, 12) and new.case_id == "case-2"
    assert old.status is CertificateStatus.CANCELLED and old.superseded_by == new.id
    assert old.revoked_bit  # a superseded certificate must stop verifying as valid
    assert reissue.superseded.event.kind is CertificateEventKind.SUPERSEDED
    assert reissue.superseded.event.data == {
        "reissue": "replacement", "successor": str(new.id), "reason": "遗失补发"
    }
    assert reissue.issued.event.data["predecessor"] == str(licence.id)
    assert reissue.issued.event.data["reissue"] == "replacement"


def test_renewal_starts_a_new_validity_and_may_change_the_face(
    licence: Certificate, food_type: CertificateType
) -> None:
    face = {**FOOD_FACE, "premises": "黑龙江省哈尔滨市南岗区西大直街74号"}
    new = licence.reissue(
        ReissueKind.RENEWAL, food_type, at=LATER, actor=APPROVER, status_index=100, face=face,
    ).issued.certificate
    assert new.valid_from == dt.date(2026, 3, 12) and new.valid_until == dt.date(2031, 3, 11)
    assert new.face["premises"] == "黑龙江省哈尔滨市南岗区西大直街74号"
    third = new.reissue(ReissueKind.REPLACEMENT, food_type, at=LATER, actor=APPROVER, status_index=101)
    assert third.issued.certificate.id.version == "003"


def test_reissue_rules(licence: Certificate, food_type: CertificateType, birth_type: CertificateType) -> None:
    with pytest.raises(InvalidInput, match="re-issue it with that type"):
        licence.reissue(ReissueKind.RENEWAL, birth_type, at=LATER, actor=APPROVER, status_index=1)
    suspended = licence.suspend(reason="x", at=LATER, actor=APPROVER).certificate
    with pytest.raises(InvalidTransition, match="cannot reissue a certificate that is suspended"):
        suspended.reissue(ReissueKind.RENEWAL, food_type, at=LATER, actor=APPROVER, status_index=1)
    expired = licence.expire(at=dt.datetime(2031, 3, 2, tzinfo=dt.UTC), actor=APPROVER).certificate
    renewed = expired.reissue(
        ReissueKind.RENEWAL, food_type, at=dt.datetime(2031, 3, 5, tzinfo=dt.UTC), actor=APPROVER,
        status_index=5,
    )
    assert renewed.issued.certificate.status is CertificateStatus.VALID


def test_status_labels_are_chinese() -> None:
    assert [s.label for s in CertificateStatus] == ["有效", "暂停", "已吊销", "已注销", "已过期"]
    assert CertificateEventKind.SUPERSEDED.label == "换发/补发后注销"
    assert ReissueKind.REPLACEMENT.label == "补发"


def test_every_allowed_command_really_is_allowed(licence: Certificate, food_type: CertificateType) -> None:
    suspended = licence.suspend(reason="x", at=LATER, actor=APPROVER).certificate
    expired = licence.expire(at=dt.datetime(2031, 3, 2, tzinfo=dt.UTC), actor=APPROVER).certificate
    at_end = dt.datetime(2031, 3, 2, tzinfo=dt.UTC)
    commands = {
        "suspend": lambda c: c.suspend(reason="r", at=at_end, actor=APPROVER),
        "resume": lambda c: c.resume(at=at_end, actor=APPROVER),
        "revoke": lambda c: c.revoke(reason="r", at=at_end, actor=APPROVER),
        "cancel": lambda c: c.cancel(reason="r", at=at_end, actor=APPROVER),
        "expire": lambda c: c.expire(at=at_end, actor=APPROVER),
        "reissue": lambda c: c.reissue(ReissueKind.RENEWAL, food_type, at=at_end, actor=APPROVER, status_index=3),
    }
    for certificate in (licence, suspended, expired):
        for name, command in commands.items():
            if name in certificate.allowed_commands():
                command(certificate)
            else:
                with pytest.raises(InvalidTransition):
                    command(certificate)


def test_food_licence_helper_builds_distinct_ids(food_type: CertificateType) -> None:
    a, b = food_licence(food_type, serial="A1"), food_licence(food_type, serial="A2")
    assert a.id != b.id and a.id.same_certificate(a.id.next_version())


def test_certificates_and_events_round_trip_through_the_sdk_converter(
    licence: Certificate, food_type: CertificateType
) -> None:
    from govsvc import _converter

    reissue = licence.reissue(ReissueKind.RENEWAL, food_type, at=LATER, actor=APPROVER, status_index=9)
    for value, cls in (
        (reissue.issued.certificate, Certificate),
        (reissue.superseded.certificate, Certificate),
        (reissue.issued.event, type(reissue.issued.event)),
    ):
        text = _converter.dumps(value)
        assert _converter.loads(text, cls) == value
    data = _converter.unstructure(reissue.issued.certificate)
    assert data["id"] == str(reissue.issued.certificate.id)  # identifiers stored as their text
    assert data["predecessor"] == str(licence.id)
    data["id"] = data["id"][:-1] + ("0" if data["id"][-1] != "0" else "1")
    with pytest.raises(StructureError, match="check character should be"):
        _converter.structure(data, Certificate)
