"""In-process stand-ins for departments' legacy systems, for the SDK's own tests.

The reference plugins talk to real simulators over HTTP (their tests live in plugins/); the
SDK tests use these small objects so each rule of the platform can be driven exactly.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Mapping
from typing import Any

import attrs

import govsvc
from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    CertificateRecord,
    Department,
    IssuedResult,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)

PSB = "11230100003108738D"  # 哈尔滨市公安局
HRSS = "11230100003109212K"  # 哈尔滨市人力资源和社会保障局
SAMR = "11230100013114525L"  # 哈尔滨市市场监督管理局
HEALTH = "11230100MB1935270B"  # 哈尔滨市卫生健康委员会

ZHANG = "230103198503120316"


class FakeLegacy:
    """A legacy system: people it knows, review tasks it keeps, failures it can simulate."""

    def __init__(self, code: str, people: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.code = code
        self.people = dict(people or {})
        self.tasks: dict[str, dict[str, Any]] = {}  # legacy id -> task
        self.by_task_id: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail_next = 0  # raise AdapterUnavailable this many times
        self.delay = 0.0
        self.malformed = False
        self._ids = itertools.count(1)
        # Calls per platform task id: what "never done twice" is counted by.
        self.opened: collections.Counter[str] = collections.Counter()
        self.polled: collections.Counter[str] = collections.Counter()
        self.issued: collections.Counter[str] = collections.Counter()

    async def profile(self, key: govsvc.PartyKey) -> Mapping[str, Any] | None:
        self.calls.append("profile")
        await self._trouble("profile")
        if self.malformed:
            return ["not", "a", "mapping"]  # type: ignore[return-value]
        return self.people.get(key.number)

    def certificates(self, key: govsvc.PartyKey) -> list[CertificateRecord]:
        self.calls.append("certificates")
        person = self.people.get(key.number)
        if person is None:
            return []
        return [
            CertificateRecord(
                type_name="社会保障卡",
                number=f"SSC{key.number[-6:]}",
                holder_name=person["name"],
                holder_number=key.number,
                issuer=self.code,
            )
        ]

    async def open_review(self, request: ReviewRequest) -> str:
        self.calls.append("open_review")
        self.opened[request.task_id] += 1
        await self._trouble("open_review")
        if request.task_id in self.by_task_id:  # idempotency key
            return self.by_task_id[request.task_id]
        legacy = f"{self.code[-4:]}-{next(self._ids):05d}"
        self.by_task_id[request.task_id] = legacy
        self.tasks[legacy] = {"task_id": request.task_id, "decision": None}
        return legacy

    def decide(self, task_id: str, approved: bool = True) -> None:
        legacy = self.by_task_id[task_id]
        self.tasks[legacy]["decision"] = ReviewOutcome(
            approved=approved,
            reason="符合条件" if approved else "不符合条件",
            basis="" if approved else "《行政许可法》第三十八条",
            decided_by="科员甲",
        )

    def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        self.calls.append("poll_review")
        self.polled[ticket.task_id] += 1
        decision: ReviewOutcome | None = self.tasks[ticket.legacy_id]["decision"]
        return decision

    def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        self.calls.append("issue_result")
        self.issued[ticket.task_id] += 1
        return IssuedResult(name="食品经营许可证", number=f"JY{ticket.legacy_id}", data={"x": 1})

    def health(self) -> bool:
        self.calls.append("health")
        return True

    async def _trouble(self, operation: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next:
            self.fail_next -= 1
            raise AdapterUnavailable(f"{self.code} 503 during {operation}")


class SyncOnly:
    """An adapter written with plain functions only (allowed)."""

    def profile(self, key: govsvc.PartyKey) -> Mapping[str, Any] | None:
        return {"employer": "哈尔滨市冰城饺子馆有限公司"} if key.number == ZHANG else None

    def health(self) -> bool:
        raise AdapterProtocolError("health page returned HTML", path="$.status")


PEOPLE_PSB = {
    ZHANG: {
        "name": "张伟",
        "sex": "male",
        "birth_date": "1985-03-12",
        "address": "黑龙江省哈尔滨市南岗区学府路52号",
    }
}
PEOPLE_HRSS = {
    ZHANG: {
        "name": "张伟",
        "address": "黑龙江省哈尔滨市道里区红军街15号",
        "social_security_card": "SSC120316",
    }
}


@attrs.define
class DepartmentsPlugin:
    """A plugin object registering the given departments."""

    departments: list[Department]

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[Department]:
        return self.departments


def standard_departments(timeout: float = 2.0) -> dict[str, FakeLegacy]:
    return {
        PSB: FakeLegacy(PSB, PEOPLE_PSB),
        HRSS: FakeLegacy(HRSS, PEOPLE_HRSS),
        SAMR: FakeLegacy(SAMR),
        HEALTH: FakeLegacy(HEALTH),
    }


NAMES = {
    PSB: "哈尔滨市公安局",
    HRSS: "哈尔滨市人力资源和社会保障局",
    SAMR: "哈尔滨市市场监督管理局",
    HEALTH: "哈尔滨市卫生健康委员会",
}
AUTHORITIES = {PSB: ("name", "sex", "birth_date", "address"), HRSS: ("social_security_card",)}


def plugin_for(
    legacies: Mapping[str, Any], *, timeout: float = 2.0, max_in_flight: int = 10
) -> DepartmentsPlugin:
    return DepartmentsPlugin(
        [
            Department(
                code=code,
                name=NAMES.get(code, code),
                division="230100",
                adapter=adapter,
                authoritative_for=AUTHORITIES.get(code, ()),
                timeout=timeout,
                max_in_flight=max_in_flight,
            )
            for code, adapter in legacies.items()
        ]
    )


class CancellingLegacy(FakeLegacy):
    """A legacy system that can withdraw a task."""

    def cancel_review(self, ticket: ReviewTicket) -> None:
        self.calls.append("cancel_review")
        self.tasks[ticket.legacy_id]["cancelled"] = True


class CheckingLegacy(FakeLegacy):
    """A legacy system with automated pre-review: it knows the licence is cancelled."""

    async def prereview(self, request: govsvc.PrereviewRequest) -> list[govsvc.Finding]:
        self.calls.append("prereview")
        await self._trouble("prereview")
        return [
            govsvc.Finding(material="M02", problem="营业执照已注销"),
            govsvc.Finding(material="M99", problem="not in the guide"),
        ]
