"""The layers are kept by import-linter contracts (run by `make lint`); this keeps the
contracts themselves whole: the public-names contract must name every private module."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import govsvc

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = {
    "govsvc.adapterkit",
    "govsvc.ecert",
    "govsvc.events",
    "govsvc.faultkit",
    "govsvc.testing",
    "govsvc.vocabulary",
}


def contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_the_public_names_contract_forbids_every_other_module() -> None:
    contract = next(c for n, c in contracts().items() if n.startswith("Plugins, the reference host"))
    modules = {f"govsvc.{m.name}" for m in pkgutil.iter_modules(govsvc.__path__)}
    assert set(contract["forbidden_modules"]) == modules - PUBLIC_MODULES  # type: ignore[arg-type]


def test_every_plugin_is_held_to_the_public_names() -> None:
    contract = next(c for n, c in contracts().items() if n.startswith("Plugins, the reference host"))
    plugins = {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    assert {f"govsvc_{p}" for p in plugins} | {"govsvc.testing", "govsvc_host"} == set(
        contract["source_modules"]  # type: ignore[arg-type]
    )


def test_the_domain_contract_covers_the_domain_modules() -> None:
    contract = next(c for n, c in contracts().items() if n.startswith("The domain is pure"))
    domain = set(contract["source_modules"])  # type: ignore[arg-type]
    # Every module that is neither infrastructure nor a public edge is domain.
    infrastructure = {
        "govsvc.store", "govsvc.services", "govsvc.platform", "govsvc.exchange", "govsvc.plugins",
        "govsvc.cli", "govsvc.demo", "govsvc.hookspecs", "govsvc._builtin", "govsvc._converter",
        "govsvc._frozen", "govsvc._text", "govsvc.errors", "govsvc.catalogue_io",
    }
    modules = {f"govsvc.{m.name}" for m in pkgutil.iter_modules(govsvc.__path__)}
    edges = {"govsvc.adapterkit", "govsvc.faultkit", "govsvc.testing"}
    assert domain == modules - infrastructure - edges
