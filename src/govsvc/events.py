"""Case events: one kind per thing that can happen to a case, each with a typed payload.

Every command writes exactly one :class:`~govsvc.CaseEvent` whose ``kind`` is an
:class:`EventKind` and whose ``payload`` is the frozen payload class of that kind
(:data:`PAYLOADS`). The table in the docs (``docs/cases.md``, "Events") lists every kind with
its payload fields and is checked against this module by a test.

Listeners subscribe by kind: ``Platform.subscribe({EventKind.APPROVED}, send_sms)`` or a
plugin's ``govsvc_event_listeners`` hook returning :class:`EventListener` values. They are
called after the command's transaction commits.

Stored events written by a newer release may carry a kind this release does not know; they
read back as :attr:`EventKind.UNKNOWN` with the original kind and data in an
:class:`UnknownPayload`, so a rolling upgrade never breaks an older process's trail view.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from govsvc._frozen import freeze

if TYPE_CHECKING:
    from govsvc.cases import Case, CaseEvent

__all__ = [
    "PAYLOADS",
    "Accepted",
    "Approved",
    "CommitmentVerified",
    "Completed",
    "DeadlineRecomputed",
    "Denied",
    "DraftUpdated",
    "Drafted",
    "EventKind",
    "EventListener",
    "EventPayload",
    "Extended",
    "ExtensionDeclined",
    "ExtensionRequested",
    "MaterialSupplied",
    "NotAccepted",
    "NoticeLine",
    "Prereviewed",
    "Resubmitted",
    "ResultReady",
    "Resumed",
    "Revoked",
    "StageOpened",
    "Submitted",
    "SupplementRequested",
    "Suspended",
    "TaskApproved",
    "TaskRef",
    "ToleratedDue",
    "UnknownPayload",
    "Withdrawn",
]


class EventKind(enum.Enum):
    """What happened to a case; the value is what the trail and the store record."""

    DRAFTED = "drafted"
    DRAFT_UPDATED = "draft_updated"
    SUBMITTED = "submitted"
    PREREVIEWED = "prereviewed"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RESUBMITTED = "resubmitted"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    TASK_APPROVED = "task_approved"
    STAGE_OPENED = "stage_opened"
    APPROVED = "approved"
    DENIED = "denied"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_DECLINED = "extension_declined"
    EXTENDED = "extended"
    MATERIAL_SUPPLIED = "material_supplied"
    COMMITMENT_VERIFIED = "commitment_verified"
    REVOKED = "revoked"
    RESULT_READY = "result_ready"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    DEADLINE_RECOMPUTED = "deadline_recomputed"
    UNKNOWN = "unknown"  # written by a newer release; see UnknownPayload

    @property
    def label(self) -> str:
        """The Chinese name shown in a trail, e.g. 受理."""
        return _LABELS[self]


_LABELS = {
    EventKind.DRAFTED: "创建草稿",
    EventKind.DRAFT_UPDATED: "修改草稿",
    EventKind.SUBMITTED: "提交申请",
    EventKind.PREREVIEWED: "预审通过",
    EventKind.SUPPLEMENT_REQUESTED: "一次性告知补正",
    EventKind.RESUBMITTED: "补正材料",
    EventKind.ACCEPTED: "受理",
    EventKind.NOT_ACCEPTED: "不予受理",
    EventKind.TASK_APPROVED: "部门审查通过",
    EventKind.STAGE_OPENED: "进入下一审查环节",
    EventKind.APPROVED: "准予许可",
    EventKind.DENIED: "不予许可",
    EventKind.SUSPENDED: "挂起",
    EventKind.RESUMED: "恢复办理",
    EventKind.EXTENSION_REQUESTED: "申请延期",
    EventKind.EXTENSION_DECLINED: "不予延期",
    EventKind.EXTENDED: "延期",
    EventKind.MATERIAL_SUPPLIED: "容缺材料补齐",
    EventKind.COMMITMENT_VERIFIED: "告知承诺核查",
    EventKind.REVOKED: "撤销许可",
    EventKind.RESULT_READY: "制证完成",
    EventKind.COMPLETED: "办结",
    EventKind.WITHDRAWN: "撤回",
    EventKind.DEADLINE_RECOMPUTED: "重新计算时限",
    EventKind.UNKNOWN: "其他",
}


def _codes(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class TaskRef:
    """A review task named in an event: its id and department (credit code)."""

    id: str
    department: str


@attrs.frozen(kw_only=True)
class ToleratedDue:
    """A 容缺 material accepted as missing, and when it is due."""

    code: str
    due: dt.date


@attrs.frozen(kw_only=True)
class NoticeLine:
    """One line of a one-time notice, as the trail records it."""

    code: str
    name: str
    problem: str
    detail: str


def _tasks(values: Iterable[TaskRef]) -> tuple[TaskRef, ...]:
    return tuple(values)


def _lines(values: Iterable[NoticeLine]) -> tuple[NoticeLine, ...]:
    return tuple(values)


def _dues(values: Iterable[ToleratedDue]) -> tuple[ToleratedDue, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Drafted:
    item_code: str
    item_version: int
    channel: str
    materials: tuple[str, ...] = attrs.field(default=(), converter=_codes)
    agent: str | None = None  # the agent's key ("111:…") when someone applied for another


@attrs.frozen(kw_only=True)
class DraftUpdated:
    materials: tuple[str, ...] = attrs.field(default=(), converter=_codes)


@attrs.frozen(kw_only=True)
class Submitted:
    tracking_code: str


@attrs.frozen(kw_only=True)
class Prereviewed:
    complete: bool = True
    items: tuple[NoticeLine, ...] = attrs.field(default=(), converter=_lines)


@attrs.frozen(kw_only=True)
class SupplementRequested:
    complete: bool = False
    items: tuple[NoticeLine, ...] = attrs.field(default=(), converter=_lines)


@attrs.frozen(kw_only=True)
class Resubmitted:
    materials: tuple[str, ...] = attrs.field(default=(), converter=_codes)


@attrs.frozen(kw_only=True)
class Accepted:
    stage: int
    tasks: tuple[TaskRef, ...] = attrs.field(default=(), converter=_tasks)
    tolerated: tuple[ToleratedDue, ...] = attrs.field(default=(), converter=_dues)
    commitments: tuple[str, ...] = attrs.field(default=(), converter=_codes)


@attrs.frozen(kw_only=True)
class NotAccepted:
    reason: str
    basis: str


@attrs.frozen(kw_only=True)
class TaskApproved:
    task_id: str
    department: str
    stage: int
    reason: str = ""
    basis: str = ""


@attrs.frozen(kw_only=True)
class StageOpened:
    task_id: str  # the decision that completed the previous stage
    department: str
    stage: int
    next_stage: int
    tasks: tuple[TaskRef, ...] = attrs.field(default=(), converter=_tasks)
    reason: str = ""
    basis: str = ""


@attrs.frozen(kw_only=True)
class Approved:
    task_id: str  # the last decision
    department: str
    stage: int
    reason: str = ""
    basis: str = ""


@attrs.frozen(kw_only=True)
class Denied:
    """A denial: by a department's decision (``task_id``) or a false commitment (``commitment``)."""

    reason: str = ""  # wave-1 denials by a false commitment did not record it in the event
    basis: str = ""
    remedies: str = ""
    task_id: str | None = None
    department: str | None = None
    stage: int | None = None
    commitment: str | None = None
    note: str = ""


