"""A clock tests move by hand, and factories for valid applicants, items and cases.

Every factory returns objects that pass the SDK's own checks: citizen IDs and credit codes
carry correct check characters, items pass :func:`govsvc.check_version`. Pass an ``int`` seed
(or a :class:`random.Random`) for repeatable values; leave it out for fresh random ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from govsvc import (
    Agency,
    Assurance,
    Authentication,
    Case,
    CaseKind,
    Channel,
    CitizenId,
    CreditCode,
    ExerciseLevel,
    FeeInfo,
    InvalidInput,
    ItemType,
    ItemVersion,
    LegalBasis,
    Material,
    MaterialKind,
    MaterialSource,
    Medium,
    Necessity,
    OnlineDepth,
    Organisation,
    PartyKey,
    Person,
    Platform,
    Principal,
    ProcessStep,
    ProvidedMaterial,
    ResultSpec,
    ReviewStage,
    ServiceItem,
    ServiceTarget,
    TimeLimit,
    TimeUnit,
)

__all__ = [
    "TEST_LOGIN",
    "FakeClock",
    "applicant_of",
    "approver_of",
    "clerk_for",
    "make_case",
    "make_citizen_id",
    "make_credit_code",
    "make_item",
    "make_organisation",
    "make_person",
    "reviewer_of",
    "supervisor_of",
    "system_of",
]

Seed = int | random.Random | None
"""An ``int`` for repeatable values, a :class:`random.Random` to draw from, None for fresh."""

_CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
_OPENING_HOUR = 9  # a clerk's working day starts at 09:00 in China


def _rng(seed: Seed) -> random.Random:
    if isinstance(seed, random.Random):
        return seed
    return random.Random(seed)


# --- the clock -------------------------------------------------------------------------------


@attrs.define
class FakeClock:
    """A platform clock tests move by hand (pass it as ``Platform.open(..., clock=clock)``).

    It returns aware UTC datetimes and starts on Monday 2026-03-02 at 09:00 China time
    (01:00 UTC), a working day, so due dates in tests are easy to count.
    """

    moment: dt.datetime = attrs.field(factory=lambda: dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC))

    @moment.validator
    def _aware(self, _: attrs.Attribute[dt.datetime], value: dt.datetime) -> None:
        if value.tzinfo is None:
            raise InvalidInput("FakeClock needs an aware datetime, e.g. tzinfo=datetime.UTC")

    def __call__(self) -> dt.datetime:
        return self.moment.astimezone(dt.UTC)

    @property
    def local_date(self) -> dt.date:
        """Today in China (UTC+8), as the platform counts working days."""
        return self.moment.astimezone(_CHINA).date()

    def advance(
        self, *, days: int = 0, hours: int = 0, minutes: int = 0, seconds: float = 0
    ) -> None:
        """Move the clock forward (or back, with negative numbers)."""
        self.moment += dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)

    def set_local_date(self, day: dt.date) -> None:
        """Jump to 09:00 China time on ``day``."""
        local = dt.datetime(day.year, day.month, day.day, _OPENING_HOUR, tzinfo=_CHINA)
        self.moment = local.astimezone(dt.UTC)


# --- identifiers and parties -----------------------------------------------------------------

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
_ORG_BODY_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_citizen_id(
    seed: Seed = None,
    *,
    division: str = "230103",
    birth_date: dt.date | None = None,
    sex: str | None = None,
) -> str:
    """A valid 18-character citizen ID (公民身份号码) with a correct check character.

    ``division`` is the 6-digit address code (default 230103, 哈尔滨市南岗区); ``birth_date``
    defaults to a date between 1950 and 2005; ``sex`` is ``"male"`` or ``"female"``
    (the parity of the 17th character).
    """
    rng = _rng(seed)
    if len(division) != 6 or not division.isdigit() or division[0] in "09":
        raise InvalidInput(
            f"division {division!r} must be a 6-digit address code not starting with 0 or 9"
        )
    if birth_date is None:
        birth_date = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20089))
    if sex not in (None, "male", "female"):
        raise InvalidInput(f"sex must be 'male' or 'female', got {sex!r}")
    order = rng.randrange(1000)
    wanted = {"male": 1, "female": 0}.get(sex or "", order % 2)
    if order % 2 != wanted:
        order = (order + 1) % 1000
    first17 = f"{division}{birth_date:%Y%m%d}{order:03d}"
    number = first17 + CitizenId.check_char(first17)
    return CitizenId.parse(number).number


def make_credit_code(
    seed: Seed = None,
    *,
    authority: str = "9",
    category: str = "1",
    division: str = "230100",
) -> str:
    """A valid unified social credit code (统一社会信用代码), strict checks included.

    Defaults give an enterprise (``91``) registered in Harbin; ``authority="1"``,
    ``category="1"`` gives a government body (机关). Both check characters are computed:
    the embedded organisation code's (GB 11714) and the code's own (GB 32100).
    """
    rng = _rng(seed)
    body = "".join(rng.choice(_ORG_BODY_ALPHABET) for _ in range(8))
    first16 = f"{authority}{category}{division}{body}"
    first17 = first16 + CreditCode.organisation_check_char(body)
    return CreditCode.parse(first17 + CreditCode.check_char(first17)).number


def make_person(
    seed: Seed = None,
    *,
    number: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    address: str | None = None,
) -> Person:
    """A natural person (自然人) with a valid citizen ID and a plausible name."""
    rng = _rng(seed)
    return Person(
        key=PartyKey.of(number or make_citizen_id(rng)),
        name=name or rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2)))),
        phone=phone if phone is not None else f"139{rng.randrange(10**8):08d}",
        address=address,
    )


def make_organisation(
    seed: Seed = None,
    *,
    number: str | None = None,
    name: str | None = None,
    legal_representative: str | None = None,
    phone: str | None = None,
    address: str | None = None,
) -> Organisation:
    """A legal person (法人) with a valid enterprise credit code and a plausible name."""
    rng = _rng(seed)
    representative = legal_representative or make_person(rng).name
    return Organisation(
        key=PartyKey.of(number or make_credit_code(rng)),
        name=name or f"哈尔滨市{rng.choice(_GIVEN)}{rng.choice(_GIVEN)}商贸有限公司",
        legal_representative=representative,
        phone=phone if phone is not None else f"0451-{rng.randrange(10**7, 10**8)}",
        address=address,
    )


# --- service items ---------------------------------------------------------------------------

_catalogue_numbers = itertools.count(1)


def make_item(
    agency_code: str,
    *,
    agency_name: str = "测试实施机关",
    materials: int = 4,
    review_departments: Sequence[Sequence[str]] | None = None,
    department_names: Mapping[str, str] | None = None,
    name: str = "测试许可事项（新办）",
    catalogue_code: str | None = None,
    level: ExerciseLevel = ExerciseLevel.CITY,
    item_type: ItemType = ItemType.LICENSING,
    targets: Sequence[ServiceTarget] = (ServiceTarget.NATURAL_PERSON, ServiceTarget.ENTERPRISE),
    promised_workdays: int = 10,
    statutory_workdays: int = 20,
    version: int = 1,
) -> tuple[ServiceItem, ItemVersion]:
    """A service item (事项) and a complete guide version that passes ``check_version``.

    ``materials`` required (必要) materials M01, M02, … are listed. ``review_departments``
    gives the review stages, each a sequence of department credit codes reviewing in
    parallel (default: one stage, the agency alone); departments other than the agency
    become co-agencies, named from ``department_names``. Each call without
    ``catalogue_code`` makes a new item (a fresh catalogue code), so several items of one
    agency can be published side by side.
    """
    if materials < 1:
        raise InvalidInput("an item needs at least one material: pass materials=1 or more")
    agency = Agency(name=agency_name, credit_code=agency_code)
    stages = [tuple(stage) for stage in (review_departments or ((agency.credit_code,),))]
    names = dict(department_names or {})
    co_agencies: list[Agency] = []
    for stage in stages:
        for code in stage:
            normalised = CreditCode.parse(code).number
            if normalised != agency.credit_code and all(
                a.credit_code != normalised for a in co_agencies
            ):
                co_agencies.append(
                    Agency(name=names.get(code, f"协办部门{normalised[-6:]}"), credit_code=code)
                )
    code = catalogue_code or f"0001{next(_catalogue_numbers) % 100000:05d}000"
    item = ServiceItem(
        catalogue_code=code, agency=agency, level=level, name=name, item_type=item_type
    )
    guide = ItemVersion(
        item_code=item.implementation_code,
        version=version,
        name=name,
        item_type=item_type,
        targets=tuple(targets),
        legal_basis=(
            LegalBasis(
                law="《中华人民共和国行政许可法》",
                article="第四十二条",
                text="除可以当场作出行政许可决定的外，行政机关应当自受理行政许可申请之日起"
                "二十日内作出行政许可决定。",
            ),
        ),
        agency=agency,
        co_agencies=tuple(co_agencies),
        conditions=("申请人具有完全民事行为能力", "申请材料真实、完整、有效"),
        materials=tuple(
            Material(
                code=f"M{n:02d}",
                name=f"申请材料{n}",
                necessity=Necessity.REQUIRED,
                source=MaterialSource.APPLICANT,
                originals=1,
                copies=0,
                medium=Medium.EITHER,
                formats=("pdf", "jpg", "png"),
            )
            for n in range(1, materials + 1)
        ),
        steps=(
            ProcessStep(name="申请与受理", limit=TimeLimit(1, TimeUnit.WORKDAY)),
            ProcessStep(name="审查", limit=TimeLimit(min(6, promised_workdays), TimeUnit.WORKDAY)),
            ProcessStep(name="决定", limit=TimeLimit(min(2, promised_workdays), TimeUnit.WORKDAY)),
            ProcessStep(name="制证与送达", limit=TimeLimit(1, TimeUnit.WORKDAY)),
        ),
        review_stages=tuple(
            ReviewStage(name=f"第{n}阶段审查", departments=stage)
            for n, stage in enumerate(stages, start=1)
        ),
        statutory_limit=TimeLimit(statutory_workdays, TimeUnit.WORKDAY),
        promised_limit=TimeLimit(promised_workdays, TimeUnit.WORKDAY),
        case_kind=CaseKind.PROMISED,
        fees=FeeInfo(),
        results=(
            ResultSpec(
                name=f"{name}决定书",
                kind="批文",
                delivery=("电子送达", "邮寄送达", "窗口领取"),
                post_supported=True,
            ),
        ),
        location=f"{agency_name}政务服务窗口",
        hours="法定工作日 上午8:30—12:00，下午13:30—17:00（法定节假日除外）",
        consultation_phone="0451-84661500",
        complaint_phone="12345",
        online_depth=OnlineDepth.IV,
        visits=0,
        appointment=True,
        channels=(Channel.WINDOW, Channel.PC, Channel.MOBILE),
    )
    return item, guide


# --- cases -----------------------------------------------------------------------------------


TEST_LOGIN = Authentication(provider="govsvc-testing", assurance=Assurance.L3)
"""How test principals are authenticated (a real-name, real-person login)."""


def applicant_of(party: Person | Organisation, *, seed: Seed = None) -> Principal:
    """The principal who applies for ``party``: the person themselves, or for an
    organisation its legal representative acting as its agent (经办人)."""
    if isinstance(party, Person):
        return Principal.applicant(party.key, party.name, auth=TEST_LOGIN)
    # The same organisation always gets the same representative, so their sessions agree.
    rng = random.Random(party.key.number) if seed is None else seed
    representative = make_person(seed=rng, name=party.legal_representative or None)
    return Principal.agent(
        representative.key, representative.name, organisation=party.key, auth=TEST_LOGIN
    )


def clerk_for(*agencies: str, name: str = "窗口工作人员") -> Principal:
    """A window clerk of a hall that accepts applications for ``agencies``."""
    if not agencies:
        raise InvalidInput("name at least one agency (credit code) the clerk's hall serves")
    staff_id = f"clerk-{agencies[0][-6:]}" + ("" if name == "窗口工作人员" else f"-{name}")
    return Principal.clerk(staff_id, name, agency=agencies[0], serves=agencies, auth=TEST_LOGIN)


def reviewer_of(department: str, *, name: str = "审查人员") -> Principal:
    """A reviewer of ``department`` (its credit code)."""
    return Principal.reviewer(
        f"reviewer-{department[-6:]}", name, department=department, auth=TEST_LOGIN
    )


def approver_of(department: str, *, name: str = "审批负责人") -> Principal:
    """An approver (department leader) of ``department``."""
    return Principal.approver(
        f"approver-{department[-6:]}", name, department=department, auth=TEST_LOGIN
    )


def system_of(department: str, *, name: str = "部门业务系统") -> Principal:
    """A department's own system (it records decisions for its own tasks, e.g. callbacks)."""
    return Principal.department_system(department, name, auth=TEST_LOGIN)


