"""The test kit for plugin authors: a pytest plugin, factories and a contract suite.

Opt in from a test module or your top-level ``conftest.py``::

    pytest_plugins = ["govsvc.testing"]

or on the command line with ``pytest -p govsvc.testing``. You get:

* fixtures ``govsvc_clock`` (a :class:`FakeClock`), ``govsvc_plugins`` (override it to list
  your plugin modules), ``govsvc_plugin_manager`` and ``govsvc_platform`` (a throwaway
  Platform on a temporary SQLite file, closed after the test);
* factories :func:`make_citizen_id`, :func:`make_credit_code`, :func:`make_person`,
  :func:`make_organisation`, :func:`make_item` and :func:`make_case`;
* test principals, authenticated as :data:`TEST_LOGIN`: :func:`applicant_of` (a person, or
  an organisation's agent), :func:`clerk_for`, :func:`reviewer_of`, :func:`approver_of`,
  :func:`supervisor_of`, :func:`system_of` (a department's own system) — bind them with
  ``platform.session(principal)``;
* :func:`serve_app` (serve a simulator over loopback HTTP in a background thread) and
  :func:`refused_url` (a loopback address where nothing listens);
* the department adapter contract suite (:mod:`govsvc.testing.contract`), either through
  ``from govsvc.testing.contract import *`` with your own ``govsvc_contract_department``
  fixture, or with ``pytest -p govsvc.testing --govsvc-contract=<entry point name>``.

The helpers work outside pytest's plugin machinery too, e.g. in a seeding script.

PYTEST_DONT_REWRITE: test modules often import this package before pytest registers it as a
plugin (``pytest_plugins`` is read after the import), and it has no asserts to rewrite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from govsvc import (
    ENTRY_POINT_GROUP,
    Department,
    Platform,
    PluginError,
    PluginManager,
    Registry,
    WorkPolicy,
    load_plugins,
)
from govsvc.testing.factories import (
    TEST_LOGIN,
    FakeClock,
    applicant_of,
    approver_of,
    clerk_for,
    make_case,
    make_citizen_id,
    make_credit_code,
    make_item,
    make_organisation,
    make_person,
    reviewer_of,
    supervisor_of,
    system_of,
)
from govsvc.testing.server import refused_url, serve_app

__all__ = [
    "CONTRACT_MARKER",
    "TEST_LOGIN",
    "FakeClock",
    "applicant_of",
    "approver_of",
    "clerk_for",
    "contract_departments",
    "make_case",
    "make_citizen_id",
    "make_credit_code",
    "make_item",
    "make_organisation",
    "make_person",
    "refused_url",
    "reviewer_of",
    "serve_app",
    "supervisor_of",
    "system_of",
]

CONTRACT_MARKER = "govsvc_contract"
"""Marker put on every contract test, so ``-m govsvc_contract`` selects only them."""

# The fixtures are deliberately not in __all__: ``from govsvc.testing import *`` in a test
# module would make them module-level fixtures that shadow the overrides in your conftest.

# The contract's failures should show pytest's assertion introspection; this must run before
# the module is imported, i.e. here, when a test module star-imports it through this package.
pytest.register_assert_rewrite("govsvc.testing.contract")

_CONTRACT_PATH = Path(__file__).with_name("contract.py").resolve()
_CONTRACT_MODULE = "govsvc.testing.contract"
_SAMPLE_KEYS = ("known_party", "unknown_party")


# --- command line ----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("govsvc", "govsvc department adapter contract")
    group.addoption(
        "--govsvc-contract",
        action="append",
        default=[],
        metavar="NAME",
        help="run the govsvc adapter contract suite against every department the plugin "
        "installed under this 'govsvc' entry point registers (repeatable)",
    )
    group.addoption(
        "--govsvc-contract-sample",
        action="append",
        default=[],
        metavar="KEY=NUMBER",
        help="a sample party for the contract suite: known_party=NUMBER (a number the legacy "
        "system knows) or unknown_party=NUMBER (a valid number it does not know)",
    )


def _contract_names(config: pytest.Config) -> list[str]:
    # getoption fails for an option added after parsing (the plugin was loaded late, from a
    # test module's pytest_plugins): then the command-line way is simply not in use.
    try:
        names: list[str] = config.getoption("govsvc_contract")
    except ValueError:
        return []
    return names or []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{CONTRACT_MARKER}: a govsvc department adapter contract test"
    )
    names = _contract_names(config)
    for name in names:
        contract_departments(name)  # a wrong name stops the run here, with a clear message
    if names:
        path = str(_CONTRACT_PATH)
        if path not in config.args:
            config.args.append(path)


def _is_contract_module(metafunc: pytest.Metafunc) -> bool:
    return Path(str(metafunc.definition.path)).resolve() == _CONTRACT_PATH


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = _contract_names(metafunc.config)
    if not names or "govsvc_contract_department" not in metafunc.fixturenames:
        return
    if not _is_contract_module(metafunc):
        return  # a module that star-imports the suite brings its own department fixture
    params = [(name, code) for name in names for code in sorted(contract_departments(name))]
    metafunc.parametrize(
        "govsvc_contract_department",
        params,
        indirect=True,
        ids=[f"{name}:{code}" for name, code in params],
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects, so the marker can select the suite
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        if getattr(function, "__module__", None) == _CONTRACT_MODULE:
            item.add_marker(CONTRACT_MARKER)


def pytest_report_header(config: pytest.Config) -> str | None:
    names = _contract_names(config)
    return f"govsvc contract suite for: {', '.join(names)}" if names else None


def contract_departments(entry_point: str) -> dict[str, Department]:
    """The departments (by credit code) that the plugin under a ``govsvc`` entry point
    registers, each with a fresh adapter: the plugin's hook is called again every time."""
    registry = Registry.collect(_contract_plugins(entry_point))
    if not registry.departments:
        raise pytest.UsageError(
            f"--govsvc-contract={entry_point}: the plugin registers no department; implement "
            f"the govsvc_departments hook"
        )
    return dict(registry.departments)