@attrs.frozen(kw_only=True)
class Suspended:
    reason: str  # a SuspensionReason value, e.g. 现场勘验
    start: dt.date
    notice: str


@attrs.frozen(kw_only=True)
class Resumed:
    start: dt.date
    end: dt.date | None


@attrs.frozen(kw_only=True)
class ExtensionRequested:
    workdays: int
    reason: str


@attrs.frozen(kw_only=True)
class ExtensionDeclined:
    workdays: int
    reason: str


@attrs.frozen(kw_only=True)
class Extended:
    workdays: int
    approved_by: str
    reason: str


@attrs.frozen(kw_only=True)
class MaterialSupplied:
    code: str


@attrs.frozen(kw_only=True)
class CommitmentVerified:
    code: str
    truthful: bool
    note: str = ""


@attrs.frozen(kw_only=True)
class Revoked:
    code: str
    reason: str = ""
    note: str = ""


@attrs.frozen(kw_only=True)
class ResultReady:
    name: str
    number: str
    ecert_id: str | None = None


@attrs.frozen(kw_only=True)
class Completed:
    delivery: str


@attrs.frozen(kw_only=True)
class Withdrawn:
    reason: str = ""


@attrs.frozen(kw_only=True)
class DeadlineRecomputed:
    promised: dt.date
    statutory: dt.date
    provisional: bool


