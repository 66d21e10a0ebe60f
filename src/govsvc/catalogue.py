"""Service items and their guides (政务服务事项与办事指南), after GB/T 39046-2020 and GB/T 39554.

A :class:`ServiceItem` is the stable identity of a service an agency offers: its catalogue code
(基本编码), implementing agency, level of exercise and type. What an applicant must bring and how
long the agency may take is in an :class:`ItemVersion`, an immutable published version carrying
the whole service guide (办事指南). A case pins the version it was accepted under, so publishing
a new version never changes the rules of cases already running.

:func:`check_version` lists every consistency rule a version breaks; :func:`publish` refuses a
version with :class:`~govsvc.errors.CatalogueRejected` carrying all of them at once, so a clerk
fixes the guide in one pass. :class:`Catalogue` keeps published versions in memory.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs

from govsvc.deadlines import TimeLimit
from govsvc.errors import (
    CatalogueRejected,
    InvalidIdentifier,
    InvalidInput,
    MaterialNotAllowed,
    UnknownItem,
)
from govsvc.identity import CreditCode

__all__ = [
    "RESULT_KINDS",
    "Agency",
    "CaseKind",
    "Catalogue",
    "CatalogueCode",
    "Channel",
    "CrossRegion",
    "ExerciseLevel",
    "Fee",
    "FeeInfo",
    "ImplementationCode",
    "ItemType",
    "ItemVersion",
    "LegalBasis",
    "Material",
    "MaterialSource",
    "Medium",
    "Necessity",
    "OnlineDepth",
    "ProcessStep",
    "ResultSpec",
    "ReviewStage",
    "ServiceItem",
    "ServiceTarget",
    "check_version",
    "publish",
]


# --------------------------------------------------------------------------------------------
# Code tables (GB/T 39046 appendix A)


class ItemType(enum.Enum):
    """Type of a service item (事项类型, A.1); the value is the national two-digit code.

    Provinces renumber these codes, so code maps for other platforms key on :attr:`label`.
    """

    LICENSING = "01"
    PENALTY = "02"
    COERCION = "03"
    LEVY = "04"
    BENEFIT = "05"
    INSPECTION = "06"
    CONFIRMATION = "07"
    REWARD = "08"
    ADJUDICATION = "09"
    OTHER_POWER = "10"
    PUBLIC_SERVICE = "20"

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 行政许可."""
        return _ITEM_TYPE_LABELS[self]


_ITEM_TYPE_LABELS = {
    ItemType.LICENSING: "行政许可",
    ItemType.PENALTY: "行政处罚",
    ItemType.COERCION: "行政强制",
    ItemType.LEVY: "行政征收",
    ItemType.BENEFIT: "行政给付",
    ItemType.INSPECTION: "行政检查",
    ItemType.CONFIRMATION: "行政确认",
    ItemType.REWARD: "行政奖励",
    ItemType.ADJUDICATION: "行政裁决",
    ItemType.OTHER_POWER: "其他行政权力",
    ItemType.PUBLIC_SERVICE: "公共服务",
}


class ExerciseLevel(enum.Enum):
    """Level at which an item is exercised (行使层级, A.2)."""

    NATIONAL = "1"
    PROVINCE = "2"
    CITY = "3"
    COUNTY = "4"
    TOWNSHIP = "5"
    VILLAGE = "6"
    TIERED = "7"

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 市级."""
        return _LEVEL_LABELS[self]


_LEVEL_LABELS = {
    ExerciseLevel.NATIONAL: "国家级",
    ExerciseLevel.PROVINCE: "省级",
    ExerciseLevel.CITY: "市级",
    ExerciseLevel.COUNTY: "县级",
    ExerciseLevel.TOWNSHIP: "乡镇（街道）级",
    ExerciseLevel.VILLAGE: "村（社区）级",
    ExerciseLevel.TIERED: "分级管理",
}


class ServiceTarget(enum.Enum):
    """Who may apply (服务对象, A.4)."""

    NATURAL_PERSON = "1"
    ENTERPRISE = "2"
    PUBLIC_INSTITUTION = "3"
    SOCIAL_ORGANISATION = "4"
    GOVERNMENT_BODY = "5"
    OTHER = "6"

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 自然人."""
        return _TARGET_LABELS[self]


_TARGET_LABELS = {
    ServiceTarget.NATURAL_PERSON: "自然人",
    ServiceTarget.ENTERPRISE: "企业法人",
    ServiceTarget.PUBLIC_INSTITUTION: "事业法人",
    ServiceTarget.SOCIAL_ORGANISATION: "社会组织法人",
    ServiceTarget.GOVERNMENT_BODY: "行政机关",
    ServiceTarget.OTHER: "其他组织",
}


