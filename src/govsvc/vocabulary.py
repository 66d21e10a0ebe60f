"""The canonical vocabulary of profile attributes (数据项规范): names, forms and values.

Departments answer ``profile`` with a mapping of attributes, and the platform merges the
answers by attribute name (一数一源). Merging compares values, so every department must
write the same fact the same way: ``"sex": "female"``, not ``"女"`` or ``"2"``;
``"birth_date": "1985-03-12"``, not ``"19850312"``. :data:`VOCABULARY` lists the attributes
the platform knows, each with its Chinese label, its form and, for a choice, the canonical
values; :func:`check_profile` says what in an answer is not canonical.

Attributes the vocabulary does not know are allowed (a department may add its own, such as
``"properties"``), but their text must still be storable (no NUL, no lone surrogate). The
national code tables (:data:`SEX_CODES`, :data:`MARITAL_STATUS_CODES`,
:data:`ETHNICITY_CODES`) and :meth:`Attribute.words` map what legacy systems send to the
canonical values::

    from govsvc.vocabulary import MARITAL_STATUS_CODES, SEX_CODES, VOCABULARY, check_profile

    SEX_CODES["2"]                                   # "female"
    MARITAL_STATUS_CODES["22"]                       # "married" (再婚)
    VOCABULARY["registration_status"].words()["在业"]  # "存续"
    check_profile({"sex": "男"})                      # [Problem: send 'male' (男) @ $.sex]

The vocabulary is documented, table for table, in ``docs/vocabulary.md``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from govsvc._text import unstorable, unstorable_texts
from govsvc.errors import AdapterProtocolError, InvalidIdentifier, InvalidInput
from govsvc.identity import CreditCode
from govsvc.legacy import CodeTable, parse_legacy_date

__all__ = [
    "ETHNICITY_CODES",
    "MARITAL_STATUS_CODES",
    "SEX_CODES",
    "VOCABULARY",
    "Attribute",
    "Form",
    "Problem",
    "check_profile",
    "ensure_profile",
]


class Form(enum.Enum):
    """The form of a canonical value (规范格式)."""

    TEXT = "text"
    """Non-empty text without white space around it."""
    CHOICE = "choice"
    """One of the attribute's canonical values."""
    DATE = "date"
    """An ISO date written ``YYYY-MM-DD`` (text, not a ``datetime.date``)."""
    PATTERN = "pattern"
    """Text of the form the attribute's pattern describes."""
    CREDIT_CODE = "credit code"
    """A unified social credit code (统一社会信用代码, GB 32100) with the right check character."""
    COUNT = "count"
    """A whole number, 0 or more."""
    RECORDS = "records"
    """A list of records (mappings) whose fields are attributes themselves."""


