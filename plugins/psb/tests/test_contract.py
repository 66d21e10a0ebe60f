"""The govsvc adapter contract suite (govsvc.testing), run against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from govsvc_psb import plugin, seed
from starlette.applications import Starlette

from govsvc import Department, ReviewTicket
from govsvc.testing.contract import *  # noqa: F403

pytest_plugins = ["govsvc.testing"]


@pytest.fixture
def contract_simulator(simulator: Callable[..., tuple[str, Starlette]]) -> str:
    """The base URL of a fresh simulator for one contract test."""
    base_url, _ = simulator()
    return base_url


@pytest.fixture
def govsvc_contract_department(
    contract_simulator: str, monkeypatch: pytest.MonkeyPatch
) -> Department:
    """The department exactly as the plugin registers it, pointed at a fresh simulator."""
    monkeypatch.setenv("GOVSVC_PSB_URL", contract_simulator)
    (department,) = plugin.govsvc_departments()
    return department


@pytest.fixture
def govsvc_contract_approve(contract_simulator: str) -> Callable[[ReviewTicket], None]:
    """The bureau's clerk approves a task in the back office (the simulator's control)."""

    def approve(ticket: ReviewTicket) -> None:
        response = httpx.post(
            f"{contract_simulator}/admin/review-tasks/{ticket.legacy_id}/decision",
            json={"approve": True, "reason": "契约测试：准予"},
        )
        response.raise_for_status()

    return approve


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
