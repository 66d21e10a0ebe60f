"""The adapter: 示例县民政局's register, spoken to in govsvc's terms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)

from govsvc_example.legacy import CivilAffairsRegister

SEX = {"1": "male", "2": "female"}
MARITAL_STATUS = {  # GB/T 2261.2 codes
    "10": "unmarried",
    "20": "married",
    "21": "married",
    "22": "married",
    "23": "married",
    "30": "widowed",
    "40": "divorced",
}
DEFAULT_BASIS = "《社会救助暂行办法》"  # the register keeps no legal basis for a denial


class ExampleAdapter:
    """Adapter to the bureau's register.

    ``profile`` and ``health`` are plain methods: the platform runs them in a worker thread.
    ``open_review`` and ``poll_review`` are coroutines: the platform awaits them on its own
    event loop (a real adapter awaits its HTTP client there).
    """

    def __init__(self, register: CivilAffairsRegister) -> None:
        self.register = register

    def profile(self, key: PartyKey) -> Mapping[str, Any] | None:
        with _register_errors():
            record = self.register.find_resident(key.number)
        if record is None:
            return None  # not an error: this department simply does not know the person
        return {
            "name": _text(record, "xm"),
            "sex": _code(record, "xb", SEX),
            "birth_date": _birth_date(record, "csrq"),
            "address": _text(record, "zz"),
            "marital_status": _code(record, "hyzk", MARITAL_STATUS),
        }

    async def open_review(self, request: ReviewRequest) -> str:
        # The task id is the idempotency key: delivered twice, the task is opened once.
        with _register_errors():
            return self.register.open_task(
                request.task_id, request.applicant.number, request.item_code
            )

    async def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        with _register_errors():
            task = self.register.task(ticket.legacy_id)
        if task is None:
            raise AdapterProtocolError(
                f"the register has no task {ticket.legacy_id}", path="$.ywlsh"
            )
        status = task.get("zt")
        if status == "待审":
            return None
        if status == "通过":
            return ReviewOutcome(
                approved=True, reason=task.get("yj") or "符合条件", decided_by=task.get("jbr", "")
            )
        if status == "不通过":
            return ReviewOutcome(
                approved=False,
                reason=_text(task, "yj"),
                basis=DEFAULT_BASIS,
                decided_by=task.get("jbr", ""),
            )
        raise AdapterProtocolError(
            f"task status {status!r} is none of 待审, 通过, 不通过", path="$.zt"
        )

    def health(self) -> bool:
        return self.register.online


@contextmanager
def _register_errors() -> Iterator[None]:
    """The register being down is AdapterUnavailable: the platform retries it, counts it
    toward the department's circuit, and carries on without this department."""
    try:
        yield
    except ConnectionError as exc:
        raise AdapterUnavailable(f"示例县民政局's register is unavailable: {exc}") from exc


def _text(record: Mapping[str, Any], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise AdapterProtocolError(f"expected text, got {value!r}", path=f"$.{field}")
    return value.strip()


def _code(record: Mapping[str, Any], field: str, table: Mapping[str, str]) -> str:
    value = _text(record, field)
    if value not in table:
        raise AdapterProtocolError(
            f"unknown code {value!r}; expected one of {', '.join(table)}", path=f"$.{field}"
        )
    return table[value]


def _birth_date(record: Mapping[str, Any], field: str) -> str:
    value = _text(record, field)
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date().isoformat()
    except ValueError:
        raise AdapterProtocolError(
            f"expected a date as YYYYMMDD, got {value!r}", path=f"$.{field}"
        ) from None