def _frozen(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Attribute:
    """A profile attribute the platform knows (规范数据项).

    ``values`` maps each canonical value of a :attr:`Form.CHOICE` to its Chinese label;
    ``synonyms`` maps other words legacy systems use to a canonical value (``在业`` →
    ``存续``). ``spelled`` is how the format is written for people (``YYYY-MM-DD``), and
    ``fields`` the attributes of each record of a :attr:`Form.RECORDS`.
    """

    name: str
    label: str
    form: Form
    spelled: str
    example: str
    values: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    synonyms: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)
    pattern: re.Pattern[str] | None = None
    fields: tuple[Attribute, ...] = ()

    def __attrs_post_init__(self) -> None:
        # The vocabulary is written once, here; a slip in it should fail at import.
        if (self.form is Form.CHOICE) != bool(self.values):
            raise InvalidInput(f"{self.name}: a choice, and only a choice, lists values")
        if (self.form is Form.PATTERN) != (self.pattern is not None):
            raise InvalidInput(f"{self.name}: a pattern, and only a pattern, has one")
        if (self.form is Form.RECORDS) != bool(self.fields):
            raise InvalidInput(f"{self.name}: records, and only records, have fields")
        strays = sorted(set(self.synonyms.values()) - set(self.values))
        if strays:
            raise InvalidInput(f"{self.name}: synonyms lead to unknown values {strays}")
        if self.form not in (Form.RECORDS, Form.COUNT) and self.check(self.example, "$"):
            raise InvalidInput(f"{self.name}: the example {self.example!r} is not canonical")

    @property
    def title(self) -> str:
        """The name and label for messages: ``sex (性别)``."""
        return f"{self.name} ({self.label})"

    def words(self) -> CodeTable[str]:
        """A :class:`~govsvc.adapterkit.CodeTable` from the words legacy systems write for a
        choice to its canonical value: the Chinese labels, the synonyms and the canonical
        values themselves (``"男"`` → ``"male"``, ``"在业"`` → ``"存续"``)."""
        if self.form is not Form.CHOICE:
            raise InvalidInput(f"{self.name} is a {self.form.value}, not a choice: it has no words")
        codes = {value: value for value in self.values}
        codes.update({label: value for value, label in self.values.items()})
        codes.update(self.synonyms)
        return CodeTable(self.title, codes)

    def check(self, value: object, path: str) -> list[Problem]:
        """What is not canonical in ``value``, found at ``path`` (empty: all is well)."""
        return list(self._problems(value, path, self.name))

    def _problems(self, value: object, path: str, name: str) -> Iterator[Problem]:
        def problem(message: str) -> Problem:
            return Problem(path=path, attribute=name, message=f"{self.title} {message}")

        if isinstance(value, str):
            bad = unstorable(value)
            if bad is not None:
                yield problem(f"contains {bad}, which cannot be stored; remove it")
                return
        if self.form is Form.RECORDS:
            yield from self._record_problems(value, path, name, problem)
            return
        if self.form is Form.COUNT:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                yield problem(f"is {_shown(value)}; send a whole number of 0 or more")
            return
        if isinstance(value, dt.date):
            shown = value.date() if isinstance(value, dt.datetime) else value
            hint = f"its ISO text {shown.isoformat()!r}" if self.form is Form.DATE else "text"
            yield problem(f"is a {type(value).__name__} object; send {hint}")
            return
        if not isinstance(value, str):
            form = "" if self.form is Form.TEXT else f" ({self.spelled})"
            yield problem(f"is {_shown(value)}; send text{form}, e.g. {self.example!r}")
            return
        if not value.strip():
            yield problem("is blank; leave it out (None) when the system does not know it")
            return
        if value != value.strip():
            yield problem(f"has white space around it; send {value.strip()!r}")
            return
        message = self._text_problem(value)
        if message is not None:
            yield problem(message)

    def _text_problem(self, value: str) -> str | None:
        if self.form is Form.CHOICE:
            if value in self.values:
                return None
            canonical = self.synonyms.get(value) or next(
                (v for v, label in self.values.items() if label == value), None
            )
            if canonical is not None:
                label = self.values[canonical]
                named = f" ({label})" if label != canonical else ""
                return f"is {value!r}; send {canonical!r}{named}"
            return f"is {value!r}; the canonical values are {self.spelled}"
        if self.form is Form.DATE:
            if _ISO_DATE.fullmatch(value):
                try:
                    dt.date.fromisoformat(value)
                except ValueError:
                    return f"is {value!r}, which is no real date"
                return None
            try:
                day = parse_legacy_date(value, self.name)
            except InvalidInput:
                return f"is {value!r}; send an ISO date ({self.spelled}), e.g. {self.example!r}"
            return f"is {value!r}; send the ISO date {day.isoformat()!r}"
        if self.form is Form.PATTERN:
            assert self.pattern is not None  # checked when the attribute was made
            if not self.pattern.fullmatch(value):
                return f"is {value!r}; send {self.spelled}, e.g. {self.example!r}"
            return None
        if self.form is Form.CREDIT_CODE:
            try:
                code = CreditCode.parse(value, strict=False)
            except InvalidIdentifier as exc:
                return f"is {value!r}, which is not a valid credit code: {exc}"
            if code.number != value:
                return f"is {value!r}; send it as {code.number!r}"
        return None

    def _record_problems(
        self, value: object, path: str, name: str, problem: Callable[[str], Problem]
    ) -> Iterator[Problem]:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
            yield problem(f"is {_shown(value)}; send a list of records (mappings)")
            return
        known = {field.name: field for field in self.fields}
        for i, record in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(record, Mapping):
                yield Problem(
                    path=where,
                    attribute=f"{name}[]",
                    message=f"{self.title}: each record is a mapping, got {_shown(record)}",
                )
                continue
            yield from _mapping_problems(record, where, known, prefix=f"{name}[].")