class Channel(enum.Enum):
    """A way to apply (办理形式, A.5)."""

    WINDOW = "1"
    PC = "2"
    MOBILE = "3"
    EXPRESS = "4"

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 窗口办理."""
        return _CHANNEL_LABELS[self]

    @property
    def online(self) -> bool:
        """True for the channels that reach the online platform (PC and mobile)."""
        return self in (Channel.PC, Channel.MOBILE)


_CHANNEL_LABELS = {
    Channel.WINDOW: "窗口办理",
    Channel.PC: "网上办理（电脑端）",
    Channel.MOBILE: "网上办理（移动端）",
    Channel.EXPRESS: "快递申请",
}


class CaseKind(enum.Enum):
    """Whether a case is finished on the spot or by a promised date (办件类型, A.6)."""

    IMMEDIATE = "1"
    PROMISED = "2"

    @property
    def label(self) -> str:
        """即办件 or 承诺件."""
        return "即办件" if self is CaseKind.IMMEDIATE else "承诺件"


class OnlineDepth(enum.Enum):
    """How far an item can be handled online (网上办理深度).

    Ⅰ information and consultation, Ⅱ online pre-review or booking, Ⅲ online acceptance (at most
    one visit), Ⅳ fully online (全程网办, no visit).
    """

    I = "1"  # noqa: E741 - the standard's own numeral
    II = "2"
    III = "3"
    IV = "4"

    @property
    def label(self) -> str:
        """The Roman numeral the standard uses, e.g. Ⅳ."""
        return "ⅠⅡⅢⅣ"[int(self.value) - 1]


class CrossRegion(enum.Enum):
    """Where else the item can be handled (通办范围)."""

    NONE = "无"
    NATIONWIDE = "全国"
    CROSS_PROVINCE = "跨省"
    CROSS_CITY = "跨市"
    CROSS_COUNTY = "跨县"

    @property
    def label(self) -> str:
        """The Chinese name (the value itself)."""
        return self.value


class Necessity(enum.Enum):
    """Whether a material must be given (材料必要性)."""

    REQUIRED = "必要"
    OPTIONAL = "非必要"
    TOLERATED = "容缺后补"

    @property
    def label(self) -> str:
        """The Chinese name (the value itself)."""
        return self.value


class MaterialSource(enum.Enum):
    """Where a material comes from (材料来源)."""

    APPLICANT = "申请人自备"
    GOVERNMENT = "政府部门核发"

    @property
    def label(self) -> str:
        """The Chinese name (the value itself)."""
        return self.value


class Medium(enum.Enum):
    """Paper, electronic, or either (材料形式)."""

    PAPER = "纸质"
    ELECTRONIC = "电子"
    EITHER = "纸质或电子"

    @property
    def label(self) -> str:
        """The Chinese name (the value itself)."""
        return self.value


# --------------------------------------------------------------------------------------------
# Field helpers

_CATALOGUE_CODE = re.compile(r"[0-9A-Z]{10,12}")
_IMPLEMENTATION_CODE = re.compile(r"[0-9A-Z]{24,36}")
_MATERIAL_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,31}")
RESULT_KINDS = ("证照", "批文", "其他")
"""Allowed :attr:`ResultSpec.kind` values: certificate, approval document, other."""


def _check_credit_code(text: str, what: str = "credit code") -> str:
    """Normalise a unified social credit code (统一社会信用代码) or raise InvalidIdentifier."""
    try:
        return CreditCode.parse(str(text)).number
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(f"{what} {str(text).strip()!r}: {exc}") from None


def _credit_code_problem(text: str, what: str) -> str | None:
    try:
        _check_credit_code(text, what)
    except InvalidInput as exc:
        return str(exc)
    return None


def _strip(value: object) -> str:
    return str(value).strip()


def _strip_optional(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _not_blank(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise InvalidInput(f"{attribute.name} must not be empty")


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{attribute.name} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{attribute.name} must be 0 or more, got {value}")


def _texts(values: Iterable[object]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    return tuple(str(v).strip() for v in values)


def _tags(values: Iterable[object]) -> tuple[str, ...]:
    """Navigation tags (主题, 人生阶段): stripped, blanks dropped, each once, in order."""
    if isinstance(values, str):
        raise InvalidInput(f"give a list of tags, not the single string {values!r}")
    found: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidInput(f"a tag is text such as 社会保障 or 出生, got {value!r}")
        tag = value.strip()
        if len(tag) > 20:
            raise InvalidInput(f"tag {tag!r} is longer than 20 characters; use a short label")
        if ";" in tag:
            raise InvalidInput(f"tag {tag!r} holds a ';', which separates tags; leave it out")
        if tag and tag not in found:
            found.append(tag)
    return tuple(found)


def _formats(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    return tuple(str(v).strip().lower().lstrip(".") for v in values)


def _upper_code(value: object) -> str:
    return str(value).strip().upper()


def _codes(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(_upper_code(v) for v in values)


# --------------------------------------------------------------------------------------------
# Codes


@attrs.frozen
class CatalogueCode:
    """A 12-character catalogue code (基本编码) taken apart: ``RR TT MMMMM SSS``.

    ``CatalogueCode.parse("000201002000")`` gives defining level ``00``, type code ``02``,
    main item ``01002``, sub-item ``000``. The standard's text allows 10–12 characters, but only
    the 12-character form used by deployed platforms can be decomposed.
    """

    defining_level: str
    type_code: str
    main_item: str
    sub_item: str

    @classmethod
    def parse(cls, text: str) -> CatalogueCode:
        """Decompose a 12-character catalogue code; raise InvalidInput for anything else."""
        code = _upper_code(text)
        if not _CATALOGUE_CODE.fullmatch(code):
            raise InvalidInput(
                f"catalogue code {code!r} should be 10 to 12 characters of 0-9 and A-Z"
            )
        if len(code) != 12:
            raise InvalidInput(
                f"catalogue code {code!r} has {len(code)} characters; only 12-character codes "
                f"(RR TT MMMMM SSS) can be decomposed"
            )
        return cls(code[0:2], code[2:4], code[4:9], code[9:12])

    @property
    def item_type(self) -> ItemType | None:
        """The national item type the type code stands for, or None for a provincial code."""
        try:
            return ItemType(self.type_code)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.defining_level + self.type_code + self.main_item + self.sub_item


@attrs.frozen
class ImplementationCode:
    """An implementation code (实施编码) taken apart.

    31 characters: implementing agency's credit code (18) + level of exercise (1) + catalogue
    code (12). 33 characters: the same plus a two-digit handling item (业务办理项).
    """

    credit_code: str
    level: ExerciseLevel
    catalogue_code: str
    handling_item: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImplementationCode:
        """Decompose a 31- or 33-character code; raise InvalidInput for any other length."""
        code = _upper_code(text)
        if not _IMPLEMENTATION_CODE.fullmatch(code):
            raise InvalidInput(
                f"implementation code {code!r} should be 24 to 36 characters of 0-9 and A-Z"
            )
        if len(code) not in (31, 33):
            raise InvalidInput(
                f"implementation code {code!r} has {len(code)} characters; only the deployed "
                f"lengths can be decomposed: 31 (credit code 18 + level 1 + catalogue code 12) "
                f"and 33 (the same + a 2-digit handling item)"
            )
        credit_code = _check_credit_code(code[:18], "agency credit code in implementation code")
        try:
            level = ExerciseLevel(code[18])
        except ValueError:
            raise InvalidInput(
                f"implementation code {code!r}: character 19 is the level of exercise and "
                f"should be 1 to 7, got {code[18]!r}"
            ) from None
        handling_item = code[31:] or None
        if handling_item is not None and not handling_item.isdigit():
            raise InvalidInput(
                f"implementation code {code!r}: the handling item (last 2 characters) should be "
                f"digits, got {handling_item!r}"
            )
        return cls(credit_code, level, code[19:31], handling_item)

    def __str__(self) -> str:
        suffix = self.handling_item or ""
        return self.credit_code + self.level.value + self.catalogue_code + suffix


# --------------------------------------------------------------------------------------------
# Guide elements


# Typed converters: with a bare ``tuple`` mypy cannot check what callers pass.


def _fees(values: Iterable[Fee]) -> tuple[Fee, ...]:
    return tuple(values)


def _targets(values: Iterable[ServiceTarget]) -> tuple[ServiceTarget, ...]:
    return tuple(values)


def _bases(values: Iterable[LegalBasis]) -> tuple[LegalBasis, ...]:
    return tuple(values)


def _agencies(values: Iterable[Agency]) -> tuple[Agency, ...]:
    return tuple(values)


def _materials(values: Iterable[Material]) -> tuple[Material, ...]:
    return tuple(values)


def _steps(values: Iterable[ProcessStep]) -> tuple[ProcessStep, ...]:
    return tuple(values)


def _stages(values: Iterable[ReviewStage]) -> tuple[ReviewStage, ...]:
    return tuple(values)


def _results(values: Iterable[ResultSpec]) -> tuple[ResultSpec, ...]:
    return tuple(values)


def _channels(values: Iterable[Channel]) -> tuple[Channel, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class LegalBasis:
    """A legal basis (设定依据): the law, the article and its text."""

    law: str = attrs.field(converter=_strip, validator=_not_blank)
    article: str = attrs.field(default="", converter=_strip)
    text: str = attrs.field(default="", converter=_strip)

    def __str__(self) -> str:
        return f"{self.law}{self.article}"


@attrs.frozen(kw_only=True)
class Agency:
    """An implementing or co-handling agency (实施主体 / 联办机构) with its credit code."""

    name: str = attrs.field(converter=_strip, validator=_not_blank)
    credit_code: str = attrs.field(converter=_check_credit_code)


@attrs.frozen(kw_only=True)
class Material:
    """A material the applicant submits (申请材料).

    ``code`` identifies it within a version (e.g. ``M01``); cases refer to materials by code.
    A material issued by the government (政府部门核发) may be satisfied by an e-certificate of
    type ``ecert_type`` or by data shared from the department ``shared_from``;
    ``commitment_allowed`` means a signed commitment (告知承诺) may replace it.
    """

    code: str = attrs.field(converter=_strip)
    name: str = attrs.field(converter=_strip, validator=_not_blank)
    necessity: Necessity
    source: MaterialSource = MaterialSource.APPLICANT
    originals: int = attrs.field(default=1, validator=_non_negative)
    copies: int = attrs.field(default=0, validator=_non_negative)
    medium: Medium = Medium.EITHER
    formats: tuple[str, ...] = attrs.field(default=("pdf", "jpg", "png"), converter=_formats)
    ecert_type: str | None = attrs.field(default=None, converter=_strip_optional)
    shared_from: str | None = attrs.field(default=None, converter=_strip_optional)
    commitment_allowed: bool = False
    blank_form: str | None = attrs.field(default=None, converter=_strip_optional)
    sample: str | None = attrs.field(default=None, converter=_strip_optional)
    notes: str = attrs.field(default="", converter=_strip)

    @code.validator
    def _check_code(self, _: attrs.Attribute[str], value: str) -> None:
        if not _MATERIAL_CODE.fullmatch(value):
            raise InvalidInput(
                f"material code {value!r} should be 1 to 32 letters, digits, '_', '.' or '-' "
                f"starting with a letter or digit, e.g. 'M01'"
            )

    @property
    def may_use_ecert(self) -> bool:
        """True when an e-certificate or shared data can stand in for the paper material."""
        return self.source is MaterialSource.GOVERNMENT and (
            self.ecert_type is not None or self.shared_from is not None
        )


def _decimal(value: object) -> Decimal:
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:
        raise InvalidInput(f"fee amount {value!r} is not a number, e.g. 12.50") from None


def _non_negative_amount(_: object, __: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"fee amount must be 0 or more yuan, got {value}")


@attrs.frozen(kw_only=True)
class Fee:
    """One fee item (收费项目) in yuan, with its charging basis (收费依据)."""

    name: str = attrs.field(converter=_strip, validator=_not_blank)
    amount: Decimal = attrs.field(converter=_decimal, validator=_non_negative_amount)
    basis: str = attrs.field(default="", converter=_strip)


@attrs.frozen(kw_only=True)
class FeeInfo:
    """Whether and what the item charges (收费情况); free items keep the default."""

    charged: bool = False
    basis: str = attrs.field(default="", converter=_strip)
    items: tuple[Fee, ...] = attrs.field(default=(), converter=_fees)
    waivers: str = attrs.field(default="", converter=_strip)
    online_payment: bool = False


@attrs.frozen(kw_only=True)
class ResultSpec:
    """A result of the item (办理结果): a certificate (证照), an approval (批文) or other."""

    name: str = attrs.field(converter=_strip, validator=_not_blank)
    kind: str = attrs.field(converter=_strip)
    ecert_type: str | None = attrs.field(default=None, converter=_strip_optional)
    delivery: tuple[str, ...] = attrs.field(default=("窗口领取",), converter=_texts)
    post_supported: bool = False

    @kind.validator
    def _check_kind(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in RESULT_KINDS:
            raise InvalidInput(f"result kind {value!r} should be one of {', '.join(RESULT_KINDS)}")

    @property
    def needs_visit(self) -> bool:
        """True when the only way to get the result is to collect it at a window."""
        return (
            not self.post_supported
            and self.ecert_type is None
            and all(d == "窗口领取" for d in self.delivery)
        )


@attrs.frozen(kw_only=True)
class ProcessStep:
    """A step of the handling process (办理流程环节) with its own time limit, if any."""

    name: str = attrs.field(converter=_strip, validator=_not_blank)
    limit: TimeLimit | None = None


@attrs.frozen(kw_only=True)
class ReviewStage:
    """A review stage: the departments (by credit code) review in parallel (并联审批).

    Stages run in order; a case moves to the next stage when every department has finished.
    """

    name: str = attrs.field(converter=_strip, validator=_not_blank)
    departments: tuple[str, ...] = attrs.field(converter=_codes)


# --------------------------------------------------------------------------------------------
# Items and versions


@attrs.frozen(kw_only=True)
class ServiceItem:
    """The stable identity of a service item (政务服务事项) as one agency implements it.

    ``themes`` (主题, e.g. 社会保障, 户籍办理) and ``life_stages`` (人生阶段, e.g. 出生, 上学,
    就业, 婚育, 开办企业, 退休) are the tags a portal browses by
    (``session.catalogue.browse(theme=…)``); the search index reads them too.
    """

    catalogue_code: str = attrs.field(converter=_upper_code)
    agency: Agency
    level: ExerciseLevel
    name: str = attrs.field(converter=_strip, validator=_not_blank)
    item_type: ItemType
    # Navigation tags for browsing the catalogue; optional, so older documents read as before.
    themes: tuple[str, ...] = attrs.field(default=(), converter=_tags)  # 主题, e.g. 社会保障
    life_stages: tuple[str, ...] = attrs.field(default=(), converter=_tags)  # 人生阶段, e.g. 出生

    @catalogue_code.validator
    def _check_catalogue_code(self, _: attrs.Attribute[str], value: str) -> None:
        if not _CATALOGUE_CODE.fullmatch(value):
            raise InvalidInput(
                f"catalogue code (基本编码) {value!r} should be 10 to 12 characters of 0-9 and A-Z"
            )

    @property
    def implementation_code(self) -> str:
        """The implementation code (实施编码): credit code + level + catalogue code."""
        return self.agency.credit_code + self.level.value + self.catalogue_code

    @classmethod
    def parse_implementation_code(cls, code: str) -> ImplementationCode:
        """Decompose a 31- or 33-character implementation code (see :class:`ImplementationCode`)."""
        return ImplementationCode.parse(code)


def _check_item_code(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not _IMPLEMENTATION_CODE.fullmatch(value):
        raise InvalidInput(
            f"item code (实施编码) {value!r} should be 24 to 36 characters of 0-9 and A-Z"
        )


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{attribute.name} must be a whole number from 1, got {value!r}")


@attrs.frozen(kw_only=True)
class ItemVersion:
    """One published version of an item's service guide (办事指南). Never changes once built.

    Cases pin the ``(item_code, version)`` they were accepted under. To change the guide, make
    the next version with :meth:`revise` and publish it.
    """

    item_code: str = attrs.field(converter=_upper_code, validator=_check_item_code)
    version: int = attrs.field(validator=_positive)
    name: str = attrs.field(converter=_strip, validator=_not_blank)
    item_type: ItemType
    targets: tuple[ServiceTarget, ...] = attrs.field(converter=_targets)
    legal_basis: tuple[LegalBasis, ...] = attrs.field(converter=_bases)
    agency: Agency
    co_agencies: tuple[Agency, ...] = attrs.field(default=(), converter=_agencies)
    conditions: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    materials: tuple[Material, ...] = attrs.field(default=(), converter=_materials)
    steps: tuple[ProcessStep, ...] = attrs.field(default=(), converter=_steps)
    review_stages: tuple[ReviewStage, ...] = attrs.field(default=(), converter=_stages)
    statutory_limit: TimeLimit
    promised_limit: TimeLimit
    case_kind: CaseKind
    fees: FeeInfo = attrs.field(factory=FeeInfo)
    results: tuple[ResultSpec, ...] = attrs.field(default=(), converter=_results)
    location: str = attrs.field(converter=_strip)
    hours: str = attrs.field(converter=_strip)
    consultation_phone: str = attrs.field(converter=_strip)
    complaint_phone: str = attrs.field(converter=_strip)
    online_depth: OnlineDepth
    visits: int = attrs.field(validator=_non_negative)
    visit_reason: str = attrs.field(default="", converter=_strip)
    appointment: bool = False
    channels: tuple[Channel, ...] = attrs.field(converter=_channels)
    cross_region: CrossRegion = CrossRegion.NONE

    def material(self, code: str) -> Material:
        """The material with this code; MaterialNotAllowed lists the codes this version has."""
        for material in self.materials:
            if material.code == code:
                return material
        allowed = ", ".join(f"{m.code} ({m.name})" for m in self.materials) or "none"
        raise MaterialNotAllowed(
            f"material {code!r} is not listed in {self.item_code} version {self.version} "
            f"({self.name}); allowed materials: {allowed}"
        )

    @property
    def core_materials(self) -> tuple[Material, ...]:
        """The 必要 materials: all must be present before a case can be accepted."""
        return tuple(m for m in self.materials if m.necessity is Necessity.REQUIRED)

    @property
    def tolerated_materials(self) -> tuple[Material, ...]:
        """The 容缺后补 materials: a case may be accepted without them on a written promise."""
        return tuple(m for m in self.materials if m.necessity is Necessity.TOLERATED)

    @property
    def departments(self) -> tuple[Agency, ...]:
        """The implementing agency followed by the co-handling agencies."""
        return (self.agency, *self.co_agencies)

    def revise(self, **changes: Any) -> ItemVersion:
        """The next version (number + 1) with ``changes`` applied; this version is untouched."""
        return attrs.evolve(self, version=self.version + 1, **changes)

    def problems(self) -> list[str]:
        """Every consistency rule this version breaks, in words a clerk can act on.

        Rules that need the :class:`ServiceItem` too are in :func:`check_version`.
        """
        found: list[str] = []
        found += self._basic_problems()
        found += self._limit_problems()
        found += self._online_problems()
        found += self._fee_problems()
        found += self._material_problems()
        found += self._agency_problems()
        return found

    # The rules, grouped so each group reads on its own.

    def _basic_problems(self) -> list[str]:
        found: list[str] = []
        if not self.targets:
            found.append("no service target (服务对象): list who may apply")
        if len(set(self.targets)) != len(self.targets):
            found.append("a service target is listed twice: list each once")
        if not self.legal_basis:
            found.append("no legal basis (设定依据): cite at least one law, regulation or policy")
        if not self.location:
            found.append("location (办理地点) is empty: say where to apply")
        if not self.hours:
            found.append("hours (办理时间) are empty: say when the window is open")
        consult, complain = self.consultation_phone, self.complaint_phone
        if not consult:
            found.append("consultation phone (咨询电话) is missing: add it")
        if not complain:
            found.append("complaint phone (监督投诉电话) is missing: add it")
        if consult and complain and _digits(consult) == _digits(complain):
            found.append(
                f"consultation and complaint phones are the same ({consult}): complaints must "
                f"reach a different line than consultation"
            )
        info_only = self.item_type is ItemType.PUBLIC_SERVICE and self.online_depth is OnlineDepth.I
        if not self.results and not info_only:
            found.append("no result (办理结果): say what the applicant receives")
        step_names = [s.name for s in self.steps]
        for name in sorted({n for n in step_names if step_names.count(n) > 1}):
            found.append(f"process step {name!r} is listed twice: give each step its own name")
        return found

    def _limit_problems(self) -> list[str]:
        found: list[str] = []
        promised, statutory = self.promised_limit, self.statutory_limit
        # Days of different kinds and hours cannot be compared without a calendar and opening
        # hours, so both limits must be stated in one unit.
        if promised.unit is not statutory.unit:
            found.append(
                f"promised limit ({promised}) and statutory limit ({statutory}) use different "
                f"units: state both in the same unit"
            )
        elif promised.amount > statutory.amount:
            found.append(
                f"promised limit ({promised}) is longer than the statutory limit ({statutory}): "
                f"a promise may only shorten the law's limit"
            )
        if self.case_kind is CaseKind.IMMEDIATE and promised.amount != 0:
            found.append(
                f"a 即办件 is finished on the spot, so its promised limit must be 0, got "
                f"{promised}: set it to 0 or make the item a 承诺件"
            )
        if self.case_kind is CaseKind.PROMISED and promised.amount == 0:
            found.append(
                "a 承诺件 needs a promised limit above 0: give the promised days, or make the "
                "item a 即办件"
            )
        for step in self.steps:
            if (
                step.limit is not None
                and step.limit.unit is promised.unit
                and step.limit.amount > promised.amount
            ):
                found.append(
                    f"process step {step.name!r} may take {step.limit}, longer than the whole "
                    f"promised limit ({promised}): shorten the step"
                )
        return found

    def _online_problems(self) -> list[str]:
        found: list[str] = []
        depth = self.online_depth
        if depth is OnlineDepth.IV and self.visits != 0:
            found.append(
                f"online depth Ⅳ (全程网办) means no visit, but visits is {self.visits}: "
                f"set visits to 0 or lower the depth"
            )
        if depth is OnlineDepth.III and self.visits > 1:
            found.append(
                f"online depth Ⅲ (online acceptance) allows at most 1 visit, but visits is "
                f"{self.visits}: reduce visits or lower the depth"
            )
        if self.visits > 0 and not self.visit_reason:
            found.append(
                f"{self.visits} visit(s) required but no reason given (到现场次数说明): "
                f"say why the applicant must come"
            )
        if not self.channels:
            found.append("no channel (办理形式): list at least one way to apply")
        if len(set(self.channels)) != len(self.channels):
            found.append("a channel is listed twice: list each once")
        if (
            self.channels
            and depth is not OnlineDepth.I
            and not any(c.online for c in self.channels)
        ):
            found.append(
                f"online depth {depth.label} needs an online channel: add channel 2 (电脑端) or "
                f"3 (移动端), or lower the depth to Ⅰ"
            )
        if self.visits == 0:
            for result in self.results:
                if result.needs_visit:
                    found.append(
                        f"no visit is required, but result {result.name!r} can only be collected "
                        f"at a window: offer post (邮寄) or an e-certificate"
                    )
        return found

    def _fee_problems(self) -> list[str]:
        found: list[str] = []
        fees = self.fees
        if fees.charged:
            if not fees.basis:
                found.append("fees are charged but no charging basis (收费依据) is given: cite it")
            if not fees.items:
                found.append("fees are charged but no fee item is listed: list each fee")
        else:
            if fees.items:
                found.append(
                    f"fees are marked free but {len(fees.items)} fee item(s) are listed: "
                    f"set charged or remove the items"
                )
            if fees.online_payment:
                found.append("online payment is offered but no fee is charged: turn it off")
        return found

    def _material_problems(self) -> list[str]:
        found: list[str] = []
        codes = [m.code for m in self.materials]
        for code in sorted({c for c in codes if codes.count(c) > 1}):
            found.append(
                f"material code {code!r} is used {codes.count(code)} times: codes must "
                f"be unique within a version"
            )
        info_only = self.item_type is ItemType.PUBLIC_SERVICE and self.online_depth is OnlineDepth.I
        if not self.materials and not info_only:
            found.append(
                "no material listed: only a 公共服务 item at online depth Ⅰ (information) may "
                "have none"
            )
        for m in self.materials:
            where = f"material {m.code} ({m.name})"
            if m.medium is not Medium.ELECTRONIC and m.originals + m.copies < 1:
                found.append(
                    f"{where} may be on paper but asks for 0 originals and 0 copies: "
                    f"ask for at least one"
                )
            if m.source is not MaterialSource.GOVERNMENT:
                if m.ecert_type is not None:
                    found.append(
                        f"{where} has an e-certificate type but its source is {m.source.value}: "
                        f"only 政府部门核发 materials can be satisfied by an e-certificate"
                    )
                if m.shared_from is not None:
                    found.append(
                        f"{where} is shared from a department but its source is "
                        f"{m.source.value}: only 政府部门核发 materials can come from data sharing"
                    )
            if m.shared_from is not None:
                problem = _credit_code_problem(m.shared_from, f"{where} shared_from")
                if problem:
                    found.append(problem)
            if m.necessity is Necessity.TOLERATED and self.case_kind is CaseKind.IMMEDIATE:
                found.append(
                    f"{where} is 容缺后补, but a 即办件 is finished on the spot and cannot wait "
                    f"for it: make the material 必要 or the item a 承诺件"
                )
        if self.tolerated_materials and not self.core_materials:
            found.append(
                "容缺受理 needs the core materials complete, but no material is 必要: mark the "
                "core materials 必要"
            )
        return found

    def _agency_problems(self) -> list[str]:
        found: list[str] = []
        codes = [a.credit_code for a in self.departments]
        if self.agency.credit_code in codes[1:]:
            found.append(
                f"the implementing agency {self.agency.name} is also listed as a co-agency: "
                f"remove it from co_agencies"
            )
        co = codes[1:]
        for code in sorted({c for c in co if co.count(c) > 1}):
            found.append(f"co-agency {code} is listed twice: list each once")
        known = set(codes)
        for number, stage in enumerate(self.review_stages, start=1):
            where = f"review stage {number} ({stage.name})"
            if not stage.departments:
                found.append(f"{where} has no department: add one or remove the stage")
            seen: set[str] = set()
            for department in stage.departments:
                if department in seen:
                    found.append(
                        f"{where} lists department {department} twice: a department reviews "
                        f"once per stage"
                    )
                    continue
                seen.add(department)
                problem = _credit_code_problem(department, f"{where} department")
                if problem:
                    found.append(problem)
                elif department not in known:
                    found.append(
                        f"{where} department {department} is neither the implementing agency "
                        f"nor a co-agency: add it to co_agencies"
                    )
        return found


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


# --------------------------------------------------------------------------------------------
# Publishing


def check_version(item: ServiceItem, version: ItemVersion) -> list[str]:
    """Every rule ``version`` breaks as a version of ``item``; empty when it may be published."""
    found: list[str] = []
    if version.item_code != item.implementation_code:
        found.append(
            f"version item code {version.item_code} is not the item's implementation code "
            f"{item.implementation_code}: copy the item's code"
        )
    if version.agency.credit_code != item.agency.credit_code:
        found.append(
            f"version agency {version.agency.name} ({version.agency.credit_code}) is not the "
            f"item's implementing agency {item.agency.name} ({item.agency.credit_code})"
        )
    if version.item_type is not item.item_type:
        found.append(
            f"version item type {version.item_type.value} {version.item_type.label} differs "
            f"from the item's {item.item_type.value} {item.item_type.label}"
        )
    return found + version.problems()


def publish(
    item: ServiceItem, version: ItemVersion, *, published: Sequence[ItemVersion] = ()
) -> ItemVersion:
    """Check ``version`` and return it, or raise CatalogueRejected listing every problem.

    ``published`` are the item's versions already out; the new one must be numbered next.
    """
    found = check_version(item, version)
    expected = max((v.version for v in published), default=0) + 1
    if version.version != expected:
        found.insert(
            0,
            f"version number {version.version} is not next: publish it as version {expected} "
            f"(published versions never change; make a new one with ItemVersion.revise)",
        )
    if found:
        raise CatalogueRejected(
            found, what=f"{item.name} ({item.implementation_code}) version {version.version}"
        )
    return version


@attrs.define
class Catalogue:
    """Published items and all their versions, in memory (the Platform keeps them in its store).

    ``catalogue.publish(item, version)`` checks and appends; old versions stay available for
    the cases that pinned them.
    """

    _items: dict[str, ServiceItem] = attrs.field(factory=dict, init=False)
    _versions: dict[str, list[ItemVersion]] = attrs.field(factory=dict, init=False)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[ServiceItem, Sequence[ItemVersion]]]) -> Catalogue:
        """A catalogue holding these items, publishing each item's versions in order."""
        catalogue = cls()
        for item, versions in pairs:
            for version in versions:
                catalogue.publish(item, version)
        return catalogue

    def publish(self, item: ServiceItem, version: ItemVersion) -> ItemVersion:
        """Publish ``version`` of ``item`` (see :func:`publish`); the item record is updated."""
        code = item.implementation_code
        publish(item, version, published=self._versions.get(code, ()))
        self._items[code] = item
        self._versions.setdefault(code, []).append(version)
        return version

    def item(self, code: str) -> ServiceItem:
        """The item with this implementation code, or UnknownItem."""
        try:
            return self._items[code]
        except KeyError:
            raise UnknownItem(f"no service item with implementation code {code!r}") from None

    def latest(self, code: str) -> ItemVersion:
        """The current (highest-numbered) version of an item."""
        self.item(code)
        return self._versions[code][-1]

    def version(self, code: str, number: int) -> ItemVersion:
        """A given version of an item, e.g. the one a case pinned."""
        for version in self._versions.get(code, ()):
            if version.version == number:
                return version
        self.item(code)
        numbers = ", ".join(str(v.version) for v in self._versions[code])
        raise UnknownItem(f"item {code} has no version {number}; published versions: {numbers}")

    def versions(self, code: str) -> tuple[ItemVersion, ...]:
        """All versions of an item, oldest first."""
        self.item(code)
        return tuple(self._versions[code])

    def __iter__(self) -> Iterator[ServiceItem]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, code: object) -> bool:
        return code in self._items