@functools.cache
def _contract_plugins(entry_point: str) -> PluginManager:
    # Cached: finding and validating the plugin scans every installed distribution, and
    # each contract test asks for its departments again (for a fresh adapter).
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == entry_point]
    if not found:
        known = sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
        raise pytest.UsageError(
            f"--govsvc-contract={entry_point}: no plugin is installed under that name in the "
            f"'{ENTRY_POINT_GROUP}' entry-point group; installed: {', '.join(known) or 'none'}. "
            f"Install your distribution (pip install -e .) and check [project.entry-points."
            f"{ENTRY_POINT_GROUP}] in its pyproject.toml"
        )
    try:
        return load_plugins([found[0].load()], entry_points=False)
    except (ImportError, PluginError) as exc:
        raise pytest.UsageError(
            f"--govsvc-contract={entry_point}: the plugin could not be loaded: {exc}"
        ) from exc


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def govsvc_clock() -> FakeClock:
    """A clock the test moves by hand; starts Monday 2026-03-02 09:00 China time."""
    return FakeClock()


@pytest.fixture
def govsvc_plugins() -> list[object]:
    """The plugins ``govsvc_plugin_manager`` and ``govsvc_platform`` load: override it in
    your conftest to return your plugin modules or objects (entry points are never loaded)."""
    return []


@pytest.fixture
def govsvc_plugin_manager(govsvc_plugins: list[object]) -> PluginManager:
    """A fresh plugin manager with the built-in plugins and ``govsvc_plugins``."""
    return load_plugins(govsvc_plugins, entry_points=False)


@pytest.fixture
def govsvc_platform(
    tmp_path: Path, govsvc_plugins: list[object], govsvc_clock: FakeClock
) -> Iterator[Platform]:
    """A throwaway Platform on a temporary SQLite file with ``govsvc_plugins``, closed after.

    Its workers are eager (:meth:`govsvc.WorkPolicy.eager`): each ``poll()`` asks every
    pending task again, so a test can decide at the simulator and poll straight away."""
    platform = Platform.open(
        f"sqlite:///{tmp_path}/govsvc.db",
        plugins=govsvc_plugins,
        load_entry_points=False,
        clock=govsvc_clock,
        work_policy=WorkPolicy.eager(),
    )
    try:
        yield platform
    finally:
        platform.close()


@pytest.fixture
def govsvc_contract_department(request: pytest.FixtureRequest) -> Department:
    """The department the contract suite checks. Override it in your conftest.py (return a
    fresh ``govsvc.Department`` for every test), or run ``--govsvc-contract=NAME``."""
    param: Any = getattr(request, "param", None)
    if param is None:
        pytest.fail(
            "the govsvc contract suite needs a department: define a fixture "
            "govsvc_contract_department returning your govsvc.Department in conftest.py, or "
            "run pytest -p govsvc.testing --govsvc-contract=<your entry point name>",
            pytrace=False,
        )
    name, code = param
    return contract_departments(name)[code]


@pytest.fixture
def govsvc_contract_samples(request: pytest.FixtureRequest) -> dict[str, str]:
    """Sample parties for the contract suite: ``known_party`` (a number the legacy system
    knows) and ``unknown_party`` (a valid number it does not know). Default: those given with
    ``--govsvc-contract-sample KEY=NUMBER``, else none (the tests that need them skip)."""
    try:
        given: list[str] = request.config.getoption("govsvc_contract_sample") or []
    except ValueError:
        given = []
    samples: dict[str, str] = {}
    for text in given:
        key, sep, number = text.partition("=")
        if not sep or key.strip() not in _SAMPLE_KEYS or not number.strip():
            raise pytest.UsageError(
                f"--govsvc-contract-sample {text!r}: write KEY=NUMBER with KEY one of "
                f"{', '.join(_SAMPLE_KEYS)}"
            )
        samples[key.strip()] = number.strip()
    return samples