def supervisor_of(division: str, *, name: str = "电子监察人员") -> Principal:
    """A supervisor of ``division`` (e.g. 230100 for Harbin)."""
    return Principal.supervisor(f"supervisor-{division}", name, division=division, auth=TEST_LOGIN)


def make_case(
    platform: Platform,
    item_code: str,
    applicant: Person | Organisation | None = None,
    *,
    accept: bool = False,
    form: Mapping[str, Any] | None = None,
) -> Case:
    """Apply for a published item with every required material, and accept it if asked.

    The applicant (default :func:`make_person`) applies through their own session
    (:func:`applicant_of`); with ``accept=True`` a clerk of the item's agency accepts it
    (受理), so its first review stage's tasks are in the outbox for delivery.
    """
    version = platform.public().catalogue.version(item_code)
    given = [
        ProvidedMaterial(
            code=m.code,
            kind=MaterialKind.UPLOAD,
            filename=f"{m.code}.{m.formats[0] if m.formats else 'pdf'}",
            media_type="application/pdf",
            size=1024,
        )
        for m in version.materials
        if m.necessity is not Necessity.OPTIONAL
    ]
    party = applicant or make_person()
    case = platform.session(applicant_of(party)).cases.apply(
        item_code, party, materials=given, form=form
    )
    if not accept:
        return case
    return platform.session(clerk_for(version.agency.credit_code)).cases.accept(case)
