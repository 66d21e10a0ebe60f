"""What the contract suite asks for: the department under test, two sample parties, and how
the register's clerk approves a task."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from govsvc import Department, ReviewTicket

from govsvc_example import plugin
from govsvc_example.legacy import KNOWN_RESIDENT


@pytest.fixture
def govsvc_plugins() -> list[object]:
    return [plugin]  # what the govsvc_platform fixture loads


@pytest.fixture
def govsvc_contract_department() -> Department:
    [department] = plugin.govsvc_departments()  # a fresh adapter for every test
    return department


@pytest.fixture
def govsvc_contract_samples() -> dict[str, str]:
    return {"known_party": KNOWN_RESIDENT, "unknown_party": "230199199001059794"}


@pytest.fixture
def govsvc_contract_approve(
    govsvc_contract_department: Department,
) -> Callable[[ReviewTicket], None]:
    register = govsvc_contract_department.adapter.register

    def approve(ticket: ReviewTicket) -> None:  # what the clerk does at the legacy terminal
        register.decide(ticket.legacy_id, approved=True, opinion="符合最低生活保障条件")

    return approve
