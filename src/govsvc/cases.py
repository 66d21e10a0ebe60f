"""Cases (办件): the pure-domain life of an application, from draft to completion.

A :class:`Case` is an immutable value. Every command is a method that returns a
:class:`Step` — the new case, the event that records what happened, and any outbox messages
(work for departments, notices for the applicant) — or raises :class:`InvalidTransition`
naming the moves allowed in the current state. No I/O happens here: the platform loads a
case, calls one method, and stores the step in one transaction.

The life of a case::

    draft ─submit─▶ submitted ─prereview─▶ supplement_needed ─resubmit─▶ submitted
                        │                        │ (accept with 容缺 if only tolerated ones miss)
                        ├────prereview──▶ pre_reviewed
                        ▼                        ▼
                  not_accepted ◀─refuse─  accept ─▶ in_review (stage 1 tasks in parallel,
                                                     then stage 2 …) ─▶ approved / denied
    approved ─issue_result─▶ result_ready ─complete─▶ completed
    any open state ─withdraw─▶ withdrawn;  a false commitment (告知承诺) ─▶ revoked

Suspensions (挂起) and extensions (延期) do not change the state: they move the deadline.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from govsvc._frozen import freeze
from govsvc._text import check_text, check_texts
from govsvc.catalogue import ItemVersion, Material, Necessity, ServiceTarget
from govsvc.errors import InvalidIdentifier, InvalidInput, InvalidTransition, MaterialNotAllowed
from govsvc.events import (
    Accepted,
    Approved,
    CommitmentVerified,
    Completed,
    DeadlineRecomputed,
    Denied,
    Drafted,
    DraftUpdated,
    EventKind,
    EventPayload,
    Extended,
    ExtensionDeclined,
    ExtensionRequested,
    MaterialSupplied,
    NotAccepted,
    NoticeLine,
    Prereviewed,
    Resubmitted,
    ResultReady,
    Resumed,
    Revoked,
    StageOpened,
    Submitted,
    SupplementRequested,
    Suspended,
    TaskApproved,
    TaskRef,
    ToleratedDue,
    Withdrawn,
    kind_of,
)
from govsvc.identity import DocumentType, PartyKey
from govsvc.principals import Actor

__all__ = [
    "Case",
    "CaseAgent",
    "CaseDecision",
    "CaseEvent",
    "CaseResult",
    "CaseState",
    "Commitment",
    "Extension",
    "ExtensionRequest",
    "MaterialKind",
    "Notice",
    "NoticeItem",
    "OutboxMessage",
    "ProvidedMaterial",
    "ReviewTask",
    "Step",
    "Suspension",
    "SuspensionReason",
    "TaskStatus",
    "ToleratedMaterial",
    "TrackingCode",
    "applicant_targets",
    "check_materials",
]

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date in China (UTC+8, no daylight saving) of an aware datetime."""
    return moment.astimezone(CHINA).date()


class CaseState(enum.Enum):
    """Where a case stands. Closed states accept no command but :meth:`Case.verify_commitment`."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    SUPPLEMENT_NEEDED = "supplement_needed"  # 补正: the one-time notice went out
    PRE_REVIEWED = "pre_reviewed"
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    IN_REVIEW = "in_review"  # 受理后审查
    APPROVED = "approved"  # 准予许可
    DENIED = "denied"  # 不予许可
    RESULT_READY = "result_ready"  # 制证完成, 待送达
    COMPLETED = "completed"  # 办结
    WITHDRAWN = "withdrawn"  # 撤回
    REVOKED = "revoked"  # 撤销 (false commitment)

    @property
    def is_open(self) -> bool:
        return self in _OPEN

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_OPEN = frozenset(
    {
        CaseState.DRAFT,
        CaseState.SUBMITTED,
        CaseState.SUPPLEMENT_NEEDED,
        CaseState.PRE_REVIEWED,
        CaseState.IN_REVIEW,
        CaseState.APPROVED,
        CaseState.RESULT_READY,
    }
)
_STATE_LABELS = {
    CaseState.DRAFT: "草稿",
    CaseState.SUBMITTED: "已提交",
    CaseState.SUPPLEMENT_NEEDED: "待补正",
    CaseState.PRE_REVIEWED: "预审通过",
    CaseState.NOT_ACCEPTED: "不予受理",
    CaseState.IN_REVIEW: "审查中",
    CaseState.APPROVED: "准予许可",
    CaseState.DENIED: "不予许可",
    CaseState.RESULT_READY: "待领取",
    CaseState.COMPLETED: "已办结",
    CaseState.WITHDRAWN: "已撤回",
    CaseState.REVOKED: "已撤销",
}

# Which command may run in which state. InvalidTransition lists these.
_ALLOWED: dict[CaseState, frozenset[str]] = {
    CaseState.DRAFT: frozenset({"update_draft", "submit", "withdraw"}),
    CaseState.SUBMITTED: frozenset({"prereview", "accept", "refuse", "withdraw"}),
    CaseState.SUPPLEMENT_NEEDED: frozenset({"resubmit", "accept", "refuse", "withdraw"}),
    CaseState.PRE_REVIEWED: frozenset({"accept", "refuse", "withdraw"}),
    CaseState.IN_REVIEW: frozenset(
        {
            "decide",
            "suspend",
            "resume",
            "request_extension",
            "extend",
            "decline_extension",
            "supply",
            "verify_commitment",
            "withdraw",
        }
    ),
    CaseState.APPROVED: frozenset({"issue_result", "supply", "verify_commitment", "withdraw"}),
    CaseState.RESULT_READY: frozenset({"complete", "supply", "verify_commitment", "withdraw"}),
    CaseState.COMPLETED: frozenset({"verify_commitment"}),
    CaseState.NOT_ACCEPTED: frozenset(),
    CaseState.DENIED: frozenset(),
    CaseState.WITHDRAWN: frozenset(),
    CaseState.REVOKED: frozenset(),
}


_WHILE_SUSPENDED = (
    "resume",
    "request_extension",
    "extend",
    "decline_extension",
    "supply",
    "verify_commitment",
    "withdraw",
)


class MaterialKind(enum.Enum):
    """How a material was provided."""

    UPLOAD = "upload"  # a file the applicant uploaded (trust level C)
    PAPER = "paper"  # paper original checked at a window (trust level B)
    ECERT = "ecert"  # an e-certificate reused from the holder's library (trust level A)
    SHARED = "shared"  # data shared by the issuing department (一数一源)
    COMMITMENT = "commitment"  # a signed commitment replacing the proof (告知承诺)


def _storable(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, str):
        check_text(value, f"{type(instance).__name__}.{attribute.name}")


def _storable_data(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_texts(value, f"{type(instance).__name__}.{attribute.name}")


@attrs.frozen(kw_only=True)
class ProvidedMaterial:
    """A material given with an application: which catalogue material, how, and where it is."""

    code: str = attrs.field(validator=_storable)
    kind: MaterialKind = MaterialKind.UPLOAD
    # file digest or URI, e-certificate identifier, commitment document id
    reference: str = attrs.field(default="", validator=_storable)
    filename: str = attrs.field(default="", validator=_storable)
    media_type: str = attrs.field(default="", validator=_storable)
    size: int = 0


@attrs.frozen(kw_only=True)
class NoticeItem:
    """One line of the one-time notice: a material missing or defective."""

    code: str
    name: str
    problem: str  # "missing" | "defective"
    detail: str
    tolerable: bool  # 容缺后补 allowed for this material


@attrs.frozen(kw_only=True)
class Notice:
    """The one-time notice (一次性告知): everything missing or defective, at once (第32条)."""

    items: tuple[NoticeItem, ...]
    issued_at: dt.datetime

    @property
    def complete(self) -> bool:
        return not self.items

    @property
    def only_tolerable(self) -> bool:
        return all(i.tolerable for i in self.items)

    def text(self) -> str:
        if not self.items:
            return "材料齐全，符合法定形式。"
        lines = [f"{n}. {i.name}：{i.detail}" for n, i in enumerate(self.items, 1)]
        return "请一次性补正以下材料：\n" + "\n".join(lines)


class TaskStatus(enum.Enum):
    """Where a review task stands; open tasks are what a department's queue shows."""

    OPEN = "open"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class ReviewTask:
    """A department's review of a case in one stage (审查环节). Tasks of a stage run in parallel."""

    id: str
    stage: int  # 1-based
    stage_name: str
    department: str  # credit code of the reviewing department
    status: TaskStatus = TaskStatus.OPEN
    opened_at: dt.datetime
    decided_at: dt.datetime | None = None
    decided_by: str = ""
    reason: str = ""
    basis: str = ""