@attrs.frozen
class Problem:
    """One value in a department's answer that is not canonical (不规范的数据项).

    ``path`` is where it is (``$.sex``, ``$.insurances[0].status``), ``attribute`` the
    vocabulary's name for it (``insurances[].status``; ``""`` for an attribute the vocabulary
    does not know), ``message`` what is wrong and what to send instead.
    """

    path: str
    attribute: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} @ {self.path}"


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _shown(value: object) -> str:
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({type(value).__name__})"


def _choice(values: Mapping[str, str]) -> str:
    return ", ".join(f"{v!r} ({label})" if label != v else repr(v) for v, label in values.items())


def _member(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _mapping_problems(
    mapping: Mapping[Any, Any], path: str, known: Mapping[str, Attribute], *, prefix: str
) -> Iterator[Problem]:
    for key, value in mapping.items():
        if not isinstance(key, str):
            yield Problem(
                path=f"{path}[{key!r}]",
                attribute="",
                message=f"attribute names are text, got {_shown(key)}",
            )
            continue
        bad = unstorable(key)
        if bad is not None:
            yield Problem(
                path=path,
                attribute="",
                message=f"the attribute name {key!r} contains {bad}, which cannot be stored",
            )
            continue
        where = _member(path, key)
        if value is None or value == "":
            continue  # not known to this department: the platform leaves it out
        attribute = known.get(key)
        if attribute is not None:
            yield from attribute._problems(value, where, prefix + key)
            continue
        for place, bad_text, _text in unstorable_texts(value, where):
            yield Problem(
                path=place,
                attribute="",
                message=f"the text contains {bad_text}, which cannot be stored; remove it",
            )


# --- the vocabulary ----------------------------------------------------------------------------

_SEX = {"male": "男", "female": "女"}
_MARITAL_STATUS = {"unmarried": "未婚", "married": "已婚", "widowed": "丧偶", "divorced": "离婚"}
_HOUSEHOLD_TYPE = {"agricultural": "农业", "non_agricultural": "非农业", "resident": "居民"}
_INSURED_STATUS = {
    "paying": "参保缴费",
    "paused": "暂停缴费",
    "ended": "终止参保",
    "none": "未参保",
}
_CARD_STATUS = {"valid": "正常", "reported_lost": "挂失", "cancelled": "注销"}
_REGISTRATION_STATUS = {
    "存续": "存续（在营、开业、在册）",
    "吊销": "吊销，未注销",
    "注销": "注销",
    "撤销": "撤销",
    "迁出": "迁出",
}
_REGISTRATION_SYNONYMS = {
    "在业": "存续",
    "在营": "存续",
    "开业": "存续",
    "在册": "存续",
    "吊销未注销": "吊销",
    "吊销，已注销": "注销",
    "吊销已注销": "注销",
}

# GB/T 3304 民族名称: the code is the position in this list, from 01; then 97 and 98.
# fmt: off
_ETHNIC_GROUPS = (
    "汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族",
    "布依族", "朝鲜族", "满族", "侗族", "瑶族", "白族", "土家族", "哈尼族",
    "哈萨克族", "傣族", "黎族", "傈僳族", "佤族", "畲族", "高山族", "拉祜族",
    "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族", "达斡尔族", "仫佬族",
    "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
    "塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族",
    "京族", "塔塔尔族", "独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族",
)
# fmt: on
_ETHNICITY_CODES = {
    **{f"{i:02d}": name for i, name in enumerate(_ETHNIC_GROUPS, 1)},
    "97": "其他",
    "98": "外国血统中国籍人士",
}
_ETHNICITY = {name: name for name in _ETHNICITY_CODES.values()}
# Registers often drop the 族: 汉, 蒙古, 朝鲜.
_ETHNICITY_SHORT = {name.removesuffix("族"): name for name in _ETHNIC_GROUPS}


def _text(name: str, label: str, example: str) -> Attribute:
    return Attribute(name=name, label=label, form=Form.TEXT, spelled="text", example=example)


def _date(name: str, label: str, example: str) -> Attribute:
    return Attribute(name=name, label=label, form=Form.DATE, spelled="YYYY-MM-DD", example=example)


def _choice_of(
    name: str,
    label: str,
    values: Mapping[str, str],
    synonyms: Mapping[str, str] | None = None,
    *,
    spelled: str | None = None,
) -> Attribute:
    return Attribute(
        name=name,
        label=label,
        form=Form.CHOICE,
        spelled=spelled or _choice(values),
        example=next(iter(values)),
        values=values,
        synonyms=synonyms or {},
    )


def _pattern(name: str, label: str, pattern: str, spelled: str, example: str) -> Attribute:
    return Attribute(
        name=name,
        label=label,
        form=Form.PATTERN,
        spelled=spelled,
        example=example,
        pattern=re.compile(pattern),
    )


def _credit_code(name: str, label: str) -> Attribute:
    return Attribute(
        name=name,
        label=label,
        form=Form.CREDIT_CODE,
        spelled="18 characters, GB 32100 check character",
        example="91230103MA1BX4K238",
    )


def _records(name: str, label: str, *fields: Attribute) -> Attribute:
    return Attribute(
        name=name,
        label=label,
        form=Form.RECORDS,
        spelled="list of records: " + ", ".join(field.name for field in fields),
        example="",
        fields=fields,
    )


_ATTRIBUTES: tuple[Attribute, ...] = (
    # -- people and organisations alike
    _text("name", "姓名（名称）", "张伟"),
    _text("address", "住址（住所）", "黑龙江省哈尔滨市南岗区西大直街74号"),
    _pattern(
        "phone",
        "联系电话",
        r"1[3-9][0-9]{9}|0[0-9]{2,3}-[0-9]{7,8}(-[0-9]{1,6})?",
        "11-digit mobile number, or area code-number[-extension]",
        "0451-84661500",
    ),
    # -- people (公安, 民政, 卫健)
    _choice_of("sex", "性别", _SEX, {"男性": "male", "女性": "female"}),
    _date("birth_date", "出生日期", "1985-03-12"),
    _choice_of(
        "ethnicity",
        "民族",
        _ETHNICITY,
        _ETHNICITY_SHORT,
        spelled=f"the {len(_ETHNICITY)} names of GB/T 3304: '汉族', '蒙古族', '回族', … "
        f"'基诺族', '其他', '外国血统中国籍人士' (ETHNICITY_CODES reads the codes)",
    ),
    _text("household_number", "户号", "230103000152"),
    _choice_of(
        "household_type",
        "户口类别",
        _HOUSEHOLD_TYPE,
        {
            f"{nature}{kind}": value
            for value, nature in _HOUSEHOLD_TYPE.items()
            for kind in ("户口", "家庭户口", "集体户口")
        },
    ),
    _text("relation_to_head", "与户主关系", "户主"),
    _choice_of(
        "marital_status",
        "婚姻状况",
        _MARITAL_STATUS,
        {"初婚": "married", "再婚": "married", "复婚": "married"},
    ),
    _pattern(
        "birth_certificate",
        "出生医学证明编号",
        r"[A-Z][0-9]{9}",
        "a capital letter (the edition) and 9 digits",
        "Q230123456",
    ),
    # -- social insurance (人社)
    _choice_of("insured_status", "参保状态", _INSURED_STATUS),
    _records(
        "insurances",
        "参保险种",
        _pattern("type", "险种类型", r"[0-9]{3}", "3-digit insurance type code", "110"),
        _text("name", "险种名称", "企业职工基本养老保险"),
        _choice_of("status", "参保状态", {k: v for k, v in _INSURED_STATUS.items() if k != "none"}),
        _date("since", "参保日期", "2008-07-01"),
    ),
    _text("employer", "工作单位", "哈尔滨秋林食品有限公司"),
    _credit_code("employer_credit_code", "工作单位统一社会信用代码"),
    _text("social_security_card", "社会保障卡号", "230103D15600000000"),
    _choice_of("social_security_card_status", "社会保障卡状态", _CARD_STATUS),
    Attribute(
        name="insured_employees",
        label="参保职工人数",
        form=Form.COUNT,
        spelled="whole number, 0 or more",
        example="12",
    ),
    # -- market entities (市场监管)
    _text("enterprise_type", "企业类型", "有限责任公司(自然人独资)"),
    _text("legal_representative", "法定代表人", "张伟"),
    _pattern(
        "registered_capital",
        "注册资本",
        r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?万元[\u4e00-\u9fff]+",
        "amount in 万元 without trailing zeros, then the currency",
        "50万元人民币",
    ),
    _date("established_on", "成立日期", "2019-04-18"),
    _choice_of("registration_status", "登记状态", _REGISTRATION_STATUS, _REGISTRATION_SYNONYMS),
    _text("registration_authority", "登记机关", "哈尔滨市南岗区市场监督管理局"),
    _text("business_scope", "经营范围", "餐饮服务；食品销售"),
    _records(
        "enterprises",
        "担任法定代表人的企业",
        _credit_code("credit_code", "统一社会信用代码"),
        _text("name", "企业名称", "哈尔滨冰城饺子馆有限公司"),
        _choice_of("registration_status", "登记状态", _REGISTRATION_STATUS, _REGISTRATION_SYNONYMS),
        _text("role", "担任职务", "法定代表人"),
    ),
)

VOCABULARY: Mapping[str, Attribute] = types.MappingProxyType(
    {attribute.name: attribute for attribute in _ATTRIBUTES}
)
"""Every profile attribute the platform knows, by name, in the order of the documentation."""


# --- national code tables ----------------------------------------------------------------------

SEX_CODES: CodeTable[str] = CodeTable(
    "性别 (GB/T 2261.1)", {"1": "male", "2": "female"}, unknown={"0", "9"}
)
"""GB/T 2261.1 sex codes: ``1`` 男, ``2`` 女; ``0`` 未知的性别 and ``9`` 未说明的性别 are
read as not recorded."""

MARITAL_STATUS_CODES: CodeTable[str] = CodeTable(
    "婚姻状况 (GB/T 2261.2)",
    {
        "10": "unmarried",  # 未婚
        "20": "married",  # 已婚
        "21": "married",  # 初婚
        "22": "married",  # 再婚
        "23": "married",  # 复婚
        "30": "widowed",  # 丧偶
        "40": "divorced",  # 离婚
    },
    unknown={"90"},  # 未说明的婚姻状况
)
"""GB/T 2261.2 marital status codes; 初婚/再婚/复婚 (21–23) are all ``married``, ``90``
(未说明) is read as not recorded."""

ETHNICITY_CODES: CodeTable[str] = CodeTable("民族 (GB/T 3304)", _ETHNICITY_CODES)
"""GB/T 3304 codes of the 56 ethnic groups (``01`` 汉族 … ``56`` 基诺族), ``97`` 其他 and
``98`` 外国血统中国籍人士, to the names, which are the canonical values."""


# --- checking an answer ------------------------------------------------------------------------


def check_profile(attributes: Mapping[str, Any]) -> list[Problem]:
    """Every value in a department's ``profile`` answer that is not canonical.

    Known attributes (:data:`VOCABULARY`) must have their canonical form; attributes it does
    not know are allowed as they are, but no text anywhere (names included) may contain NUL
    or a lone surrogate, which cannot be stored. None and ``""`` mean "not known here" and
    are always fine. The function is pure and does not raise: an answer that is not a
    mapping is one problem at ``$``.
    """
    answer: object = attributes  # typed as a mapping, but it comes from a plugin
    if not isinstance(answer, Mapping):
        return [
            Problem(
                path="$",
                attribute="",
                message=f"a profile is a mapping of attribute names to values, got "
                f"{type(answer).__name__}",
            )
        ]
    return list(_mapping_problems(answer, "$", VOCABULARY, prefix=""))


def ensure_profile(
    attributes: Mapping[str, Any], *, department: str = "", operation: str = "profile"
) -> Mapping[str, Any]:
    """``attributes`` unchanged if :func:`check_profile` finds nothing, else
    :class:`~govsvc.errors.AdapterProtocolError` listing every problem (its ``path`` is the
    first one's)."""
    problems = check_profile(attributes)
    if not problems:
        return attributes
    listed = "; ".join(f"{p.message} (at {p.path})" for p in problems)
    raise AdapterProtocolError(
        f"the {operation} answer has {len(problems)} value(s) that are not canonical "
        f"(see the vocabulary): {listed}",
        path=problems[0].path,
        department=department,
        operation=operation,
    )
