"""The plugin contract: validation before registration, every hook, entry points, meta-tests."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import re
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

import govsvc
from govsvc import hookimpl, hookspecs
from govsvc.plugins import HOOK_NAMES, Registry, load_plugins
from govsvc.testing import applicant_of, clerk_for
from tests.conftest import sample_catalogue
from tests.departments import HRSS, PSB, SAMR, FakeLegacy, plugin_for

ROOT = Path(__file__).resolve().parent.parent


def module(name: str, **members: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in members.items():
        setattr(mod, key, value)
    return mod


# --- validation ----------------------------------------------------------------------------------


def test_a_misspelt_hook_fails_naming_plugin_and_hook() -> None:
    @hookimpl
    def govsvc_departmnets() -> list[Any]:
        return []

    with pytest.raises(govsvc.PluginError) as err:
        load_plugins(
            [module("typo_plugin", govsvc_departmnets=govsvc_departmnets)], entry_points=False
        )
    message = str(err.value)
    assert "typo_plugin" in message and "govsvc_departmnets" in message
    assert "did you mean 'govsvc_departments'" in message


def test_a_marked_function_without_the_prefix_fails() -> None:
    @hookimpl
    def departments() -> list[Any]:
        return []

    with pytest.raises(govsvc.PluginError, match=r"'departments'.*govsvc_"):
        load_plugins([module("noprefix", departments=departments)], entry_points=False)


def test_an_implementation_asking_for_unknown_arguments_fails() -> None:
    @hookimpl
    def govsvc_case_event(event: Any, case: Any, platform: Any) -> None:
        return None

    with pytest.raises(govsvc.PluginError, match="platform"):
        load_plugins([module("greedy", govsvc_case_event=govsvc_case_event)], entry_points=False)


def test_validation_happens_before_anything_is_registered() -> None:
    @hookimpl
    def govsvc_departments() -> list[Any]:
        return []

    def govsvc_deprtments() -> list[Any]:
        return []

    bad = module("half", govsvc_departments=govsvc_departments, govsvc_deprtments=govsvc_deprtments)
    pm = load_plugins(entry_points=False)
    with pytest.raises(govsvc.PluginError):
        pm.add(bad)
    assert not pm.is_registered(bad)
    assert pm.hook.govsvc_departments() == []


def test_wrong_return_types_fail_naming_the_hook() -> None:
    @hookimpl
    def govsvc_departments() -> Any:
        return {"code": SAMR}

    pm = load_plugins([module("dicty", govsvc_departments=govsvc_departments)], entry_points=False)
    with pytest.raises(
        govsvc.PluginError, match=r"dicty.*govsvc_departments.*list of govsvc\.Department"
    ):
        Registry.collect(pm)

    @hookimpl
    def govsvc_payment_providers() -> Any:
        return ["alipay"]

    pm = load_plugins(
        [module("stringy", govsvc_payment_providers=govsvc_payment_providers)], entry_points=False
    )
    with pytest.raises(
        govsvc.PluginError, match=r"str at position 0; expected govsvc\.PaymentProvider"
    ):
        Registry.collect(pm)


def test_two_plugins_claiming_one_department_fail_naming_both() -> None:
    first = plugin_for({SAMR: FakeLegacy(SAMR)})
    second = plugin_for({SAMR: FakeLegacy(SAMR)})
    pm = load_plugins([first, second], entry_points=False)
    with pytest.raises(govsvc.PluginError) as err:
        Registry.collect(pm)
    assert "Conflicting plugins found for department 11230100013114525L" in str(err.value)
    assert str(err.value).count("plugin '") == 2


def pm_name(plugin: object) -> str:
    return load_plugins(entry_points=False).get_canonical_name(plugin)


class Bureau:
    """A plugin registering one department that claims some profile attributes."""

    def __init__(self, code: str, name: str, *claims: str) -> None:
        self.department = govsvc.Department(
            code=code, name=name, adapter=FakeLegacy(code), authoritative_for=claims
        )

    @hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [self.department]


def test_two_departments_claiming_one_attribute_fail_naming_both(tmp_path: Path) -> None:
    # The example's 民政局 and a newly installed plugin both claimed marital_status.
    from govsvc_example import plugin as example

    newcomer = Bureau(PSB, "哈尔滨市公安局", "name", "marital_status")
    with pytest.raises(govsvc.PluginError) as err:
        govsvc.Platform.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            load_entry_points=False,
            plugins=[example, newcomer],
        )
    message = str(err.value)
    assert message.startswith("Conflicting authorities (一数一源): 'marital_status' is claimed by ")
    claimants = message.split(" is claimed by ")[1].split(". ")[0].split(" and by ")
    assert set(claimants) == {
        "示例县民政局 (11230199MB0000019A, plugin 'govsvc_example.plugin' (govsvc-example))",
        f"哈尔滨市公安局 ({PSB}, plugin {pm_name(newcomer)!r} (tests (not installed)))",
    }
    assert "authorities={'marital_status': " in message
    assert "'name'" not in message  # claimed by one department only: no conflict
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_a_configured_priority_settles_a_conflict(tmp_path: Path) -> None:
    first = Bureau(SAMR, "哈尔滨市市场监督管理局", "address", "enterprises")
    second = Bureau(PSB, "哈尔滨市公安局", "address", "name")
    pm = load_plugins([first, second], entry_points=False)
    registry = Registry.collect(pm)
    with pytest.raises(govsvc.PluginError, match=r"'address' is claimed by .* and by "):
        registry.authorities()
    assert registry.authorities({"address": PSB.lower()}) == {
        "address": PSB,
        "enterprises": SAMR,
        "name": PSB,
    }
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}",
        load_entry_points=False,
        plugins=[first, second],
        authorities={"address": PSB},
    ) as p:
        assert set(p.departments) == {SAMR, PSB}
    with pytest.raises(govsvc.InvalidInput) as err:
        registry.authorities({"address": HRSS})
    assert str(err.value).startswith(
        f"authorities['address'] names department {HRSS}, which no plugin registers; "
        f"registered departments: "
    )
    assert f"哈尔滨市市场监督管理局 ({SAMR})" in str(err.value)


def test_platform_open_refuses_a_malformed_plugin(tmp_path: Path) -> None:
    def govsvc_calendar() -> list[Any]:
        return []

    with pytest.raises(govsvc.PluginError, match="govsvc_calendars"):
        govsvc.Platform.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            load_entry_points=False,
            plugins=[module("cal", govsvc_calendar=govsvc_calendar)],
        )
    assert not (tmp_path / "x.db").exists()  # nothing was opened


# --- entry points ---------------------------------------------------------------------------


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake distributions on sys.path: a good plugin and one whose import fails."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "good_dept.py").write_text(
        textwrap.dedent(f"""
        from govsvc import Department, hookimpl

        class Adapter:
            def health(self):
                return True

        @hookimpl
        def govsvc_departments():
            return [Department(code="{PSB}", name="哈尔滨市公安局", adapter=Adapter())]
    """),
        encoding="utf-8",
    )
    (site / "broken_dept.py").write_text(
        "raise ImportError('missing dependency zeep')\n", encoding="utf-8"
    )
    for dist, mod in (("good_dept", "good_dept"), ("broken_dept", "broken_dept")):
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(f"[govsvc]\n{mod} = {mod}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("good_dept", "broken_dept"):
        sys.modules.pop(name, None)


def test_entry_points_load_and_a_broken_one_is_skipped(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="govsvc.plugins"):
        pm = load_plugins(environ={"GOVSVC_LOAD_PLUGINS": "good_dept,broken_dept"})
    assert pm.has_plugin("good_dept") and not pm.has_plugin("broken_dept")
    assert pm.distribution("good_dept") == "good_dept"
    assert "broken_dept" in caplog.text
    assert PSB in Registry.collect(pm).departments


def test_load_plugins_allow_list(installed: Path) -> None:
    assert not load_plugins(environ={"GOVSVC_LOAD_PLUGINS": ""}).has_plugin("good_dept")
    assert load_plugins(environ={"GOVSVC_LOAD_PLUGINS": "good_dept"}).has_plugin("good_dept")


def test_an_allow_list_naming_a_plugin_not_installed_fails_listing_the_installed(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(govsvc.PluginError) as err:
        load_plugins(environ={"GOVSVC_LOAD_PLUGINS": "good_dpet, good_dept,nowhere"})
    message = str(err.value)
    assert message.startswith(
        "GOVSVC_LOAD_PLUGINS names 'good_dpet' (did you mean 'good_dept'?), 'nowhere', which "
        "are not installed"
    )
    installed_names = message.split("; installed: ")[1].split(". ")[0].split(", ")
    assert {"good_dept", "broken_dept", "example"} <= set(installed_names)
    assert installed_names == sorted(installed_names)
    assert "remove the name from GOVSVC_LOAD_PLUGINS" in message
    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "samrr")
    with pytest.raises(govsvc.PluginError, match=r"'samrr' \(did you mean 'samr'\?\), which is"):
        govsvc.Platform.open(f"sqlite:///{installed / 'x.db'}")
    assert not (installed / "x.db").exists()


def test_trace_plugins_logs_hook_calls(caplog: pytest.LogCaptureFixture) -> None:
    pm = load_plugins(entry_points=False, environ={"GOVSVC_TRACE_PLUGINS": "1"})
    with caplog.at_level(logging.INFO, logger="govsvc.plugins"):
        pm.hook.govsvc_delivery_providers()
    assert "hook govsvc_delivery_providers" in caplog.text


# --- one test per hook (meta-tested below) -----------------------------------------------------


def test_hook_govsvc_departments(tmp_path: Path) -> None:
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}",
        load_entry_points=False,
        plugins=[plugin_for({SAMR: FakeLegacy(SAMR)})],
    ) as p:
        assert list(p.departments) == [SAMR]
        assert p.departments[SAMR].operations == (
            "profile",
            "certificates",
            "open_review",
            "poll_review",
            "issue_result",
            "health",
        )


def test_hook_govsvc_service_items(tmp_path: Path) -> None:
    item, versions = sample_catalogue()[0]

    @hookimpl
    def govsvc_service_items() -> list[govsvc.ItemBundle]:
        return [govsvc.ItemBundle(item, tuple(versions))]

    plugin = module("items_plugin", govsvc_service_items=govsvc_service_items)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with govsvc.Platform.open(url, load_entry_points=False, plugins=[plugin]) as p:
        # Opening publishes nothing by itself: publishing plugin items is an explicit step.
        assert p.public().catalogue.items() == []
        assert p.publish_plugin_items() == list(versions)
        assert p.public().catalogue.version(item.implementation_code).version == len(versions)
    with govsvc.Platform.open(
        url, load_entry_points=False, plugins=[plugin], publish_plugin_items=True
    ) as p:  # idempotent
        assert p.publish_plugin_items() == []
        catalogue = p.public().catalogue
        assert [i.implementation_code for i in catalogue.items()] == [item.implementation_code]


REGISTRATION_HOOKS = sorted(
    name
    for name in HOOK_NAMES
    if str(inspect.signature(getattr(hookspecs, name)).return_annotation).startswith("Sequence[")
)
"""The hooks that register objects (they return a list), read from the spec itself."""


def test_every_hook_but_the_broadcast_and_first_result_ones_registers() -> None:
    # So the parametrized test below covers a registration hook added to the spec later.
    assert set(HOOK_NAMES) - set(REGISTRATION_HOOKS) == {
        "govsvc_case_event",
        "govsvc_certificate_event",
        "govsvc_certificate_face",
        "govsvc_policy",
    }


@pytest.mark.parametrize("hook", REGISTRATION_HOOKS)
def test_a_registration_hook_returning_none_is_an_error_naming_the_plugin(
    hook: str, tmp_path: Path
) -> None:
    def forgot_the_return() -> None:
        pass

    plugin = module("forgetful", **{hook: hookimpl(forgot_the_return)})
    with pytest.raises(
        govsvc.PluginError, match=rf"'forgetful'.*{hook} returned None.*return \[\]"
    ):
        govsvc.Platform.open(
            f"sqlite:///{tmp_path / 'x.db'}", load_entry_points=False, plugins=[plugin]
        )
    assert not (tmp_path / "x.db").exists()


def test_hook_govsvc_identity_providers() -> None:
    @hookimpl
    def govsvc_identity_providers() -> list[govsvc.IdentityProvider]:
        tokens = {"t-1": "230103198503120316"}
        return [
            govsvc.IdentityProvider(
                name="hljzwfw",
                label="黑龙江政务服务网",
                verify=lambda token: govsvc.PartyKey.of(tokens[token]) if token in tokens else None,
            )
        ]

    pm = load_plugins(
        [module("idp", govsvc_identity_providers=govsvc_identity_providers)], entry_points=False
    )
    provider = Registry.collect(pm).identity_providers["hljzwfw"]
    assert provider.verify("t-1") == govsvc.PartyKey.of("230103198503120316")
    assert provider.verify("forged") is None


def test_hook_govsvc_payment_providers() -> None:
    @hookimpl
    def govsvc_payment_providers() -> list[govsvc.PaymentProvider]:
        return [
            govsvc.PaymentProvider(
                name="nontax",
                label="非税收入统一缴款",
                create_payment=lambda case_id, amount: f"PAY-{case_id}-{amount}",
            )
        ]

    pm = load_plugins(
        [module("pay", govsvc_payment_providers=govsvc_payment_providers)], entry_points=False
    )
    assert (
        Registry.collect(pm).payment_providers["nontax"].create_payment("c1", "12.50")
        == "PAY-c1-12.50"
    )


def test_hook_govsvc_delivery_providers() -> None:
    @hookimpl
    def govsvc_delivery_providers() -> list[govsvc.DeliveryProvider]:
        return [govsvc.DeliveryProvider(name="ems", label="EMS 邮寄", ship=lambda c, a: f"EMS-{c}")]

    pm = load_plugins(
        [module("ems", govsvc_delivery_providers=govsvc_delivery_providers)], entry_points=False
    )
    providers = Registry.collect(pm).delivery_providers
    assert set(providers) == {"window", "electronic", "ems"}  # built-ins are ordinary plugins
    assert providers["ems"].ship("c1", "哈尔滨") == "EMS-c1"


def test_hook_govsvc_calendars(tmp_path: Path) -> None:
    data = govsvc.CalendarData.from_dict(
        {
            "region": "CN",
            "source": "plugin",
            "years": {"2027": {"holidays": {"2027-01-01": "元旦"}, "workdays": {}}},
        }
    )

    @hookimpl
    def govsvc_calendars() -> list[govsvc.CalendarData]:
        return [data]

    plugin = module("cal2027", govsvc_calendars=govsvc_calendars)
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[plugin]
    ) as p:
        assert p.calendar.has_data(2027)
        assert not p.calendar.is_workday(dt.date(2027, 1, 1))


def test_hook_govsvc_case_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, str]] = []

    @hookimpl
    def govsvc_case_event(event: govsvc.CaseEvent, case: govsvc.Case) -> None:
        seen.append((event.kind.value, case.state.value))

    @hookimpl
    def broken_listener(event: govsvc.CaseEvent, case: govsvc.Case) -> None:
        raise RuntimeError("SMS gateway down")

    listener = module("listener", govsvc_case_event=govsvc_case_event)
    broken = module("sms", govsvc_case_event=broken_listener)
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[listener, broken]
    ) as p:
        case = _apply_and_accept(p, caplog)
    assert seen == [("drafted", "draft"), ("submitted", "submitted"), ("accepted", "in_review")]
    assert case.state is govsvc.CaseState.IN_REVIEW  # the failing listener changed nothing
    assert "SMS gateway down" in caplog.text


def _apply_and_accept(p: govsvc.Platform, caplog: pytest.LogCaptureFixture) -> govsvc.Case:
    item, versions = next((i, v) for i, v in sample_catalogue() if i.name == "社会保障卡申领")
    p.system().catalogue.import_items([(item, versions)])
    person = govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")
    mats = [
        govsvc.ProvidedMaterial(code=m.code, filename=f"a.{m.formats[0]}")
        for m in versions[-1].materials
        if m.necessity is govsvc.Necessity.REQUIRED
    ]
    with caplog.at_level(logging.ERROR, logger="govsvc.platform"):
        case = p.session(applicant_of(person)).cases.apply(
            item.implementation_code, person, materials=mats
        )
        return p.session(clerk_for(case.agency)).cases.accept(case)


def test_hook_govsvc_event_listeners(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    accepted: list[str] = []
    everything: list[str] = []

    @hookimpl
    def govsvc_event_listeners() -> list[govsvc.EventListener]:
        return [
            govsvc.EventListener(
                name="sms",
                kinds={govsvc.EventKind.ACCEPTED},
                handle=lambda event, case: accepted.append(case.tracking_code),
            ),
            govsvc.EventListener(
                name="warehouse", handle=lambda event, case: everything.append(event.kind.value)
            ),
            govsvc.EventListener(
                name="broken", kinds=govsvc.EventKind.SUBMITTED, handle=lambda e, c: 1 / 0
            ),
        ]

    plugin = module("listeners", govsvc_event_listeners=govsvc_event_listeners)
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[plugin]
    ) as p:
        subscribed: list[str] = []
        listener = p.subscribe(govsvc.EventKind.DRAFTED, lambda e, c: subscribed.append(c.id))
        case = _apply_and_accept(p, caplog)
        p.unsubscribe(listener)
    assert accepted == [case.tracking_code]  # only the kind it asked for
    assert everything == ["drafted", "submitted", "accepted"]
    assert subscribed == [case.id]
    assert "listener broken failed on submitted" in caplog.text
    assert case.state is govsvc.CaseState.IN_REVIEW


def test_hook_govsvc_policy(tmp_path: Path) -> None:
    class NoRefusals:
        """A province that forbids refusing at the window without a supervisor's review."""

        def __init__(self, inner: govsvc.Policy) -> None:
            self.inner = inner

        def allowed(
            self, principal: govsvc.Principal, action: govsvc.Action, resource: govsvc.Resource
        ) -> govsvc.Decision:
            if action is govsvc.Action.CASE_REFUSE:
                return govsvc.Decision.deny("province.no-refusals", "refusals go to supervision")
            return self.inner.allowed(principal, action, resource)

    @hookimpl
    def govsvc_policy(default: govsvc.Policy) -> govsvc.Policy:
        return NoRefusals(default)

    plugin = module("province", govsvc_policy=govsvc_policy)
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[plugin]
    ) as p:
        assert isinstance(p.policy, NoRefusals)
        item, versions = next((i, v) for i, v in sample_catalogue() if i.name == "社会保障卡申领")
        p.system().catalogue.import_items([(item, versions)])
        person = govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")
        case = p.session(applicant_of(person)).cases.apply(item.implementation_code, person)
        clerk = p.session(clerk_for(case.agency))
        with pytest.raises(govsvc.PermissionDenied, match=r"province\.no-refusals"):
            clerk.cases.refuse(case, reason="材料不全", basis="《行政许可法》第三十二条")
        assert clerk.cases.prereview(case).state is govsvc.CaseState.SUPPLEMENT_NEEDED
    explicit = govsvc.DefaultPolicy()
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'q.db'}", load_entry_points=False, plugins=[plugin], policy=explicit
    ) as p:
        assert p.policy is explicit  # Platform.open(policy=...) overrides any plugin


# --- meta-tests (datasette's habit) ------------------------------------------------------------


def _signature(name: str) -> str:
    spec = getattr(hookspecs, name)
    params = ", ".join(
        f"{p.name}: {p.annotation}" for p in inspect.signature(spec).parameters.values()
    )
    return f"{name}({params}) -> {inspect.signature(spec).return_annotation}"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    docs = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("**/*.md"))
    missing = [_signature(name) for name in sorted(HOOK_NAMES) if _signature(name) not in docs]
    assert missing == [], f"document these hooks in docs/adapters.md: {missing}"


def test_every_hook_has_a_test() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    missing = [n for n in sorted(HOOK_NAMES) if not re.search(rf"def test_hook_{n}\b", tests)]
    assert missing == []


def test_the_marker_is_exported_and_the_spec_marker_is_not() -> None:
    assert govsvc.hookimpl is hookspecs.hookimpl
    assert "hookspec" not in govsvc.__all__