class SuspensionReason(enum.Enum):
    """Why the clock stops (挂起): 行政许可法第45条 plus common local practice."""

    HEARING = "听证"
    TENDER = "招标"
    AUCTION = "拍卖"
    INSPECTION = "检验检测检疫"
    APPRAISAL = "鉴定"
    EXPERT_REVIEW = "专家评审"
    ON_SITE_INSPECTION = "现场勘验"
    PUBLIC_NOTICE = "公示"
    AWAITING_CORRECTION = "等待补正"

    @property
    def statutory(self) -> bool:
        """True when the exclusion comes from the law itself rather than local practice."""
        return self not in {
            SuspensionReason.ON_SITE_INSPECTION,
            SuspensionReason.PUBLIC_NOTICE,
            SuspensionReason.AWAITING_CORRECTION,
        }


@attrs.frozen(kw_only=True)
class Suspension:
    """One entry of the suspension ledger: the clock stops from ``start`` to ``end``."""

    reason: SuspensionReason
    start: dt.date
    end: dt.date | None = None
    notice: str  # the written notice sent to the applicant (第45条 requires one)
    by: str = ""


@attrs.frozen(kw_only=True)
class Extension:
    """An approved extension (延期) in working days."""

    workdays: int
    approved_by: str
    reason: str
    at: dt.datetime


@attrs.frozen(kw_only=True)
class ExtensionRequest:
    """An extension a reviewer asked for, waiting for an approver (延期申请)."""

    workdays: int
    reason: str
    requested_by: str
    at: dt.datetime


@attrs.frozen(kw_only=True)
class CaseAgent:
    """Who applied for the applicant (经办人 / 受托人): an organisation's agent, or a person
    holding a mandate (委托书) for another person; ``mandate_until`` bounds what they may do."""

    key: PartyKey
    name: str
    mandate: str | None = None  # the mandate's id
    mandate_until: dt.date | None = None


@attrs.frozen(kw_only=True)
class ToleratedMaterial:
    """A material accepted as missing under 容缺受理, to be supplied by ``due``."""

    code: str
    name: str
    due: dt.date
    supplied_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Commitment:
    """A signed commitment (告知承诺) that replaces a proof; verified by ``verify_due``."""

    code: str
    name: str
    verify_due: dt.date | None = None
    verified_at: dt.datetime | None = None
    truthful: bool | None = None
    note: str = ""


@attrs.frozen(kw_only=True)
class CaseDecision:
    """The outcome of the review: approval, or denial with reason, legal basis and remedies."""

    approved: bool
    reason: str = ""
    basis: str = ""
    remedies: str = ""  # 救济途径: how to apply for administrative review or sue
    at: dt.datetime
    by: str = ""


@attrs.frozen(kw_only=True)
class CaseResult:
    """What the applicant receives (审批结果): certificate number and face data."""

    name: str = attrs.field(validator=_storable)
    number: str = attrs.field(validator=_storable)
    ecert_id: str | None = attrs.field(default=None, validator=_storable)
    data: Mapping[str, Any] = attrs.field(
        factory=dict, converter=freeze, validator=_storable_data
    )
    issued_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class CaseDeadline:
    """The due dates of a case, on the clock adjusted for suspensions and extensions."""

    start: dt.date
    promised: dt.date
    statutory: dt.date
    provisional: bool = False