@attrs.frozen(kw_only=True)
class UnknownPayload:
    """An event of a kind this release does not know (written by a newer one)."""

    kind: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)


EventPayload: TypeAlias = (
    Drafted
    | DraftUpdated
    | Submitted
    | Prereviewed
    | SupplementRequested
    | Resubmitted
    | Accepted
    | NotAccepted
    | TaskApproved
    | StageOpened
    | Approved
    | Denied
    | Suspended
    | Resumed
    | ExtensionRequested
    | ExtensionDeclined
    | Extended
    | MaterialSupplied
    | CommitmentVerified
    | Revoked
    | ResultReady
    | Completed
    | Withdrawn
    | DeadlineRecomputed
    | UnknownPayload
)

PAYLOADS: Mapping[EventKind, type[Any]] = {
    EventKind.DRAFTED: Drafted,
    EventKind.DRAFT_UPDATED: DraftUpdated,
    EventKind.SUBMITTED: Submitted,
    EventKind.PREREVIEWED: Prereviewed,
    EventKind.SUPPLEMENT_REQUESTED: SupplementRequested,
    EventKind.RESUBMITTED: Resubmitted,
    EventKind.ACCEPTED: Accepted,
    EventKind.NOT_ACCEPTED: NotAccepted,
    EventKind.TASK_APPROVED: TaskApproved,
    EventKind.STAGE_OPENED: StageOpened,
    EventKind.APPROVED: Approved,
    EventKind.DENIED: Denied,
    EventKind.SUSPENDED: Suspended,
    EventKind.RESUMED: Resumed,
    EventKind.EXTENSION_REQUESTED: ExtensionRequested,
    EventKind.EXTENSION_DECLINED: ExtensionDeclined,
    EventKind.EXTENDED: Extended,
    EventKind.MATERIAL_SUPPLIED: MaterialSupplied,
    EventKind.COMMITMENT_VERIFIED: CommitmentVerified,
    EventKind.REVOKED: Revoked,
    EventKind.RESULT_READY: ResultReady,
    EventKind.COMPLETED: Completed,
    EventKind.WITHDRAWN: Withdrawn,
    EventKind.DEADLINE_RECOMPUTED: DeadlineRecomputed,
    EventKind.UNKNOWN: UnknownPayload,
}
"""The payload class of every event kind."""

_KIND_OF = {cls: kind for kind, cls in PAYLOADS.items()}


def kind_of(payload: EventPayload) -> EventKind:
    """The event kind a payload belongs to."""
    return _KIND_OF[type(payload)]


Handler = Callable[["CaseEvent", "Case"], None]


def _kinds(values: Iterable[EventKind] | EventKind) -> frozenset[EventKind]:
    if isinstance(values, EventKind):
        return frozenset({values})
    return frozenset(EventKind(v) for v in values)


@attrs.frozen(kw_only=True)
class EventListener:
    """A listener for some kinds of case events (all kinds when ``kinds`` is empty).

    ``handle(event, case)`` runs after the command's transaction commits; if it raises, the
    error is logged and neither the case nor the other listeners are affected.
    """

    name: str
    handle: Handler
    kinds: frozenset[EventKind] = attrs.field(default=frozenset(), converter=_kinds)

    def wants(self, kind: EventKind) -> bool:
        return not self.kinds or kind in self.kinds
