"""The govsvc adapter contract suite (govsvc.testing), run against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from govsvc_psb import plugin
from starlette.applications import Starlette

from govsvc import Department
from govsvc.testing import contract
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
def govsvc_contract_samples() -> dict[str, str]:
    # 孙悦 is known to neither bureau until her registration / card is issued.
    return {"known_party": "230103198503120316", "unknown_party": "230103202401050029"}


# The kit opens its review case with an empty form (make_case(..., form=None)), and the
# register refuses a task without registrationType (INVALID_FORM), as the real one would.
# These two stay expected failures until the kit lets a plugin supply a form; strict, so the
# day they pass this wiring must change.
_NEEDS_A_FORM = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="govsvc.testing.contract sends an empty form; the register needs registrationType",
)


@_NEEDS_A_FORM  # type: ignore[no-redef]
def test_open_review_is_idempotent_on_the_task_id(
    govsvc_contract_department: Department,
    govsvc_contract_samples: dict[str, str],
    tmp_path: Path,
) -> None:
    contract.test_open_review_is_idempotent_on_the_task_id(
        govsvc_contract_department, govsvc_contract_samples, tmp_path
    )


@_NEEDS_A_FORM  # type: ignore[no-redef]
def test_poll_review_answers_an_outcome_or_none(
    govsvc_contract_department: Department,
    govsvc_contract_samples: dict[str, str],
    tmp_path: Path,
) -> None:
    contract.test_poll_review_answers_an_outcome_or_none(
        govsvc_contract_department, govsvc_contract_samples, tmp_path
    )
