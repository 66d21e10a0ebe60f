"""The test kit for plugin authors (govsvc.testing): helpers, fixtures, the contract suite run
both ways against the example plugin, and the tutorial's code being the example's code."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import govsvc
from govsvc import (
    CaseState,
    CitizenId,
    CreditCode,
    Department,
    InvalidIdentifier,
    PartyKey,
    check_version,
)
from govsvc.plugins import PluginManager
from govsvc.testing import (
    FakeClock,
    contract,
    make_case,
    make_citizen_id,
    make_credit_code,
    make_item,
    make_organisation,
    make_person,
    refused_url,
)

pytest_plugins = ["pytester", "govsvc.testing"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "plugins" / "example"
KNOWN = "230199196207141386"  # in the example register
UNKNOWN = "230199199001059794"
EXAMPLE_CODE = "11230199MB0000019A"


# --- the clock -------------------------------------------------------------------------------


def test_fake_clock_starts_on_a_monday_morning_in_china_and_moves_by_hand() -> None:
    clock = FakeClock()
    assert clock() == dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    assert clock().utcoffset() == dt.timedelta(0)
    assert clock.local_date == dt.date(2026, 3, 2) and clock.local_date.weekday() == 0
    clock.advance(days=1, hours=16)
    assert clock() == dt.datetime(2026, 3, 3, 17, 0, tzinfo=dt.UTC)
    assert clock.local_date == dt.date(2026, 3, 4)  # 01:00 the next day in China
    clock.set_local_date(dt.date(2026, 10, 8))
    assert clock() == dt.datetime(2026, 10, 8, 1, 0, tzinfo=dt.UTC)
    with pytest.raises(govsvc.InvalidInput, match="aware"):
        FakeClock(dt.datetime(2026, 3, 2, 9, 0))


def test_govsvc_clock_fixture_drives_the_platform(
    govsvc_clock: FakeClock, govsvc_platform: govsvc.Platform
) -> None:
    assert govsvc_platform.today() == dt.date(2026, 3, 2)
    govsvc_clock.set_local_date(dt.date(2026, 3, 9))
    assert govsvc_platform.today() == dt.date(2026, 3, 9)


# --- factories -------------------------------------------------------------------------------


def test_citizen_ids_are_valid_and_repeatable_from_a_seed() -> None:
    numbers = {make_citizen_id(seed) for seed in range(200)}
    assert len(numbers) == 200
    for number in numbers:
        assert len(number) == 18 and CitizenId.parse(number).number == number
    assert make_citizen_id(7) == make_citizen_id(7)
    rng = random.Random(1)
    assert make_citizen_id(rng) != make_citizen_id(rng)  # a Random is drawn from, not reset
    made = CitizenId.parse(
        make_citizen_id(3, division="110105", birth_date=dt.date(2001, 2, 3), sex="female")
    )
    assert (made.division_code, made.birth_date, made.sex) == (
        "110105",
        dt.date(2001, 2, 3),
        "female",
    )
    assert CitizenId.parse(make_citizen_id(3, sex="male")).sex == "male"
    with pytest.raises(govsvc.InvalidInput):
        make_citizen_id(division="0101")


def test_credit_codes_pass_the_strict_check() -> None:
    for seed in range(200):
        code = make_credit_code(seed)
        assert CreditCode.parse(code, strict=True).number == code
        assert code.startswith("91230100")
    body = CreditCode.parse(make_credit_code(1, authority="1", category="1", division="230199"))
    assert (body.authority_name, body.category_name, body.division_code) == (
        "机构编制",
        "机关",
        "230199",
    )
    assert make_credit_code(5) == make_credit_code(5)


def test_people_and_organisations_are_valid_parties() -> None:
    person = make_person(1)
    assert isinstance(person, govsvc.Person) and person.name
    assert person.key.doc_type is govsvc.DocumentType.RESIDENT_ID
    assert make_person(1) == person
    assert make_person(number=KNOWN, name="王秀兰").key == PartyKey.of(KNOWN)
    organisation = make_organisation(2)
    assert isinstance(organisation, govsvc.Organisation) and organisation.legal_representative
    assert organisation.key.doc_type is govsvc.DocumentType.CREDIT_CODE


def test_items_pass_check_version_with_stages_and_co_agencies() -> None:
    agency, other = make_credit_code(1, authority="1"), make_credit_code(2, authority="1")
    item, version = make_item(agency)
    assert check_version(item, version) == []
    assert [m.code for m in version.materials] == ["M01", "M02", "M03", "M04"]
    assert [s.departments for s in version.review_stages] == [(agency,)]

    item2, version2 = make_item(
        agency,
        materials=2,
        review_departments=[(agency, other), (other,)],
        department_names={other: "哈尔滨市卫生健康委员会"},
    )
    assert check_version(item2, version2) == []
    assert item2.implementation_code != item.implementation_code  # a new item each call
    assert [a.name for a in version2.co_agencies] == ["哈尔滨市卫生健康委员会"]
    assert [len(s.departments) for s in version2.review_stages] == [2, 1]
    with pytest.raises(govsvc.InvalidInput, match="at least one material"):
        make_item(agency, materials=0)


def test_make_case_applies_and_accepts(govsvc_platform: govsvc.Platform) -> None:
    item, version = make_item(make_credit_code(3, authority="1"), materials=3)
    govsvc_platform.system().catalogue.publish(item, version)
    draft = make_case(govsvc_platform, item.implementation_code)
    assert draft.state is CaseState.SUBMITTED and len(draft.materials) == 3
    applicant = make_organisation(4)
    case = make_case(govsvc_platform, item.implementation_code, applicant, accept=True)
    assert case.state is CaseState.IN_REVIEW and case.applicant == applicant.key
    assert len(case.open_tasks) == 1
    assert case.deadline is not None and case.deadline.promised > dt.date(2026, 3, 2)


# --- fixtures --------------------------------------------------------------------------------


def test_default_fixtures_are_empty(
    govsvc_plugins: list[object],
    govsvc_plugin_manager: PluginManager,
    govsvc_platform: govsvc.Platform,
    govsvc_database_backend: str,
) -> None:
    assert govsvc_plugins == []
    assert govsvc_plugin_manager.has_plugin("govsvc._builtin")
    assert dict(govsvc_platform.departments) == {}
    assert govsvc_platform.engine.dialect.name == govsvc_database_backend
    if govsvc_database_backend == "sqlite":
        assert govsvc_platform.engine.url.database is not None
        assert govsvc_platform.engine.url.database.endswith("govsvc.db")


def test_the_database_is_sqlite_only_unless_a_postgres_server_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVSVC_TEST_POSTGRES_URL", raising=False)
    pytester.makepyfile(
        """
        pytest_plugins = ["govsvc.testing"]

        def test_it(govsvc_database_url, govsvc_platform):
            assert govsvc_database_url.startswith("sqlite:///")
            assert govsvc_platform.engine.dialect.name == "sqlite"
        """
    )
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_it?sqlite? PASSED*"])


@pytest.mark.postgres
def test_plugin_tests_run_on_postgres_too_in_a_schema_of_their_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.setenv("GOVSVC_TEST_POSTGRES_URL", postgres_url)
    seen = pytester.path / "schemas.txt"
    pytester.makepyfile(
        f"""
        import pytest
        import sqlalchemy as sa
        from govsvc.testing import make_credit_code, make_item

        pytest_plugins = ["govsvc.testing"]

        @pytest.mark.parametrize("govsvc_database_backend", ["sqlite"], indirect=True)
        def test_pinned_to_sqlite(govsvc_platform):
            assert govsvc_platform.engine.dialect.name == "sqlite"

        def test_it(govsvc_database_backend, govsvc_platform):
            assert govsvc_platform.engine.dialect.name == govsvc_database_backend
            item, version = make_item(make_credit_code(1, authority="1"))
            govsvc_platform.system().catalogue.publish(item, version)
            assert len(govsvc_platform.public().catalogue.items()) == 1  # a fresh database
            if govsvc_database_backend == "postgresql":
                with govsvc_platform.engine.connect() as conn:
                    schema = conn.execute(sa.text("select current_schema()")).scalar()
                with open({str(seen)!r}, "a", encoding="utf-8") as out:
                    out.write(schema + "\\n")
        """
    )
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_pinned_to_sqlite?sqlite? PASSED*",
            "*test_it?sqlite? PASSED*",
            "*test_it?postgresql? PASSED*",
        ]
    )
    [schema] = seen.read_text(encoding="utf-8").split()
    assert schema.startswith("govsvc_test_")
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("select count(*) from pg_namespace where nspname = :s"), {"s": schema}
        ).scalar()
    engine.dispose()
    assert left == 0  # dropped after the test


def test_an_unreachable_postgres_server_skips_saying_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = refused_url().rsplit(":", 1)[1]
    monkeypatch.setenv("GOVSVC_TEST_POSTGRES_URL", f"postgresql+psycopg://nobody@127.0.0.1:{port}/x")
    monkeypatch.delenv("GOVSVC_REQUIRE_POSTGRES", raising=False)
    pytester.makepyfile(
        """
        pytest_plugins = ["govsvc.testing"]

        def test_it(govsvc_platform):
            assert govsvc_platform.departments == {}
        """
    )
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*PostgreSQL at postgresql+psycopg://nobody@*is unreachable*"])


def test_overridden_plugins_reach_the_manager_and_platform(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented set-up for a project's own root: the rootdir conftest enables the kit.
    monkeypatch.delenv("GOVSVC_TEST_POSTGRES_URL", raising=False)  # one run, on SQLite
    pytester.makeconftest(
        """
        import pytest
        from govsvc_example import plugin

        pytest_plugins = ["govsvc.testing"]

        @pytest.fixture
        def govsvc_plugins():
            return [plugin]
        """
    )
    pytester.makepyfile(
        """
        def test_it(govsvc_plugin_manager, govsvc_platform):
            assert govsvc_plugin_manager.has_plugin("govsvc_example.plugin")
            assert list(govsvc_platform.departments) == ["11230199MB0000019A"]
            assert govsvc_platform.system().parties.identify(
                "230199196207141386", purpose="测试"
            )["marital_status"] == "widowed"
        """
    )
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)


# --- the contract suite: the fixture way ---------------------------------------------------


def test_contract_suite_passes_for_the_example_the_fixture_way(pytester: pytest.Pytester) -> None:
    # The example's layout: fixtures in tests/conftest.py, the kit enabled by the test module.
    pytester.mkdir("tests")
    for name in ("conftest.py", "test_contract.py"):
        pytester.path.joinpath("tests", name).write_text(
            (EXAMPLE / "tests" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    # certificates and prereview: not implemented by the example, so skipped with the reason
    result.assert_outcomes(passed=10, skipped=2)
    result.stdout.fnmatch_lines(["*does not implement certificates*"])


def test_contract_suite_skips_sample_tests_without_samples(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from govsvc_example import plugin

        pytest_plugins = ["govsvc.testing"]

        @pytest.fixture
        def govsvc_contract_department():
            return plugin.govsvc_departments()[0]
        """
    )
    pytester.makepyfile(test_contract="from govsvc.testing.contract import *  # noqa: F403\n")
    result = pytester.runpytest("-rs")
    # no parties: the profile tests skip; no govsvc_contract_approve and a register that
    # decides nothing by itself: so do issue_result and cancel_review of a decided task
    result.assert_outcomes(passed=6, skipped=6)
    result.stdout.fnmatch_lines(["*no 'known_party' sample*govsvc_contract_samples*"])
    result.stdout.fnmatch_lines(["*has not decided task MZ2026*define a fixture govsvc_contract_approve*"])


