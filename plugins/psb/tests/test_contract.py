"""The govsvc adapter contract suite (govsvc.testing), run against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from govsvc_psb import plugin, seed
from starlette.applications import Starlette

from govsvc import Department
from govsvc.testing.contract import *  # noqa: F403

pytest_plugins = ["govsvc.testing"]


@pytest.fixture
def govsvc_contract_department(
    simulator: Callable[..., tuple[str, Starlette]], monkeypatch: pytest.MonkeyPatch
) -> Department:
    """The department exactly as the plugin registers it, pointed at a fresh simulator."""
    base_url, _ = simulator()
    monkeypatch.setenv("GOVSVC_PSB_URL", base_url)
    (department,) = plugin.govsvc_departments()
    return department


@pytest.fixture
def govsvc_contract_samples() -> dict[str, Any]:
    # 孙悦 is known to neither bureau until her registration / card is issued. The register
    # refuses a review task without a registration form (as the real one would), so the
    # suite's cases carry the newborn's birth registration form.
    return {
        "known_party": "230103198503120316",
        "unknown_party": "230103202401050029",
        "form": dict(seed.NEWBORN_BIRTH_FORM),
    }
