"""Automated pre-review (受理预审) of food licence applications against the simulator."""

from __future__ import annotations

import asyncio

import pytest
from govsvc_samr.adapter import (
    BUSINESS_LICENCE_MATERIAL,
    FOOD_LICENCE_ITEM,
    SamrAdapter,
    SamrConfig,
)

from govsvc import Finding, PartyKey, PrereviewRequest


def request(number: str, item: str = FOOD_LICENCE_ITEM) -> PrereviewRequest:
    return PrereviewRequest(
        case_id="c" * 32,
        item_code=item,
        applicant=PartyKey.of(number),
        applicant_name="x",
        form={},
        materials=("M01", "M02"),
    )


def check(url: str, number: str, item: str = FOOD_LICENCE_ITEM) -> list[Finding]:
    adapter = SamrAdapter(SamrConfig(base_url=url))

    async def run() -> list[Finding]:
        try:
            return await adapter.prereview(request(number, item))
        finally:
            await adapter.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("91230103MA1BX4K238", None),  # 冰城饺子馆: in business
        ("230103198503120316", None),  # 张伟 represents it
        ("91230112MA1C2D7P5K", "注销"),  # 磊鑫建材: cancelled
        ("230112198309170711", "无存续的市场主体"),  # 赵磊: only the cancelled one
        ("9123010000J8NW0EXK", "未在市场监管部门登记"),  # never registered
    ],
)
def test_applicant_registration_is_checked(samr_url: str, number: str, problem: str | None) -> None:
    findings = check(samr_url, number)
    if problem is None:
        assert findings == []
    else:
        [finding] = findings
        assert finding.material == BUSINESS_LICENCE_MATERIAL and problem in finding.problem


def test_other_items_are_not_checked(refused_url: str) -> None:
    # no call is made: the URL refuses connections
    assert check(refused_url, "91230112MA1C2D7P5K", item="11230100013114525L3000176019999") == []