def test_contract_suite_without_a_department_says_what_to_define(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_contract="""
        from govsvc.testing.contract import *  # noqa: F403

        pytest_plugins = ["govsvc.testing"]
        """
    )
    result = pytester.runpytest("-q", "-k", "well_formed")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a fixture govsvc_contract_department*"])


# --- the contract suite: the command-line way ----------------------------------------------


def test_contract_suite_runs_from_the_command_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "-p",
        "govsvc.testing",
        "--govsvc-contract=example",
        f"--govsvc-contract-sample=known_party={KNOWN}",
        f"--govsvc-contract-sample=unknown_party={UNKNOWN}",
        "-v",
    )
    result.assert_outcomes(passed=8, skipped=4)
    result.stdout.fnmatch_lines(
        [
            "govsvc contract suite for: example",
            f"*test_open_review_is_idempotent_on_the_task_id?example:{EXAMPLE_CODE}? PASSED*",
        ]
    )


def test_command_line_way_selects_the_suite_by_marker_and_checks_the_name(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_other="def test_unrelated():\n    pass\n")
    result = pytester.runpytest(
        "-p", "govsvc.testing", "--govsvc-contract=example", "-m", "govsvc_contract"
    )
    result.assert_outcomes(passed=6, skipped=6, deselected=1)

    wrong = pytester.runpytest("-p", "govsvc.testing", "--govsvc-contract=exmaple")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*--govsvc-contract=exmaple: no plugin is installed*example*"])


