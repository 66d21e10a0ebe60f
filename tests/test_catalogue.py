"""Service items, guides and the publishing rules (govsvc.catalogue)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest

from govsvc.catalogue import (
    Agency,
    CaseKind,
    Catalogue,
    CatalogueCode,
    Channel,
    CrossRegion,
    ExerciseLevel,
    Fee,
    FeeInfo,
    ImplementationCode,
    ItemType,
    ItemVersion,
    LegalBasis,
    Material,
    MaterialSource,
    Medium,
    Necessity,
    OnlineDepth,
    ProcessStep,
    ResultSpec,
    ReviewStage,
    ServiceItem,
    ServiceTarget,
    check_version,
    publish,
)
from govsvc.deadlines import TimeLimit, TimeUnit
from govsvc.errors import (
    CatalogueRejected,
    InvalidIdentifier,
    InvalidInput,
    MaterialNotAllowed,
    UnknownItem,
)

AMR = Agency(name="哈尔滨市市场监督管理局", credit_code="11230100013114525L")
HEALTH = Agency(name="哈尔滨市卫生健康委员会", credit_code="11230100MB1935270B")
POLICE = Agency(name="哈尔滨市公安局", credit_code="11230100003108738D")
ECERT_LICENCE = "11100000MB0143028R001"


def wd(amount: int) -> TimeLimit:
    return TimeLimit(amount, TimeUnit.WORKDAY)


ITEM = ServiceItem(
    catalogue_code="000176010001",
    agency=AMR,
    level=ExerciseLevel.CITY,
    name="食品经营许可（新办）",
    item_type=ItemType.LICENSING,
)

BASE = ItemVersion(
    item_code=ITEM.implementation_code,
    version=1,
    name="食品经营许可（新办）",
    item_type=ItemType.LICENSING,
    targets=(ServiceTarget.ENTERPRISE,),
    legal_basis=(LegalBasis(law="《中华人民共和国食品安全法》", article="第三十五条"),),
    agency=AMR,
    co_agencies=(HEALTH,),
    conditions=("已取得营业执照",),
    materials=(
        Material(code="M01", name="食品经营许可申请书", necessity=Necessity.REQUIRED),
        Material(
            code="M02",
            name="营业执照",
            necessity=Necessity.REQUIRED,
            source=MaterialSource.GOVERNMENT,
            ecert_type=ECERT_LICENCE,
            shared_from=AMR.credit_code,
        ),
        Material(code="M03", name="健康证明", necessity=Necessity.TOLERATED),
    ),
    steps=(ProcessStep(name="受理", limit=wd(1)), ProcessStep(name="审查", limit=wd(3))),
    review_stages=(
        ReviewStage(name="联合审查", departments=(AMR.credit_code, HEALTH.credit_code)),
    ),
    statutory_limit=wd(20),
    promised_limit=wd(5),
    case_kind=CaseKind.PROMISED,
    results=(
        ResultSpec(name="食品经营许可证", kind="证照", delivery=("邮寄送达",), post_supported=True),
    ),
    location="哈尔滨市政务服务中心",
    hours="工作日 8:30—17:00",
    consultation_phone="0451-84661500",
    complaint_phone="12345",
    online_depth=OnlineDepth.IV,
    visits=0,
    channels=(Channel.WINDOW, Channel.PC, Channel.MOBILE),
)


def with_material(index: int, **changes: Any) -> tuple[Material, ...]:
    materials = list(BASE.materials)
    materials[index] = attrs.evolve(materials[index], **changes)
    return tuple(materials)


def test_base_version_is_publishable() -> None:
    assert check_version(ITEM, BASE) == []
    assert publish(ITEM, BASE) is BASE


# Each case breaks exactly one rule; the expected text is part of that rule's message.
ONE_RULE_BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("IV needs 0 visits", {"visits": 1, "visit_reason": "核验原件"}, "online depth Ⅳ"),
    (
        "visits need a reason",
        {"online_depth": OnlineDepth.III, "visits": 1},
        "no reason given",
    ),
    (
        "III allows one visit",
        {"online_depth": OnlineDepth.III, "visits": 2, "visit_reason": "现场核查"},
        "at most 1 visit",
    ),
    (
        "charged fees need a basis",
        {"fees": FeeInfo(charged=True, items=(Fee(name="工本费", amount=Decimal("10")),))},
        "no charging basis",
    ),
    (
        "charged fees need items",
        {"fees": FeeInfo(charged=True, basis="发改价格〔2017〕1186号")},
        "no fee item",
    ),
    (
        "free items list no fees",
        {"fees": FeeInfo(items=(Fee(name="工本费", amount=Decimal("10")),))},
        "marked free",
    ),
    ("free items offer no payment", {"fees": FeeInfo(online_payment=True)}, "online payment"),
    ("consultation phone present", {"consultation_phone": " "}, "consultation phone"),
    ("complaint phone present", {"complaint_phone": ""}, "complaint phone"),
    (
        "phones differ (ignoring punctuation)",
        {"consultation_phone": "0451-12345", "complaint_phone": "0451 12345"},
        "are the same",
    ),
    ("promise within the law", {"promised_limit": wd(21)}, "longer than the statutory"),
    (
        "limits in one unit",
        {"promised_limit": TimeLimit(5, TimeUnit.NATURAL_DAY)},
        "different units",
    ),
    ("承诺件 promise above 0", {"promised_limit": wd(0), "steps": ()}, "承诺件 needs"),
    ("step within the promise", {"steps": (ProcessStep(name="审查", limit=wd(6)),)}, "longer than"),
    (
        "step names unique",
        {"steps": (ProcessStep(name="审查"), ProcessStep(name="审查"))},
        "listed twice",
    ),
    (
        "material codes unique",
        {"materials": with_material(2, code="M01")},
        "material code 'M01' is used 2 times",
    ),
    ("a licence needs materials", {"materials": ()}, "no material listed"),
    (
        "paper needs a copy",
        {"materials": with_material(0, medium=Medium.PAPER, originals=0, copies=0)},
        "0 originals and 0 copies",
    ),
    (
        "e-certificate only for government materials",
        {"materials": with_material(0, ecert_type=ECERT_LICENCE)},
        "e-certificate type",
    ),
    (
        "sharing only for government materials",
        {"materials": with_material(0, shared_from=AMR.credit_code)},
        "data sharing",
    ),
    (
        "shared_from is a credit code",
        {"materials": with_material(1, shared_from="11230100MB1C70415K")},
        "shared_from",
    ),
    (
        "容缺 needs a core material",
        {
            "materials": (
                Material(code="M01", name="申请书", necessity=Necessity.OPTIONAL),
                Material(code="M02", name="健康证明", necessity=Necessity.TOLERATED),
            )
        },
        "no material is 必要",
    ),
    ("channels present", {"channels": ()}, "no channel"),
    ("channels unique", {"channels": (Channel.PC, Channel.PC)}, "channel is listed twice"),
    ("IV needs an online channel", {"channels": (Channel.WINDOW,)}, "needs an online channel"),
    ("targets present", {"targets": ()}, "no service target"),
    ("legal basis present", {"legal_basis": ()}, "no legal basis"),
    ("location present", {"location": ""}, "location"),
    ("hours present", {"hours": ""}, "hours"),
    ("a licence has a result", {"results": ()}, "no result"),
    (
        "no visit means the result comes without one",
        {"results": (ResultSpec(name="许可证", kind="证照"),)},
        "can only be collected at a window",
    ),
    (
        "review stage not empty",
        {"review_stages": (ReviewStage(name="审查", departments=()),)},
        "has no department",
    ),
    (
        "department once per stage",
        {"review_stages": (ReviewStage(name="审查", departments=(AMR.credit_code,) * 2),)},
        "twice",
    ),
    (
        "department valid",
        {"review_stages": (ReviewStage(name="审查", departments=("11230100MB1C70415K",)),)},
        "review stage 1 (审查) department",
    ),
    (
        "department known to the guide",
        {"review_stages": (ReviewStage(name="审查", departments=(POLICE.credit_code,)),)},
        "neither the implementing agency nor a co-agency",
    ),
    ("agency not its own co-agency", {"co_agencies": (HEALTH, AMR)}, "also listed as a co-agency"),
    ("co-agencies unique", {"co_agencies": (HEALTH, HEALTH)}, "co-agency"),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in ONE_RULE_BROKEN],
)
def test_each_rule_is_reported_on_its_own(changes: dict[str, Any], expected: str) -> None:
    version = attrs.evolve(BASE, **changes)
    problems = check_version(ITEM, version)
    assert len(problems) == 1, problems
    assert expected in problems[0]
    with pytest.raises(CatalogueRejected) as caught:
        publish(ITEM, version)
    assert caught.value.violations == tuple(problems)


def test_immediate_cases_take_no_time_and_wait_for_nothing() -> None:
    immediate = attrs.evolve(BASE, case_kind=CaseKind.IMMEDIATE, promised_limit=wd(0), steps=())
    problems = check_version(ITEM, immediate)
    # M03 is 容缺后补: a 即办件 finishes on the spot and cannot wait for it.
    assert len(problems) == 1
    assert "M03" in problems[0] and "即办件" in problems[0]

    late = attrs.evolve(immediate, promised_limit=wd(1), materials=BASE.materials[:2])
    (problem,) = check_version(ITEM, late)
    assert "promised limit must be 0" in problem


def test_information_only_public_service_needs_no_material_or_result() -> None:
    item = attrs.evolve(ITEM, item_type=ItemType.PUBLIC_SERVICE, name="企业开办政策咨询")
    info = attrs.evolve(
        BASE,
        item_type=ItemType.PUBLIC_SERVICE,
        name="企业开办政策咨询",
        online_depth=OnlineDepth.I,
        channels=(Channel.WINDOW,),
        materials=(),
        results=(),
    )
    assert check_version(item, info) == []
    # A public service that goes further than information still needs materials.
    assert any(
        "no material" in p
        for p in check_version(
            item, attrs.evolve(info, online_depth=OnlineDepth.II, channels=(Channel.PC,))
        )
    )


def test_electronic_materials_need_no_paper_copies() -> None:
    version = attrs.evolve(
        BASE, materials=with_material(0, medium=Medium.ELECTRONIC, originals=0, copies=0)
    )
    assert check_version(ITEM, version) == []


def test_version_must_belong_to_the_item() -> None:
    other = attrs.evolve(ITEM, agency=POLICE, item_type=ItemType.CONFIRMATION)
    problems = check_version(other, BASE)
    assert len(problems) == 3
    assert "is not the item's implementation code" in problems[0]
    assert "哈尔滨市公安局" in problems[1]
    assert "07 行政确认" in problems[2]


def test_a_version_breaking_several_rules_lists_every_one() -> None:
    broken = attrs.evolve(
        BASE,
        item_code="11230100MB1935270B3000176010001",
        visits=2,
        fees=FeeInfo(charged=True),
        complaint_phone="0451-84661500",
        promised_limit=wd(30),
        materials=with_material(2, code="M01", ecert_type=ECERT_LICENCE),
        channels=(Channel.WINDOW,),
        review_stages=(ReviewStage(name="审查", departments=()),),
    )
    with pytest.raises(CatalogueRejected) as caught:
        publish(ITEM, broken)
    violations = caught.value.violations
    for expected in [
        "is not the item's implementation code",
        "online depth Ⅳ (全程网办)",
        "no reason given",
        "no charging basis",
        "no fee item",
        "are the same",
        "longer than the statutory",
        "material code 'M01' is used 2 times",
        "e-certificate type",
        "needs an online channel",
        "has no department",
    ]:
        assert sum(expected in v for v in violations) == 1, (expected, violations)
    assert len(violations) == 11
    assert f"fix these {len(violations)} problem(s)" in str(caught.value)
    assert isinstance(caught.value, InvalidInput)


# ---------------------------------------------------------------------------------------------
# Versions


def test_versions_are_published_in_order_and_never_change() -> None:
    catalogue = Catalogue()
    catalogue.publish(ITEM, BASE)
    v2 = BASE.revise(promised_limit=wd(3))
    assert (v2.version, BASE.version, BASE.promised_limit) == (2, 1, wd(5))
    catalogue.publish(ITEM, v2)

    code = ITEM.implementation_code
    assert catalogue.latest(code) is v2
    assert catalogue.version(code, 1) == BASE
    assert catalogue.version(code, 1).promised_limit == wd(5)
    assert catalogue.versions(code) == (BASE, v2)
    assert list(catalogue) == [ITEM] and code in catalogue and len(catalogue) == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BASE.promised_limit = wd(1)  # type: ignore[misc]


def test_a_version_number_must_be_the_next_one() -> None:
    catalogue = Catalogue()
    catalogue.publish(ITEM, BASE)
    with pytest.raises(CatalogueRejected, match="publish it as version 2"):
        catalogue.publish(ITEM, BASE)
    with pytest.raises(CatalogueRejected, match="publish it as version 1"):
        publish(ITEM, attrs.evolve(BASE, version=2))
    assert len(catalogue.versions(ITEM.implementation_code)) == 1


def test_rejected_version_is_not_stored() -> None:
    catalogue = Catalogue()
    with pytest.raises(CatalogueRejected):
        catalogue.publish(ITEM, attrs.evolve(BASE, channels=()))
    assert ITEM.implementation_code not in catalogue


def test_unknown_items_and_versions() -> None:
    catalogue = Catalogue.from_pairs([(ITEM, [BASE])])
    with pytest.raises(UnknownItem, match="no service item"):
        catalogue.latest("11230100013114525L3000176010002")
    with pytest.raises(UnknownItem, match="published versions: 1"):
        catalogue.version(ITEM.implementation_code, 7)


# ---------------------------------------------------------------------------------------------
# Materials


def test_material_lookup() -> None:
    assert BASE.material("M02").ecert_type == ECERT_LICENCE
    assert BASE.material("M02").may_use_ecert
    assert [m.code for m in BASE.core_materials] == ["M01", "M02"]
    assert [m.code for m in BASE.tolerated_materials] == ["M03"]


def test_unknown_material_lists_the_allowed_codes() -> None:
    with pytest.raises(MaterialNotAllowed) as caught:
        BASE.material("M09")
    message = str(caught.value)
    assert "'M09'" in message
    assert "M01 (食品经营许可申请书), M02 (营业执照), M03 (健康证明)" in message
    assert "version 1" in message


def test_material_fields_are_normalised_and_checked() -> None:
    material = Material(
        code=" M01 ",
        name="申请书",
        necessity=Necessity.REQUIRED,
        formats=[".PDF", "Jpg"],
        ecert_type="  ",
    )
    assert material.code == "M01"
    assert material.formats == ("pdf", "jpg")
    assert material.ecert_type is None
    with pytest.raises(InvalidInput, match="material code"):
        Material(code="M 1", name="申请书", necessity=Necessity.REQUIRED)
    with pytest.raises(InvalidInput, match="copies must be 0 or more"):
        Material(code="M1", name="申请书", necessity=Necessity.REQUIRED, copies=-1)
    with pytest.raises(InvalidInput, match="name must not be empty"):
        Material(code="M1", name=" ", necessity=Necessity.REQUIRED)


def test_fee_and_result_values() -> None:
    assert Fee(name="工本费", amount="12.50", basis="x").amount == Decimal("12.50")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="0 or more yuan"):
        Fee(name="工本费", amount=Decimal("-1"))
    with pytest.raises(InvalidInput, match="证照, 批文, 其他"):
        ResultSpec(name="许可证", kind="执照")


# ---------------------------------------------------------------------------------------------
# Agencies and codes


def test_agency_credit_code_is_validated() -> None:
    assert Agency(name="x", credit_code=" 11230100013114525l ").credit_code == "11230100013114525L"
    with pytest.raises(InvalidIdentifier, match="credit code"):
        Agency(name="哈尔滨市市场监督管理局", credit_code="11230100MB1C70415K")


def test_implementation_code_is_credit_code_level_and_catalogue_code() -> None:
    code = ITEM.implementation_code
    assert code == "11230100013114525L" + "3" + "000176010001"
    assert len(code) == 31


def test_decompose_31_character_implementation_code() -> None:
    parsed = ServiceItem.parse_implementation_code(ITEM.implementation_code)
    assert parsed == ImplementationCode(
        credit_code="11230100013114525L",
        level=ExerciseLevel.CITY,
        catalogue_code="000176010001",
        handling_item=None,
    )
    assert str(parsed) == ITEM.implementation_code


def test_decompose_33_character_handling_item_code() -> None:
    parsed = ImplementationCode.parse(ITEM.implementation_code.lower() + "02")
    assert parsed.handling_item == "02"
    assert parsed.catalogue_code == "000176010001"
    assert str(parsed) == ITEM.implementation_code + "02"


@pytest.mark.parametrize("length", [24, 29, 30, 32, 36])
def test_other_lengths_are_valid_codes_but_cannot_be_decomposed(length: int) -> None:
    code = ("11230100013114525L3000176010001" + "00000")[:length]
    with pytest.raises(InvalidInput) as caught:
        ImplementationCode.parse(code)
    message = str(caught.value)
    assert f"has {length} characters" in message and "31" in message and "33" in message
    # Such codes are still accepted where a code is stored.
    assert attrs.evolve(BASE, item_code=code).item_code == code


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("11230100013114525L30001", "24 to 36 characters"),
        ("11230100013114525L3000176010001-", "24 to 36 characters"),
        ("11230100013114525L8000176010001", "level of exercise"),
        ("11230100013114525L30001760100010A", "handling item"),
        ("11230100MB1C70415K3000176010001", "credit code"),
    ],
)
def test_malformed_implementation_codes(code: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        ImplementationCode.parse(code)


def test_catalogue_code_decomposition() -> None:
    parsed = CatalogueCode.parse("000176010001")
    assert (parsed.defining_level, parsed.type_code, parsed.main_item, parsed.sub_item) == (
        "00",
        "01",
        "76010",
        "001",
    )
    assert parsed.item_type is ItemType.LICENSING
    assert str(parsed) == "000176010001"
    assert CatalogueCode.parse("009976010001").item_type is None  # a provincial renumbering
    with pytest.raises(InvalidInput, match="only 12-character codes"):
        CatalogueCode.parse("0001760100")
    with pytest.raises(InvalidInput, match="10 to 12 characters"):
        CatalogueCode.parse("00017601")


def test_service_item_catalogue_code_pattern() -> None:
    short = attrs.evolve(ITEM, catalogue_code="0001760100")
    assert len(short.implementation_code) == 29
    with pytest.raises(InvalidInput, match="catalogue code"):
        attrs.evolve(ITEM, catalogue_code="00017601000a1")


def test_code_tables_carry_chinese_labels() -> None:
    assert ItemType("01").label == "行政许可"
    assert ItemType.PUBLIC_SERVICE.value == "20" and ItemType.PUBLIC_SERVICE.label == "公共服务"
    assert [t.value for t in ItemType] == [f"{n:02d}" for n in range(1, 11)] + ["20"]
    assert ExerciseLevel("5").label == "乡镇（街道）级"
    assert ServiceTarget("2").label == "企业法人"
    assert Channel.MOBILE.value == "3" and Channel.MOBILE.online and not Channel.EXPRESS.online
    assert CaseKind.IMMEDIATE.label == "即办件" and CaseKind.PROMISED.label == "承诺件"
    assert OnlineDepth.IV.label == "Ⅳ"
    assert CrossRegion("跨省") is CrossRegion.CROSS_PROVINCE
    assert Necessity("容缺后补") is Necessity.TOLERATED