@attrs.frozen(kw_only=True)
class CaseEvent:
    """One entry of a case's trail. ``seq`` is the case version the event produced.

    ``kind`` says what happened and ``payload`` is that kind's typed payload
    (:data:`govsvc.events.PAYLOADS`); ``actor`` is the principal who did it.
    """

    case_id: str
    seq: int
    kind: EventKind
    at: dt.datetime
    actor: Actor
    payload: EventPayload

    def masked(self) -> CaseEvent:
        """The event as an applicant sees it: staff ids removed, staff names masked."""
        shown = self.actor.masked()
        return self if shown is self.actor else attrs.evolve(self, actor=shown)


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """Work to do after the command commits (deliver a review task, notify the applicant)."""

    id: str
    topic: str
    payload: Mapping[str, Any] = attrs.field(converter=freeze)


@attrs.frozen
class Step:
    """What a command produced: the new case, its event, and outbox messages."""

    case: Case
    event: CaseEvent
    outbox: tuple[OutboxMessage, ...] = ()


class TrackingCode:
    """The tracking code (全程一码): short, unique, with a check character.

    Ten random symbols from the credit-code alphabet (no I, O, S, V, Z, so nothing is
    misread) and one MOD 31 check character, shown as ``XXXX-XXXX-XXX``. Lookups accept it
    with or without dashes, in any case.
    """

    ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    _WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29)

    @classmethod
    def _check(cls, body: str) -> str:
        total = sum(cls.ALPHABET.index(c) * w for c, w in zip(body, cls._WEIGHTS, strict=True))
        return cls.ALPHABET[(31 - total % 31) % 31]

    @classmethod
    def new(cls) -> str:
        body = "".join(secrets.choice(cls.ALPHABET) for _ in range(10))
        return body + cls._check(body)

    @classmethod
    def normalise(cls, text: str) -> str:
        """The 11-character form of a tracking code, or :class:`InvalidIdentifier`."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"a tracking code is text such as 4K7N-2QXA-M8C, got {type(text).__name__}"
            )
        # Only ASCII is ever printed on a receipt. Checking before upper() matters: Unicode
        # case mapping folds ligatures ("ﬀ".upper() == "FF"), which would let a different
        # string find someone's case.
        stray = sorted({c for c in text if not c.isascii()})
        if stray:
            raise InvalidIdentifier(
                f"tracking code {text!r} has characters {''.join(stray)!r} that tracking codes "
                "never use (only A-Z and 0-9); check the code on the receipt"
            )
        code = text.strip().upper().replace("-", "").replace(" ", "")
        if len(code) != 11:
            raise InvalidIdentifier(
                f"tracking code {text!r} should have 11 characters (e.g. 4K7N-2QXA-M8C), "
                f"got {len(code)}"
            )
        bad = sorted({c for c in code if c not in cls.ALPHABET})
        if bad:
            raise InvalidIdentifier(
                f"tracking code {text!r} has characters {''.join(bad)!r} that tracking codes "
                "never use; check the code on the receipt"
            )
        expected = cls._check(code[:10])
        if code[10] != expected:
            raise InvalidIdentifier(
                f"tracking code {text!r}: check character should be {expected}, got {code[10]}; "
                "check the code on the receipt"
            )
        return code

    @classmethod
    def looks_like(cls, text: str) -> bool:
        try:
            cls.normalise(text)
        except InvalidInput:
            return False
        return True

    @staticmethod
    def display(code: str) -> str:
        return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def new_id() -> str:
    """A random 32-hex-character identifier (client-generated: no database round trip)."""
    return secrets.token_hex(16)


def check_materials(
    version: ItemVersion,
    materials: Iterable[ProvidedMaterial],
    defects: Mapping[str, str] | None = None,
) -> tuple[NoticeItem, ...]:
    """Every missing or defective material, at once (一次性告知).

    ``defects`` maps a material code to what a clerk or an automated check found wrong.
    Required (必要) and tolerated (容缺后补) materials must be present; optional ones need not.
    An uploaded file whose extension the guide does not allow is defective.
    """
    given = {m.code: m for m in materials}
    found = dict(defects or {})
    items: list[NoticeItem] = []
    for spec in version.materials:
        tolerable = spec.necessity is Necessity.TOLERATED
        provided = given.get(spec.code)
        if provided is None:
            if spec.necessity is not Necessity.OPTIONAL:
                items.append(
                    NoticeItem(
                        code=spec.code,
                        name=spec.name,
                        problem="missing",
                        detail=_missing_detail(spec),
                        tolerable=tolerable,
                    )
                )
            continue
        problem = found.pop(spec.code, None) or _format_problem(spec, provided)
        if problem:
            items.append(
                NoticeItem(
                    code=spec.code,
                    name=spec.name,
                    problem="defective",
                    detail=problem,
                    tolerable=tolerable,
                )
            )
    if found:
        raise MaterialNotAllowed(
            f"defects were reported for materials {sorted(found)} that were not provided or "
            f"are not in this item version; allowed codes: {[m.code for m in version.materials]}"
        )
    return tuple(items)


def _missing_detail(spec: Material) -> str:
    detail = f"未提交（{spec.necessity.value}"
    if spec.originals:
        detail += f"，原件{spec.originals}份"
    if spec.copies:
        detail += f"，复印件{spec.copies}份"
    detail += "）"
    if spec.commitment_allowed:
        detail += "；可签署告知承诺书代替"
    if spec.ecert_type:
        detail += "；可使用电子证照"
    return detail


def _format_problem(spec: Material, provided: ProvidedMaterial) -> str:
    if provided.kind is not MaterialKind.UPLOAD or not provided.filename:
        return ""
    ext = provided.filename.rsplit(".", 1)[-1].lower() if "." in provided.filename else ""
    allowed = [f.lower() for f in spec.formats]
    if allowed and ext not in allowed:
        return f"文件格式 {ext or '(无扩展名)'} 不符合要求，请提交 {'/'.join(allowed)} 格式"
    return ""


def validate_materials(version: ItemVersion, materials: Sequence[ProvidedMaterial]) -> None:
    """Refuse materials the pinned version does not allow (unknown code, wrong kind, duplicate)."""
    seen: set[str] = set()
    for provided in materials:
        spec = version.material(provided.code)  # MaterialNotAllowed lists the allowed codes
        if provided.code in seen:
            raise MaterialNotAllowed(
                f"material {provided.code} ({spec.name}) was given twice; give each material once"
            )
        seen.add(provided.code)
        if provided.kind is MaterialKind.COMMITMENT and not spec.commitment_allowed:
            raise MaterialNotAllowed(
                f"material {provided.code} ({spec.name}) cannot be replaced by a commitment "
                "(告知承诺) under this item's guide; provide the material itself"
            )
        if provided.kind is MaterialKind.ECERT and not spec.ecert_type:
            raise MaterialNotAllowed(
                f"material {provided.code} ({spec.name}) cannot be satisfied by an e-certificate; "
                "upload it or bring it to the window"
            )
        if provided.kind is MaterialKind.SHARED and not spec.shared_from:
            raise MaterialNotAllowed(
                f"material {provided.code} ({spec.name}) is not shared by any department; "
                "upload it or bring it to the window"
            )


# --- who may apply (服务对象) --------------------------------------------------------------

# GB 32100 registering authority + entity category → the service target (A.4) it is.
_ORGANISATION_TARGETS = {
    ("1", "1"): ServiceTarget.GOVERNMENT_BODY,  # 机构编制: 机关
    ("1", "2"): ServiceTarget.PUBLIC_INSTITUTION,  # 事业单位
    ("1", "3"): ServiceTarget.SOCIAL_ORGANISATION,  # 群众团体
    ("5", "1"): ServiceTarget.SOCIAL_ORGANISATION,  # 民政: 社会团体
    ("5", "2"): ServiceTarget.SOCIAL_ORGANISATION,  # 民办非企业单位
    ("5", "3"): ServiceTarget.SOCIAL_ORGANISATION,  # 基金会
    ("9", "1"): ServiceTarget.ENTERPRISE,  # 工商: 企业
    ("9", "2"): ServiceTarget.ENTERPRISE,  # 个体工商户
    ("9", "3"): ServiceTarget.ENTERPRISE,  # 农民专业合作社
}


def applicant_targets(key: PartyKey) -> frozenset[ServiceTarget]:
    """The service targets (服务对象) an applicant counts as.

    A person is a 自然人. An organisation with a credit code counts as what its registering
    authority and category say (9-1 企业 → 企业法人, 1-2 → 事业法人, 5-x → 社会组织法人, 1-1 →
    行政机关); every organisation also counts as 其他.
    """
    if not key.is_organisation:
        return frozenset({ServiceTarget.NATURAL_PERSON})
    found = {ServiceTarget.OTHER}
    if key.doc_type is DocumentType.CREDIT_CODE:
        target = _ORGANISATION_TARGETS.get((key.number[0], key.number[1]))
        if target is not None:
            found.add(target)
    return frozenset(found)


def _check_target(version: ItemVersion, applicant: PartyKey) -> None:
    counts_as = applicant_targets(applicant)
    if counts_as & set(version.targets):
        return
    allowed = "、".join(f"{t.label} ({t.value})" for t in version.targets)
    who = "、".join(sorted(t.label for t in counts_as))
    raise InvalidInput(
        f"{version.name} ({version.item_code}) is for {allowed} only; the applicant "
        f"{applicant.masked()} is {who}. Choose an item for this kind of applicant"
    )


@attrs.frozen(kw_only=True)
class Case:
    """An application being handled (办件), pinned to one published item version."""

    id: str
    tracking_code: str
    item_code: str
    item_version: int
    agency: str  # credit code of the implementing agency (the window's back office)
    applicant: PartyKey
    applicant_name: str
    agent: CaseAgent | None = None  # who applied for the applicant (经办人 / 受托人)
    channel: str
    state: CaseState = CaseState.DRAFT
    version: int = 0  # bumped by every command: optimistic concurrency
    # A form is checked once, when it comes in (start, update_draft), not on every command.
    form: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)
    materials: tuple[ProvidedMaterial, ...] = ()
    created_at: dt.datetime
    submitted_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    notice: Notice | None = None
    tolerated: tuple[ToleratedMaterial, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    tasks: tuple[ReviewTask, ...] = ()
    stage: int = 0  # current review stage, 1-based; 0 before acceptance
    suspensions: tuple[Suspension, ...] = ()
    extensions: tuple[Extension, ...] = ()
    extension_request: ExtensionRequest | None = None
    deadline: CaseDeadline | None = None
    decision: CaseDecision | None = None
    refusal: CaseDecision | None = None  # 不予受理: reason and legal basis
    result: CaseResult | None = None
    # The hash of the last event of the trail (its integrity chain), kept by the store: the
    # domain never sets it; a trail cut short or rewritten no longer ends here.
    trail_head: str = ""

    # --- derived --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def is_suspended(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].end is None

    @property
    def open_tasks(self) -> tuple[ReviewTask, ...]:
        return tuple(t for t in self.tasks if t.status is TaskStatus.OPEN)

    @property
    def outstanding_materials(self) -> tuple[ToleratedMaterial, ...]:
        """Tolerated materials (容缺) not yet supplied: they hold back the result."""
        return tuple(t for t in self.tolerated if t.supplied_at is None)

    @property
    def extension_workdays(self) -> int:
        return sum(e.workdays for e in self.extensions)

    @property
    def division(self) -> str:
        """The division (行政区划) the case lies in: the implementing agency's, read from
        positions 3–8 of its credit code (the registering authority's GB/T 2260 code)."""
        return self.agency[2:8]

    @property
    def departments(self) -> frozenset[str]:
        """Every department with a review task on the case (open or decided)."""
        return frozenset(t.department for t in self.tasks)

    def allowed_commands(self) -> frozenset[str]:
        """The commands the case's state allows (a session narrows them to what the
        principal may do: ``session.cases.commands(case)``)."""
        allowed = _ALLOWED[self.state]
        if self.is_suspended:
            allowed = allowed & frozenset(_WHILE_SUSPENDED)
        else:
            allowed = allowed - {"resume"}
        if self.extension_request is None:
            allowed = allowed - {"decline_extension"}
        else:
            allowed = allowed - {"request_extension"}
        return allowed

    def task(self, task_id: str) -> ReviewTask:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise InvalidInput(
            f"case {self.tracking_code} has no review task {task_id!r}; its tasks are "
            f"{[t.id for t in self.tasks]}"
        )

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        version: ItemVersion,
        applicant: PartyKey,
        applicant_name: str,
        channel: str,
        materials: Sequence[ProvidedMaterial] = (),
        form: Mapping[str, Any] | None = None,
        agent: CaseAgent | None = None,
        now: dt.datetime,
        actor: Actor,
        case_id: str | None = None,
        tracking_code: str | None = None,
    ) -> Step:
        """A new draft application pinned to ``version`` (its guide never changes under it).

        The applicant must be one the item serves (服务对象: a person for a 自然人 item, …).
        """
        check_text(applicant_name, "applicant_name")
        if not applicant_name.strip():
            raise InvalidInput("the applicant's name is empty; give the name on the ID document")
        check_texts(form or {}, "form")
        _check_target(version, applicant)
        validate_materials(version, materials)
        case = cls(
            id=case_id or new_id(),
            tracking_code=tracking_code or TrackingCode.new(),
            item_code=version.item_code,
            item_version=version.version,
            agency=version.agency.credit_code,
            applicant=applicant,
            applicant_name=applicant_name.strip(),
            agent=agent,
            channel=channel,
            form=form or {},
            materials=tuple(materials),
            created_at=now,
            version=1,
        )
        event = CaseEvent(
            case_id=case.id,
            seq=1,
            kind=EventKind.DRAFTED,
            at=now,
            actor=actor,
            payload=Drafted(
                item_code=case.item_code,
                item_version=case.item_version,
                channel=channel,
                materials=[m.code for m in materials],
                agent=str(agent.key) if agent else None,
            ),
        )
        return Step(case, event)

    # --- helpers --------------------------------------------------------------------------

    def _require(self, command: str) -> None:
        if command not in _ALLOWED[self.state]:
            raise InvalidTransition(self.state.value, command, self.allowed_commands())

    def _step(
        self,
        payload: EventPayload,
        *,
        now: dt.datetime,
        actor: Actor,
        outbox: Iterable[OutboxMessage] = (),
        kind: EventKind | None = None,
        **changes: Any,
    ) -> Step:
        case = attrs.evolve(self, version=self.version + 1, **changes)
        event = CaseEvent(
            case_id=self.id,
            seq=case.version,
            kind=kind or kind_of(payload),
            at=now,
            actor=actor,
            payload=payload,
        )
        return Step(case, event, tuple(outbox))

    def _cancel_open(
        self, tasks: tuple[ReviewTask, ...], why: str
    ) -> tuple[tuple[ReviewTask, ...], list[OutboxMessage]]:
        """Cancel the open tasks; each gets a ``review.cancel`` message for its department."""
        cancelled = tuple(
            attrs.evolve(t, status=TaskStatus.CANCELLED) if t.status is TaskStatus.OPEN else t
            for t in tasks
        )
        outbox = [
            OutboxMessage(
                id=new_id(),
                topic="review.cancel",
                payload={
                    "task_id": t.id,
                    "case_id": self.id,
                    "department": t.department,
                    "reason": why,
                },
            )
            for t in tasks
            if t.status is TaskStatus.OPEN
        ]
        return cancelled, outbox

    def _fetch_result(self) -> OutboxMessage:
        """Durable work for the implementing agency: fetch the licence and its face data
        (``issue_result``) and record the result, retried until done."""
        return OutboxMessage(
            id=new_id(),
            topic="result.fetch",
            payload={"case_id": self.id, "department": self.agency},
        )

    def _notify(self, kind: str, text: str) -> OutboxMessage:
        return OutboxMessage(
            id=new_id(),
            topic="applicant.notify",
            payload={
                "case_id": self.id,
                "tracking_code": self.tracking_code,
                "applicant": self.applicant.number,
                "kind": kind,
                "text": text,
            },
        )

    # --- application ----------------------------------------------------------------------

    def update_draft(
        self,
        version: ItemVersion,
        *,
        materials: Sequence[ProvidedMaterial] | None = None,
        form: Mapping[str, Any] | None = None,
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        self._require("update_draft")
        check_texts(form or {}, "form")
        new_materials = self.materials if materials is None else tuple(materials)
        validate_materials(version, new_materials)
        return self._step(
            DraftUpdated(materials=[m.code for m in new_materials]),
            now=now,
            actor=actor,
            materials=new_materials,
            form=form if form is not None else self.form,
        )

    def submit(self, *, now: dt.datetime, actor: Actor) -> Step:
        self._require("submit")
        return self._step(
            Submitted(tracking_code=self.tracking_code),
            now=now,
            actor=actor,
            state=CaseState.SUBMITTED,
            submitted_at=now,
        )

    def prereview(
        self,
        version: ItemVersion,
        *,
        defects: Mapping[str, str] | None = None,
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        """Check every material at once; the one-time notice lists all that is wrong."""
        self._require("prereview")
        notice = Notice(items=check_materials(version, self.materials, defects), issued_at=now)
        lines = [_notice_line(i) for i in notice.items]
        if notice.complete:
            return self._step(
                Prereviewed(complete=True, items=lines),
                now=now,
                actor=actor,
                state=CaseState.PRE_REVIEWED,
                notice=notice,
            )
        return self._step(
            SupplementRequested(complete=False, items=lines),
            now=now,
            actor=actor,
            outbox=[self._notify("one_time_notice", notice.text())],
            state=CaseState.SUPPLEMENT_NEEDED,
            notice=notice,
        )

    def resubmit(
        self,
        version: ItemVersion,
        materials: Sequence[ProvidedMaterial],
        *,
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        """Supply corrected or missing materials (补正); they replace those with the same code."""
        self._require("resubmit")
        merged = {m.code: m for m in self.materials}
        merged.update({m.code: m for m in materials})
        new_materials = tuple(merged.values())
        validate_materials(version, new_materials)
        return self._step(
            Resubmitted(materials=[m.code for m in materials]),
            now=now,
            actor=actor,
            state=CaseState.SUBMITTED,
            materials=new_materials,
        )

    # --- acceptance -----------------------------------------------------------------------

    def accept(
        self,
        version: ItemVersion,
        *,
        tolerate: bool = False,
        supplement_due: dt.date | None = None,
        verify_due: dt.date | None = None,
        defects: Mapping[str, str] | None = None,
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        """Accept the application (受理) and open the first review stage.

        Materials are checked again. With ``tolerate=True`` (容缺受理) an application whose
        only gaps are 容缺后补 materials is accepted; each gets ``supplement_due``. Commitments
        (告知承诺) get a verification task due ``verify_due``.
        """
        self._require("accept")
        problems = check_materials(version, self.materials, defects)
        if problems and not (tolerate and all(p.tolerable for p in problems)):
            blocking = [p for p in problems if not (tolerate and p.tolerable)]
            listed = "; ".join(f"{p.code} {p.name}: {p.detail}" for p in blocking)
            hint = (
                " (these are tolerable: accept with tolerate=True for 容缺受理)"
                if not tolerate and all(p.tolerable for p in problems)
                else "; run prereview to send the one-time notice"
            )
            raise InvalidInput(f"cannot accept case {self.tracking_code}: {listed}{hint}")
        tolerated = tuple(
            ToleratedMaterial(
                code=p.code, name=p.name, due=_required(supplement_due, "supplement_due")
            )
            for p in problems
        )
        commitments = tuple(
            Commitment(code=m.code, name=version.material(m.code).name, verify_due=verify_due)
            for m in self.materials
            if m.kind is MaterialKind.COMMITMENT
        )
        outbox: list[OutboxMessage] = []
        for c in commitments:
            outbox.append(
                OutboxMessage(
                    id=new_id(),
                    topic="commitment.verify",
                    payload={"case_id": self.id, "material": c.code, "due": _iso(c.verify_due)},
                )
            )
        tasks, task_outbox = self._open_stage(version, 1, now)
        outbox.extend(task_outbox)
        return self._step(
            Accepted(
                stage=1,
                tasks=[TaskRef(id=t.id, department=t.department) for t in tasks],
                tolerated=[ToleratedDue(code=t.code, due=t.due) for t in tolerated],
                commitments=[c.code for c in commitments],
            ),
            now=now,
            actor=actor,
            outbox=outbox,
            state=CaseState.IN_REVIEW,
            accepted_at=now,
            tolerated=tolerated,
            commitments=commitments,
            tasks=self.tasks + tasks,
            stage=1,
        )

    def _open_stage(
        self, version: ItemVersion, stage: int, now: dt.datetime
    ) -> tuple[tuple[ReviewTask, ...], list[OutboxMessage]]:
        stages = version.review_stages
        if stages:
            spec = stages[stage - 1]
            name, departments = spec.name, spec.departments
        else:  # no stages in the guide: the implementing agency reviews alone
            name, departments = "审查", (version.agency.credit_code,)
        tasks = tuple(
            ReviewTask(id=new_id(), stage=stage, stage_name=name, department=d, opened_at=now)
            for d in departments
        )
        outbox = [
            OutboxMessage(
                id=new_id(),
                topic="review.open",
                payload={
                    "task_id": t.id,
                    "case_id": self.id,
                    "department": t.department,
                    "stage": stage,
                    "item_code": self.item_code,
                },
            )
            for t in tasks
        ]
        return tasks, outbox

    def refuse(self, *, reason: str, basis: str, now: dt.datetime, actor: Actor) -> Step:
        """Do not accept (不予受理), with the reason and its legal basis."""
        self._require("refuse")
        _need_text(reason=reason, basis=basis)
        refusal = CaseDecision(approved=False, reason=reason, basis=basis, at=now, by=actor.name)
        return self._step(
            NotAccepted(reason=reason, basis=basis),
            now=now,
            actor=actor,
            outbox=[self._notify("not_accepted", f"不予受理：{reason}（依据：{basis}）")],
            state=CaseState.NOT_ACCEPTED,
            refusal=refusal,
            closed_at=now,
        )

    # --- review ---------------------------------------------------------------------------

    def decide(
        self,
        version: ItemVersion,
        task_id: str,
        *,
        approve: bool,
        reason: str = "",
        basis: str = "",
        remedies: str = "",
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        """Record one department's decision on its task.

        A denial denies the case (other open tasks are cancelled). When every task of the
        stage is approved the next stage opens; after the last stage the case is approved.
        """
        self._require("decide")
        if self.is_suspended:
            raise InvalidTransition("suspended", "decide", _WHILE_SUSPENDED)
        task = self.task(task_id)
        if task.status is not TaskStatus.OPEN:
            raise InvalidTransition(
                f"in_review with task {task_id} already {task.status.value}", "decide", []
            )
        for name, text in (("reason", reason), ("basis", basis), ("remedies", remedies)):
            check_text(text, name)
        if not approve:
            _need_text(reason=reason, basis=basis, remedies=remedies)
        decided = attrs.evolve(
            task,
            status=TaskStatus.APPROVED if approve else TaskStatus.DENIED,
            decided_at=now,
            decided_by=actor.name,
            reason=reason,
            basis=basis,
        )
        tasks = tuple(decided if t.id == task_id else t for t in self.tasks)
        who: dict[str, Any] = {
            "task_id": task_id,
            "department": task.department,
            "stage": task.stage,
        }
        if not approve:
            tasks, cancels = self._cancel_open(tasks, "denied")
            decision = CaseDecision(
                approved=False, reason=reason, basis=basis, remedies=remedies, at=now, by=actor.name
            )
            return self._step(
                Denied(reason=reason, basis=basis, remedies=remedies, **who),
                now=now,
                actor=actor,
                outbox=[
                    self._notify("denied", f"不予许可：{reason}（依据：{basis}；{remedies}）"),
                    *cancels,
                ],
                state=CaseState.DENIED,
                tasks=tasks,
                decision=decision,
                closed_at=now,
                extension_request=None,
            )
        stage_open = any(t.stage == self.stage and t.status is TaskStatus.OPEN for t in tasks)
        if stage_open:
            return self._step(
                TaskApproved(reason=reason, basis=basis, **who), now=now, actor=actor, tasks=tasks
            )
        stage_count = max(1, len(version.review_stages))
        if self.stage < stage_count:
            new_tasks, outbox = self._open_stage(version, self.stage + 1, now)
            return self._step(
                StageOpened(
                    reason=reason,
                    basis=basis,
                    next_stage=self.stage + 1,
                    tasks=[TaskRef(id=t.id, department=t.department) for t in new_tasks],
                    **who,
                ),
                now=now,
                actor=actor,
                outbox=outbox,
                tasks=tasks + new_tasks,
                stage=self.stage + 1,
            )
        decision = CaseDecision(approved=True, reason=reason, basis=basis, at=now, by=actor.name)
        outbox = [self._notify("approved", "您的申请已准予许可，正在制作结果。")]
        if not self.outstanding_materials:
            outbox.append(self._fetch_result())
        return self._step(
            Approved(reason=reason, basis=basis, **who),
            now=now,
            actor=actor,
            outbox=outbox,
            state=CaseState.APPROVED,
            tasks=tasks,
            decision=decision,
            extension_request=None,
        )

    def suspend(
        self,
        reason: SuspensionReason,
        *,
        notice: str,
        today: dt.date,
        now: dt.datetime,
        actor: Actor,
    ) -> Step:
        """Stop the clock (挂起). The written notice to the applicant is required (第45条)."""
        self._require("suspend")
        if self.is_suspended:
            raise InvalidTransition("suspended", "suspend", _WHILE_SUSPENDED)
        _need_text(notice=notice)
        entry = Suspension(reason=reason, start=today, notice=notice.strip(), by=actor.name)
        return self._step(
            Suspended(reason=reason.value, start=today, notice=notice.strip()),
            now=now,
            actor=actor,
            outbox=[self._notify("suspended", notice.strip())],
            suspensions=(*self.suspensions, entry),
        )

    def resume(self, *, today: dt.date, now: dt.datetime, actor: Actor) -> Step:
        self._require("resume")
        if not self.is_suspended:
            raise InvalidTransition(
                "in_review and not suspended", "resume", sorted(_ALLOWED[self.state] - {"resume"})
            )
        last = attrs.evolve(self.suspensions[-1], end=max(today, self.suspensions[-1].start))
        return self._step(
            Resumed(start=last.start, end=last.end),
            now=now,
            actor=actor,
            outbox=[self._notify("resumed", "您的办件已恢复办理。")],
            suspensions=(*self.suspensions[:-1], last),
        )

    def request_extension(
        self, workdays: int, *, reason: str, now: dt.datetime, actor: Actor
    ) -> Step:
        """Ask an approver for more working days (延期申请); the clock does not move yet."""
        self._require("request_extension")
        if self.extension_request is not None:
            pending = self.extension_request
            raise InvalidTransition(
                f"waiting for an approver on the extension of {pending.workdays} working days "
                f"requested by {pending.requested_by}",
                "request_extension",
                ["extend", "decline_extension"],
            )
        _check_workdays(workdays)
        _need_text(reason=reason)
        request = ExtensionRequest(
            workdays=workdays, reason=reason.strip(), requested_by=actor.name, at=now
        )
        return self._step(
            ExtensionRequested(workdays=workdays, reason=request.reason),
            now=now,
            actor=actor,
            extension_request=request,
        )

    def extend(
        self, workdays: int | None = None, *, reason: str = "", now: dt.datetime, actor: Actor
    ) -> Step:
        """Extend the time limit (延期, e.g. 第42条: +10 with approval); ``actor`` approves it.

        With a pending request and no ``workdays``/``reason``, the request is approved as
        asked; otherwise the approver's own figures are used.
        """
        self._require("extend")
        pending = self.extension_request
        if workdays is None:
            if pending is None:
                raise InvalidInput(
                    "give the number of working days: there is no pending extension request"
                )
            workdays = pending.workdays
        _check_workdays(workdays)
        reason = (reason or (pending.reason if pending else "")).strip()
        _need_text(reason=reason)
        ext = Extension(workdays=workdays, approved_by=actor.name, reason=reason, at=now)
        return self._step(
            Extended(workdays=workdays, approved_by=actor.name, reason=reason),
            now=now,
            actor=actor,
            outbox=[self._notify("extended", f"办理时限延长{workdays}个工作日：{reason}")],
            extensions=(*self.extensions, ext),
            extension_request=None,
        )

    def decline_extension(self, *, reason: str, now: dt.datetime, actor: Actor) -> Step:
        """Refuse a pending extension request (不予延期); the time limit stays."""
        self._require("decline_extension")
        pending = self.extension_request
        if pending is None:
            raise InvalidTransition(
                "in_review with no extension request", "decline_extension", ["request_extension"]
            )
        _need_text(reason=reason)
        return self._step(
            ExtensionDeclined(workdays=pending.workdays, reason=reason.strip()),
            now=now,
            actor=actor,
            extension_request=None,
        )

    def supply(
        self, version: ItemVersion, material: ProvidedMaterial, *, now: dt.datetime, actor: Actor
    ) -> Step:
        """Supply a material tolerated at acceptance (容缺后补)."""
        self._require("supply")
        pending = {t.code for t in self.outstanding_materials}
        if material.code not in pending:
            raise MaterialNotAllowed(
                f"material {material.code} is not awaited for case {self.tracking_code}; "
                f"awaited: {sorted(pending) or 'none'}"
            )
        validate_materials(version, [material])
        tolerated = tuple(
            attrs.evolve(t, supplied_at=now) if t.code == material.code else t
            for t in self.tolerated
        )
        merged = {m.code: m for m in self.materials}
        merged[material.code] = material
        # The last awaited material of an approved case releases its result: fetch it now.
        last = all(t.supplied_at is not None for t in tolerated)
        outbox = [self._fetch_result()] if last and self.state is CaseState.APPROVED else []
        return self._step(
            MaterialSupplied(code=material.code),
            now=now,
            actor=actor,
            outbox=outbox,
            tolerated=tolerated,
            materials=tuple(merged.values()),
        )

    def verify_commitment(
        self, code: str, *, truthful: bool, note: str = "", now: dt.datetime, actor: Actor
    ) -> Step:
        """Record the after-the-fact check of a commitment (告知承诺核查).

        A false commitment denies a case still in review and revokes an issued result.
        """
        self._require("verify_commitment")
        check_text(note, "note")
        match = [c for c in self.commitments if c.code == code and c.truthful is None]
        if not match:
            raise InvalidInput(
                f"case {self.tracking_code} has no unverified commitment for material {code}; "
                f"commitments: {[c.code for c in self.commitments]}"
            )
        commitments = tuple(
            attrs.evolve(c, truthful=truthful, verified_at=now, note=note) if c.code == code else c
            for c in self.commitments
        )
        if truthful:
            return self._step(
                CommitmentVerified(code=code, truthful=True, note=note),
                now=now,
                actor=actor,
                commitments=commitments,
            )
        reason = f"告知承诺不实：{match[0].name}" + (f"（{note}）" if note else "")
        basis = "《国务院办公厅关于全面推行证明事项和涉企经营许可事项告知承诺制的指导意见》"
        decision = CaseDecision(approved=False, reason=reason, basis=basis, at=now, by=actor.name)
        if self.state is CaseState.IN_REVIEW:
            tasks, cancels = self._cancel_open(self.tasks, "false commitment")
            return self._step(
                Denied(reason=reason, basis=basis, commitment=code, note=note),
                now=now,
                actor=actor,
                outbox=[self._notify("denied", reason), *cancels],
                state=CaseState.DENIED,
                commitments=commitments,
                tasks=tasks,
                decision=decision,
                closed_at=now,
                extension_request=None,
            )
        return self._step(
            Revoked(code=code, reason=reason, note=note),
            now=now,
            actor=actor,
            outbox=[self._notify("revoked", reason)],
            state=CaseState.REVOKED,
            commitments=commitments,
            decision=decision,
            closed_at=now,
        )

    # --- result ---------------------------------------------------------------------------

    def issue_result(self, result: CaseResult, *, now: dt.datetime, actor: Actor) -> Step:
        """Record the result (制证). Held back while 容缺 materials are outstanding."""
        self._require("issue_result")
        outstanding = self.outstanding_materials
        if outstanding:
            names = ", ".join(f"{t.code} {t.name} (due {t.due})" for t in outstanding)
            raise InvalidInput(
                f"the result of case {self.tracking_code} cannot be released until the "
                f"tolerated materials arrive (容缺后补): {names}; record them with supply()"
            )
        _need_text(result_name=result.name, result_number=result.number)
        issued = result if result.issued_at else attrs.evolve(result, issued_at=now)
        return self._step(
            ResultReady(name=issued.name, number=issued.number, ecert_id=issued.ecert_id),
            now=now,
            actor=actor,
            outbox=[
                self._notify("result_ready", f"{issued.name}已制作完成，编号{issued.number}。")
            ],
            state=CaseState.RESULT_READY,
            result=issued,
        )

    def complete(self, *, delivery: str, now: dt.datetime, actor: Actor) -> Step:
        """The applicant received the result (办结): window pickup, post, or electronic."""
        self._require("complete")
        _need_text(delivery=delivery)
        return self._step(
            Completed(delivery=delivery),
            now=now,
            actor=actor,
            state=CaseState.COMPLETED,
            closed_at=now,
        )

    def withdraw(self, *, reason: str, now: dt.datetime, actor: Actor) -> Step:
        """The applicant withdraws (撤回) an open case."""
        self._require("withdraw")
        check_text(reason, "reason")
        tasks, cancels = self._cancel_open(self.tasks, "withdrawn")
        return self._step(
            Withdrawn(reason=reason),
            now=now,
            actor=actor,
            outbox=cancels,
            state=CaseState.WITHDRAWN,
            tasks=tasks,
            closed_at=now,
            extension_request=None,
        )

    def with_deadline(self, deadline: CaseDeadline | None) -> Case:
        """The same case with recomputed due dates, as part of the command that moved them."""
        return attrs.evolve(self, deadline=deadline)

    def reschedule(self, deadline: CaseDeadline, *, now: dt.datetime, actor: Actor) -> Step:
        """Record due dates recomputed outside any command (e.g. official working-day data
        replaced a provisional year). The applicant sees the new dates in the trail, and
        anyone holding the old copy gets :class:`ConcurrentUpdate` instead of writing it back.
        """
        return self._step(
            DeadlineRecomputed(
                promised=deadline.promised,
                statutory=deadline.statutory,
                provisional=deadline.provisional,
            ),
            now=now,
            actor=actor,
            deadline=deadline,
        )


def _check_workdays(workdays: object) -> None:
    if isinstance(workdays, bool) or not isinstance(workdays, int) or not 1 <= workdays <= 60:
        raise InvalidInput(f"an extension must be 1 to 60 working days, got {workdays!r}")


def _need_text(**fields: str) -> None:
    for name, value in fields.items():
        check_text(value or "", name)
    empty = [name for name, value in fields.items() if not (value or "").strip()]
    if empty:
        raise InvalidInput(f"{', '.join(empty)} must not be empty; state it in full")


def _required(value: dt.date | None, name: str) -> dt.date:
    if value is None:
        raise InvalidInput(f"{name} is required for 容缺受理: give the supplement deadline")
    return value


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _notice_line(item: NoticeItem) -> NoticeLine:
    return NoticeLine(code=item.code, name=item.name, problem=item.problem, detail=item.detail)