def test_command_line_way_uses_the_approve_fixture_of_the_root_conftest(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def govsvc_contract_approve(govsvc_contract_department):
            register = govsvc_contract_department.adapter.register
            return lambda ticket: register.decide(ticket.legacy_id, approved=True, opinion="符合")
        """
    )
    result = pytester.runpytest("-p", "govsvc.testing", "--govsvc-contract=example", "-v")
    result.assert_outcomes(passed=8, skipped=4)  # the party tests, certificates, prereview
    result.stdout.fnmatch_lines(
        [
            "*test_issue_result_gives_the_same_licence_for_the_same_ticket?example:*? PASSED*",
            "*test_cancel_review_of_a_decided_task_is_harmless?example:*? PASSED*",
        ]
    )


def test_command_line_samples_cover_every_sample_the_docs_describe(
    pytester: pytest.Pytester,
) -> None:
    item = f"{EXAMPLE_CODE}3000100000001"
    pytester.path.joinpath("form.json").write_text('{"zt": "低保", "rs": 2}', encoding="utf-8")
    pytester.makepyfile(
        test_samples=f"""
        def test_samples(govsvc_contract_samples):
            assert govsvc_contract_samples == {{
                "known_party": "{KNOWN}",
                "unknown_party": "{UNKNOWN}",
                "item": "{item}",
                "form": {{"zt": "低保", "rs": 2}},
            }}
        """
    )
    samples = [
        f"known_party={KNOWN}",
        f"unknown_party={UNKNOWN}",
        f"item={item.lower()}",
        "form=form.json",
    ]
    args = [f"--govsvc-contract-sample={sample}" for sample in samples]
    result = pytester.runpytest("-p", "govsvc.testing", *args)
    result.assert_outcomes(passed=1)

    pytester.makepyfile(
        test_inline="""
        def test_inline(govsvc_contract_samples):
            assert govsvc_contract_samples == {"form": {"registrationType": "出生登记"}}
        """
    )
    inline = "form=" + json.dumps({"registrationType": "出生登记"}, ensure_ascii=False)
    result = pytester.runpytest(
        "-p", "govsvc.testing", "--govsvc-contract-sample", inline, "test_inline.py"
    )
    result.assert_outcomes(passed=1)


def test_the_suite_runs_with_the_item_and_form_samples(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "-p",
        "govsvc.testing",
        "--govsvc-contract=example",
        f"--govsvc-contract-sample=item={EXAMPLE_CODE}3000100000001",
        '--govsvc-contract-sample=form={"zt": "低保"}',
        "-k",
        "open_review",
    )
    result.assert_outcomes(passed=1)


def test_a_misconfigured_sample_is_one_start_up_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "-p",
        "govsvc.testing",
        "--govsvc-contract=example",
        "--govsvc-contract-sample=known_party=230199196207141380",  # wrong check digit
        "--govsvc-contract-sample=form=missing.json",
        "--govsvc-contract-sample=form_field=1",
        "--govsvc-contract-sample=item=91230103MA1BX4K2383000100000001",  # not the example's
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert errors.count("ERROR:") == 1  # one error, listing every problem
    result.stderr.fnmatch_lines(
        [
            "ERROR: --govsvc-contract-sample 'known_party=230199196207141380': *check*",
            "--govsvc-contract-sample 'form=missing.json': *no file*missing.json",
            "--govsvc-contract-sample 'form_field=1': write KEY=VALUE with KEY one of *",
            "--govsvc-contract-sample 'item=*': the item belongs to agency *none of the "
            f"departments under test ({EXAMPLE_CODE})",
        ]
    )
    assert "passed" not in result.stdout.str() and "error" not in result.stdout.str().lower()

    for sample, problem in [
        ("form=[1, 2]", "*must be a JSON object*holds list*"),
        ("form={not json", "*the JSON is not JSON*"),
        ("known_party=", "*write KEY=VALUE*"),
    ]:
        wrong = pytester.runpytest("-p", "govsvc.testing", f"--govsvc-contract-sample={sample}")
        assert wrong.ret == pytest.ExitCode.USAGE_ERROR, sample
        wrong.stderr.fnmatch_lines([problem])


# --- the contract catches broken adapters ----------------------------------------------------


class SloppyAdapter:
    """Breaks the contract the ways adapters do in practice."""

    def __init__(self) -> None:
        self.opened = 0

    def profile(self, key: PartyKey) -> Mapping[str, Any] | None:
        return {}  # "nothing" as an empty dict instead of None

    async def open_review(self, request: govsvc.ReviewRequest) -> str:
        self.opened += 1  # ignores the idempotency key
        return f"L{self.opened}"

    def poll_review(self, ticket: govsvc.ReviewTicket) -> Any:
        return "pending"

    def health(self) -> Any:
        return "ok"


def sloppy() -> Department:
    return Department(
        code=make_credit_code(9, authority="1"), name="马虎局", adapter=SloppyAdapter()
    )


SAMPLES = {"known_party": KNOWN, "unknown_party": UNKNOWN}


def test_contract_catches_a_non_idempotent_open_review(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"use request\.task_id as the idempotency key"):
        contract.test_open_review_is_idempotent_on_the_task_id(sloppy(), SAMPLES, tmp_path)


def test_contract_catches_a_profile_that_is_not_none_for_an_unknown_party(
    tmp_path: Path,
) -> None:
    with pytest.raises(AssertionError, match=r"returned \{\} for a party .* return None"):
        contract.test_profile_of_an_unknown_party_is_none(sloppy(), SAMPLES, tmp_path)


def test_contract_catches_wrong_answer_types(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(AssertionError, match=r"health.* returned 'ok'; return True or False"):
        contract.test_health_answers_true_or_false(sloppy(), tmp_path / "a")
    with pytest.raises(AssertionError, match=r"poll_review.*returned 'pending'"):
        contract.test_poll_review_answers_an_outcome_or_none(sloppy(), SAMPLES, tmp_path / "b")


def test_contract_catches_an_adapter_that_raises_foreign_errors(tmp_path: Path) -> None:
    class Raises:
        def profile(self, key: PartyKey) -> None:
            raise KeyError(key.number)

    department = Department(
        code=make_credit_code(8, authority="1"), name="报错局", adapter=Raises()
    )
    with pytest.raises(pytest.fail.Exception, match=r"raised KeyError.*AdapterUnavailable"):
        contract.test_profile_of_a_known_party_is_a_mapping(department, SAMPLES, tmp_path)


def test_contract_checks_profile_values_against_the_vocabulary(tmp_path: Path) -> None:
    class Verbatim:
        """Passes the legacy system's own words through."""

        def profile(self, key: PartyKey) -> Mapping[str, Any] | None:
            return {"sex": "男", "birth_date": "19850312", "marital_status": "已婚"}

    department = Department(
        code=make_credit_code(7, authority="1"), name="照抄局", adapter=Verbatim()
    )
    with pytest.raises(AssertionError) as info:
        contract.test_profile_of_a_known_party_is_a_mapping(department, SAMPLES, tmp_path)
    message = str(info.value)
    assert "3 value(s) that are not canonical" in message
    for problem in govsvc.vocabulary.check_profile(Verbatim().profile(PartyKey.of(KNOWN)) or {}):
        assert str(problem) in message  # the vocabulary's own words, e.g. send 'male' (男)


class Register:
    """A legacy system keeping the whole review contract (decisions come by callback); each
    subclass below breaks one rule of it."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}  # legacy id -> pending, approved, withdrawn
        self.by_task: dict[str, str] = {}
        self.licences: dict[str, str] = {}

    async def open_review(self, request: govsvc.ReviewRequest) -> str:
        legacy = self.by_task.setdefault(request.task_id, f"T{len(self.by_task) + 1}")
        self.status.setdefault(legacy, "pending")
        return legacy

    def approve(self, ticket: govsvc.ReviewTicket) -> None:
        if self.status[ticket.legacy_id] == "pending":
            self.status[ticket.legacy_id] = "approved"

    async def issue_result(self, ticket: govsvc.ReviewTicket) -> Any:
        if self.status[ticket.legacy_id] != "approved":
            raise govsvc.AdapterProtocolError("the task is not approved", path="$.status")
        number = self.licences.setdefault(ticket.legacy_id, f"许可{len(self.licences) + 1:04d}")
        return govsvc.IssuedResult(name="测试许可证", number=number)

    def cancel_review(self, ticket: govsvc.ReviewTicket) -> Any:
        if self.status[ticket.legacy_id] == "pending":
            self.status[ticket.legacy_id] = "withdrawn"


class PollingRegister(Register):
    """The same, reporting decisions when polled."""

    def poll_review(self, ticket: govsvc.ReviewTicket) -> govsvc.ReviewOutcome | None:
        status = self.status[ticket.legacy_id]
        if status == "approved":
            return govsvc.ReviewOutcome(approved=True, reason="符合条件")
        if status == "pending":
            return None
        raise govsvc.AdapterProtocolError(f"task {ticket.legacy_id} is {status}", path="$.status")


class DictResult(PollingRegister):
    async def issue_result(self, ticket: govsvc.ReviewTicket) -> Any:
        return {"number": "许可0001"}  # a dict, not an IssuedResult


class FreshLicences(PollingRegister):
    async def issue_result(self, ticket: govsvc.ReviewTicket) -> Any:
        self.licences[f"{ticket.legacy_id}-{len(self.licences)}"] = ""  # one more every time
        return govsvc.IssuedResult(name="测试许可证", number=f"许可{len(self.licences):04d}")


class KeyErrorCancel(PollingRegister):
    def cancel_review(self, ticket: govsvc.ReviewTicket) -> Any:
        raise KeyError(ticket.legacy_id)


class StrictCancel(PollingRegister):
    def cancel_review(self, ticket: govsvc.ReviewTicket) -> Any:
        if self.status[ticket.legacy_id] != "pending":
            raise govsvc.AdapterProtocolError("the task is no longer pending", path="$.status")
        self.status[ticket.legacy_id] = "withdrawn"


class ChattyCancel(PollingRegister):
    def cancel_review(self, ticket: govsvc.ReviewTicket) -> Any:
        super().cancel_review(ticket)
        return True


def register_department(adapter: Register) -> Department:
    return Department(code=make_credit_code(11, authority="1"), name="登记局", adapter=adapter)


def approver(department: Department) -> Any:
    return department.adapter.approve


@pytest.mark.parametrize("kind", [Register, PollingRegister])
def test_contract_passes_an_adapter_keeping_the_review_contract(
    kind: type[Register], tmp_path: Path
) -> None:
    for name in ("issue", "repeat", "decided"):
        (tmp_path / name).mkdir()
    d = register_department(kind())
    contract.test_issue_result_gives_the_same_licence_for_the_same_ticket(
        d, {}, approver(d), tmp_path / "issue"
    )
    d = register_department(kind())
    contract.test_cancel_review_is_harmless_to_repeat(d, {}, tmp_path / "repeat")
    d = register_department(kind())
    contract.test_cancel_review_of_a_decided_task_is_harmless(
        d, {}, approver(d), tmp_path / "decided"
    )
    assert d.adapter.status == {"T1": "approved"}  # withdrawing a decided task changed nothing


def test_contract_catches_issue_result_answering_a_dict(tmp_path: Path) -> None:
    d = register_department(DictResult())
    with pytest.raises(AssertionError, match=r"issue_result.*returned \{'number'.*IssuedResult"):
        contract.test_issue_result_gives_the_same_licence_for_the_same_ticket(
            d, {}, approver(d), tmp_path
        )


def test_contract_catches_issue_result_issuing_a_second_licence(tmp_path: Path) -> None:
    d = register_department(FreshLicences())
    with pytest.raises(AssertionError, match=r"许可0001, then 测试许可证 许可0002.*already issued"):
        contract.test_issue_result_gives_the_same_licence_for_the_same_ticket(
            d, {}, approver(d), tmp_path
        )


def test_contract_catches_cancel_review_raising_a_key_error(tmp_path: Path) -> None:
    d = register_department(KeyErrorCancel())
    with pytest.raises(pytest.fail.Exception, match=r"cancel_review.*raised KeyError.*only"):
        contract.test_cancel_review_is_harmless_to_repeat(d, {}, tmp_path)


def test_contract_catches_cancel_review_refusing_a_task_no_longer_pending(
    tmp_path: Path,
) -> None:
    (tmp_path / "repeat").mkdir()
    (tmp_path / "decided").mkdir()
    with pytest.raises(pytest.fail.Exception, match="withdrawing it again must change nothing"):
        contract.test_cancel_review_is_harmless_to_repeat(
            register_department(StrictCancel()), {}, tmp_path / "repeat"
        )
    d = register_department(StrictCancel())
    with pytest.raises(pytest.fail.Exception, match="must leave the decision as it is"):
        contract.test_cancel_review_of_a_decided_task_is_harmless(
            d, {}, approver(d), tmp_path / "decided"
        )


def test_contract_catches_cancel_review_answering_something(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"cancel_review.*returned True; return None"):
        contract.test_cancel_review_is_harmless_to_repeat(
            register_department(ChattyCancel()), {}, tmp_path
        )


def test_contract_without_a_way_to_approve_skips_saying_what_to_define(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="define a fixture govsvc_contract_approve"):
        contract.test_issue_result_gives_the_same_licence_for_the_same_ticket(
            register_department(Register()), {}, None, tmp_path
        )


class NeedsAForm:
    """A legacy system that refuses a review task without its own form field."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}

    def open_review(self, request: govsvc.ReviewRequest) -> str:
        if "registrationType" not in request.form:
            raise govsvc.AdapterProtocolError(
                "registrationType is missing", path="$.form.registrationType"
            )
        return self.tasks.setdefault(request.task_id, f"T{len(self.tasks) + 1}")


def test_contract_review_cases_carry_the_samples_form(tmp_path: Path) -> None:
    code = make_credit_code(10, authority="1")
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    samples = {"form": {"registrationType": "birth"}}
    department = Department(code=code, name="表单局", adapter=NeedsAForm())
    contract.test_open_review_is_idempotent_on_the_task_id(department, samples, tmp_path / "with")
    department = Department(code=code, name="表单局", adapter=NeedsAForm())
    with pytest.raises(AssertionError, match="registrationType"):
        contract.test_open_review_is_idempotent_on_the_task_id(department, {}, tmp_path / "without")


def test_contract_catches_malformed_departments() -> None:
    class WrongArity:
        def profile(self) -> None: ...

        def poll_reviews(self, ticket: object) -> None: ...

    bad_arity = Department(code=make_credit_code(6, authority="1"), name="甲", adapter=WrongArity())
    with pytest.raises(AssertionError, match="did you mean 'poll_review'"):
        contract.test_department_is_well_formed(bad_arity)

    class OnlyWrongArity:
        def profile(self, key: object, extra: object) -> None: ...

    department = Department(
        code=make_credit_code(6, authority="1"), name="乙", adapter=OnlyWrongArity()
    )
    with pytest.raises(pytest.fail.Exception, match="cannot be called with 1 positional"):
        contract.test_department_is_well_formed(department)

    nothing = Department(code=make_credit_code(6, authority="1"), name="丙", adapter=object())
    with pytest.raises(AssertionError, match="implements none of the operations"):
        contract.test_department_is_well_formed(nothing)

    # a code only the lax check accepts could never be named by a service item: refused
    lax = "11230100MB0000120P"
    assert CreditCode.parse(lax, strict=False)
    with pytest.raises(InvalidIdentifier, match="GB 11714"):
        Department(code=lax, name="丁", adapter=SloppyAdapter())


def test_contract_module_is_star_import_friendly() -> None:
    assert sorted(contract.__all__) == sorted(
        name for name in vars(contract) if name.startswith("test_")
    )
    namespace: dict[str, Any] = {}
    exec("from govsvc.testing.contract import *", namespace)
    assert {n for n in namespace if not n.startswith("__")} == set(contract.__all__)


# --- the tutorial shows the example's real code ----------------------------------------------

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
_MARK = re.compile(r"# file: (plugins/example/\S+)\n")


def file_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        mark = _MARK.match(match["body"])
        if mark:
            found.append((mark[1], match["body"][mark.end() :]))
    return found


def test_tutorial_code_is_the_example_plugin_code() -> None:
    blocks = file_blocks()
    shown = {path for path, _ in blocks}
    assert {
        "plugins/example/pyproject.toml",
        "plugins/example/src/govsvc_example/legacy.py",
        "plugins/example/src/govsvc_example/adapter.py",
        "plugins/example/src/govsvc_example/plugin.py",
        "plugins/example/tests/conftest.py",
        "plugins/example/tests/test_contract.py",
    } <= shown
    for path, body in blocks:
        actual = (ROOT / path).read_text(encoding="utf-8")
        assert body == actual, (
            f"docs/adapters.md shows {path} differently from the file; copy the file into the "
            f"block again (after its '# file:' line)"
        )


def test_tutorial_python_blocks_marked_as_files_are_python() -> None:
    text = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        mark = _MARK.match(match["body"])
        if mark and mark[1].endswith(".py"):
            assert match["lang"] == "python", f"{mark[1]} is shown in a {match['lang']!r} block"
