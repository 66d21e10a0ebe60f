"""The adapter: 示例县民政局's register, spoken to in govsvc's terms."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    InvalidInput,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.adapterkit import CodeTable, parse_legacy_date
from govsvc.vocabulary import MARITAL_STATUS_CODES, SEX_CODES

from govsvc_example.legacy import CivilAffairsRegister

DEFAULT_BASIS = "《社会救助暂行办法》"  # the register keeps no legal basis for a denial
CERTIFICATE = "最低生活保障证"  # what an approved application gets (低保证)


class ExampleAdapter:
    """Adapter to the bureau's register.

    ``profile`` and ``health`` are plain methods: the platform runs them in a worker thread.
    The review operations are coroutines: the platform awaits them on its own event loop (a
    real adapter awaits its HTTP client there).
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
            "sex": _code(record, "xb", SEX_CODES),
            "birth_date": _date(record, "csrq"),
            "address": _text(record, "zz"),
            "marital_status": _code(record, "hyzk", MARITAL_STATUS_CODES),
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

    async def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        # The register issues one certificate per task: asked again, it answers the same one.
        with _register_errors():
            certificate = self.register.issue_certificate(ticket.legacy_id)
        if certificate is None:
            raise AdapterProtocolError(
                f"the register issues no certificate for task {ticket.legacy_id}: it is not "
                f"approved",
                path="$.zt",
            )
        return IssuedResult(
            name=CERTIFICATE,
            number=_text(certificate, "zsbh"),
            data={
                "holder_number": _text(certificate, "sfzh"),
                "issued_on": _date(certificate, "fzrq"),
            },
        )

    async def cancel_review(self, ticket: ReviewTicket) -> None:
        # Withdrawing a task already withdrawn or decided changes nothing: not an error.
        with _register_errors():
            self.register.withdraw_task(ticket.legacy_id)

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


def _code(record: Mapping[str, Any], field: str, table: CodeTable[str]) -> str | None:
    """The canonical value of a code; None for a code that means "not recorded" (未说明)."""
    try:
        return table.get(_text(record, field))
    except InvalidInput as exc:  # a code the table does not know
        raise AdapterProtocolError(str(exc), path=f"$.{field}") from None


def _date(record: Mapping[str, Any], field: str) -> str:
    """An ISO date from any of the forms legacy systems write (19620714, 1962年7月14日, …)."""
    try:
        return parse_legacy_date(_text(record, field), field).isoformat()
    except InvalidInput as exc:
        raise AdapterProtocolError(str(exc), path=f"$.{field}") from None
