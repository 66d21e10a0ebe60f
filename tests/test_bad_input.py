"""Bad input stops at the door: characters the database cannot store, identifiers that are not
text, look-alike tracking codes, answers in the wrong vocabulary — each refused with the field
named and the stored state exactly as it was, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import sqlalchemy as sa

import govsvc
from govsvc import ProvidedMaterial
from govsvc.store import tables
from govsvc.testing import TEST_LOGIN, make_item, reviewer_of, system_of
from tests.conftest import People, sample_catalogue

FOOD = "食品经营许可（新办）"
SAMR = "11230100013114525L"
UNSTORABLE = ("\x00", "\ud800")


def code_of(name: str) -> str:
    return next(i.implementation_code for i, _ in sample_catalogue() if i.name == name)


def materials(p: govsvc.Platform) -> list[ProvidedMaterial]:
    version = p.public().catalogue.version(code_of(FOOD))
    return [
        ProvidedMaterial(code=m.code, filename=f"{m.code}.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]


def everything(p: govsvc.Platform) -> dict[str, Any]:
    with p.engine.connect() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in (tables.cases_t, tables.events_t, tables.outbox_t, tables.parties_t)
        }


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "surrogate"])
def test_unstorable_text_is_refused_naming_the_field(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People, bad: str
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    case = people.clerk.cases.accept(case)
    before = everything(platform)
    task = case.tasks[0]
    attempts = [
        (
            lambda: people.applicant(zhang).cases.apply(
                code_of(FOOD),
                zhang,
                materials=materials(platform),
                form={"经营场所": f"中央大街{bad}"},
            ),
            r"form\.经营场所",
        ),
        (
            lambda: people.applicant(zhang).cases.apply(
                code_of(FOOD), zhang, materials=materials(platform), form={f"k{bad}": "v"}
            ),
            r"a key in form",
        ),
        (
            lambda: people.applicant(zhang).cases.apply(
                code_of(FOOD),
                zhang,
                materials=[ProvidedMaterial(code="M01", filename=f"申请书{bad}.pdf")],
            ),
            r"ProvidedMaterial\.filename",
        ),
        (lambda: govsvc.Person(key=zhang.key, name=f"张{bad}伟"), r"Person\.name"),
        (
            lambda: people.reviewer(task.department).reviews.decide(
                case, task.id, approve=False, reason=f"不符合{bad}", basis="x", remedies="y"
            ),
            r"reason",
        ),
        (
            lambda: people.reviewer(task.department).cases.suspend(
                case, govsvc.SuspensionReason.HEARING, notice=f"听证{bad}"
            ),
            r"notice",
        ),
        (lambda: people.clerk.parties.identify(zhang.key, purpose=f"审查{bad}"), r"purpose"),
        (
            lambda: govsvc.CaseResult(name="许可证", number="1", data={"名称": f"x{bad}"}),
            r"CaseResult\.data\.名称",
        ),
    ]
    for attempt, field in attempts:
        with pytest.raises(govsvc.InvalidInput, match=field) as err:
            attempt()
        assert "cannot be stored" in str(err.value)
        assert bad not in str(err.value)  # the message itself is storable
    assert everything(platform) == before


def test_unstorable_text_in_a_guide_is_refused_before_publishing(
    platform: govsvc.Platform, people: People
) -> None:
    item, version = make_item(SAMR, materials=1)
    bad = attrs.evolve(version, location="哈尔滨市\x00政务服务中心")
    before = everything(platform)
    with pytest.raises(govsvc.InvalidInput, match=r"v1\.location"):
        people.system.catalogue.publish(item, bad)
    assert everything(platform) == before


def test_identifiers_must_be_text() -> None:
    for parse in (govsvc.CitizenId.parse, govsvc.CreditCode.parse, govsvc.PartyKey.of):
        with pytest.raises(govsvc.InvalidInput, match="must be text") as err:
            parse(230103198503120316)  # type: ignore[arg-type]
        assert isinstance(err.value, govsvc.InvalidIdentifier)
    with pytest.raises(govsvc.InvalidInput, match="must be text"):
        govsvc.PartyKey.of(None)  # type: ignore[arg-type]


def test_tracking_codes_do_not_fold_look_alikes(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials(platform))
    code = case.tracking_code
    # Unicode case mapping turns the ligature "ﬀ" into "FF" and the fullwidth "Ｋ" is "K" to a
    # human: neither may find a case.
    for look_alike in (
        code.replace("F", "ﬀ", 1) if "F" in code else "ﬀ" + code[2:],
        "Ｋ" + code[1:],
    ):
        with pytest.raises(govsvc.InvalidIdentifier, match="never use"):
            govsvc.TrackingCode.normalise(look_alike)
    for wrong in (None, 12345, b"4K7N2QXAM8C"):
        with pytest.raises(govsvc.InvalidInput, match=r"tracking code is text|a case is named"):
            people.applicant(zhang).cases.get(wrong)  # type: ignore[arg-type]
    assert not govsvc.TrackingCode.looks_like(None)  # type: ignore[arg-type]


def test_a_department_answering_outside_the_vocabulary_is_a_protocol_error(
    make_platform: Any,
) -> None:
    class Sloppy:
        def profile(self, key: govsvc.PartyKey) -> dict[str, str]:
            return {"sex": "男", "birth_date": "19850312", "name": "张伟"}

    @govsvc.hookimpl
    def govsvc_departments() -> list[govsvc.Department]:
        return [govsvc.Department(code="11230100MB1935270B", name="卫健委", adapter=Sloppy())]

    import types

    plugin = types.ModuleType("sloppy")
    plugin.govsvc_departments = govsvc_departments  # type: ignore[attr-defined]
    p = make_platform(plugin)
    profile = p.system().parties.identify("230103198503120316", purpose="测试")
    [reason] = profile.unavailable.values()
    assert "sex" in reason and "male" in reason and "birth_date" in reason
    assert "name" not in profile.attributes  # nothing from a non-canonical answer is used
    [record] = p.system().departments.exchange_log()
    assert record.outcome == "protocol_error"


_ADMIN = govsvc.Principal.system_admin("ops-01", "运维", auth=TEST_LOGIN)
_LOOKUPS: dict[str, tuple[str, Any]] = {
    # name → (the argument the message must name, the call with a bad text in it)
    "record_decision": (
        "task_id",
        lambda p, bad: p.session(system_of(SAMR)).reviews.record_decision(
            bad, govsvc.ReviewOutcome(approved=True, reason="符合条件")
        ),
    ),
    "queue": (
        "department",
        lambda p, bad: p.session(reviewer_of(SAMR)).reviews.queue(bad),
    ),
    "access_log": ("subject", lambda p, bad: p.system().supervision.access_log(subject=bad)),
    "exchange_log": (
        "department",
        lambda p, bad: p.system().departments.exchange_log(department=bad),
    ),
    "outbox": ("topic", lambda p, bad: p.system().outbox.pending(topic=bad)),
    "mark_delivered": (
        "outbox message id",
        lambda p, bad: p.system().outbox.mark_delivered([bad]),
    ),
    "catalogue": ("item code", lambda p, bad: p.public().catalogue.version(bad)),
    "staff": ("staff_id", lambda p, bad: p.session(_ADMIN).staff.get(bad)),
    "staff_login": (
        "subject",
        lambda p, bad: p.system().staff.principal_for("sso", bad, auth=TEST_LOGIN),
    ),
    "warnings": ("light", lambda p, bad: p.system().supervision.warnings(light=bad)),
}


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("call", sorted(_LOOKUPS))
def test_lookups_refuse_unstorable_text_naming_the_argument(
    platform: govsvc.Platform, call: str, bad: str
) -> None:
    """Arguments that go into SQL are checked first: no driver error, no denial that cannot
    be recorded (a NUL in the refused department would not fit the access log either)."""
    before = everything(platform)
    name, run = _LOOKUPS[call]
    with pytest.raises(govsvc.InvalidInput, match=name):
        run(platform, f"ab{bad}c")
    assert everything(platform) == before


def test_an_import_that_fails_on_its_eighth_version_publishes_none_of_them(
    platform: govsvc.Platform,
) -> None:
    """Imports are atomic: seven good versions before a bad eighth are not published either."""
    catalogue = platform.system().catalogue
    before = everything(platform), catalogue.items()
    item, first = make_item(SAMR, name="食品小作坊登记（测试）")
    versions = [first]
    for _ in range(6):
        versions.append(versions[-1].revise())
    broken = attrs.evolve(versions[-1].revise(), visits=2, visit_reason="")
    with pytest.raises(govsvc.CatalogueRejected, match="version 8 cannot be published"):
        catalogue.import_items([(item, [*versions, broken])])
    assert (everything(platform), catalogue.items()) == before
    with pytest.raises(govsvc.UnknownItem):
        catalogue.version(item.implementation_code)


def test_the_import_command_is_atomic_too(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that reads well but cannot be published whole (its second item's version 3
    follows the store's version 1) publishes nothing, not the seven versions before it."""
    from govsvc import cli
    from govsvc.catalogue_io import export_json

    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "")
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    item, first = make_item(SAMR, name="食品小作坊登记（测试）")
    versions = [first]
    for _ in range(6):
        versions.append(versions[-1].revise())
    other, one = make_item(SAMR, name="小餐饮登记（测试）")
    two = one.revise()
    with govsvc.Platform.open(db, load_entry_points=False) as p:
        p.system().catalogue.publish(other, one)
    path = tmp_path / "items.json"
    path.write_text(export_json([(item, versions), (other, [two.revise()])]), encoding="utf-8")
    assert cli.main(["items", "import", str(path), "--db", db]) == 2
    assert "version 3 cannot be published" in capsys.readouterr().err
    with govsvc.Platform.open(db, load_entry_points=False) as p:
        catalogue = p.public().catalogue
        assert [i.implementation_code for i in catalogue.items()] == [other.implementation_code]
        assert [v.version for v in catalogue.versions(other.implementation_code)] == [1]


def test_read_only_commands_and_a_plain_open_publish_no_plugin_items(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference plugins installed here bring sample items; only the explicit step
    (``items publish-plugins``, ``publish_plugin_items``) publishes them."""
    from govsvc import cli

    monkeypatch.delenv("GOVSVC_LOAD_PLUGINS", raising=False)
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    with govsvc.Platform.open(db) as p:  # entry points loaded: the reference plugins
        assert p.public().catalogue.items() == []
    for command in (["items", "export"], ["calendar", "show", "2026"]):
        assert cli.main([*command, "--db", db]) == 0
    capsys.readouterr()
    with govsvc.Platform.open(db) as p:
        assert p.public().catalogue.items() == []
    assert cli.main(["items", "publish-plugins", "--db", db]) == 0
    assert "published 0 " not in capsys.readouterr().out
    with govsvc.Platform.open(db) as p:
        assert p.public().catalogue.items() != []
