"""What the contract suite asks for: the department under test and two sample parties."""

from __future__ import annotations

import pytest
from govsvc import Department

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
