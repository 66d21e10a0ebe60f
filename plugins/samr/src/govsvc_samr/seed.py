"""What the simulated market regulation system holds when it starts.

The people and enterprises are the project's shared cast: the same citizen IDs and credit
codes appear in the other departments' simulators, so a profile gathered across departments
lines up. Every citizen ID and credit code here passes its check character.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from govsvc_samr.client import (
    DEPARTMENT_NAME,
    EnterpriseStatus,
    LicenceKind,
    LicenceStatus,
)


@attrs.frozen
class Enterprise:
    """An enterprise as registered (企业登记信息). Capital is in 万元 (10,000 yuan)."""

    credit_code: str
    name: str
    kind: str
    legal_representative: str
    legal_representative_id: str
    registered_capital: Decimal
    capital_currency: str
    address: str
    established_on: dt.date
    status: EnterpriseStatus
    registration_authority: str
    business_scope: str


@attrs.frozen
class Licence:
    """A licence held by an enterprise; ``valid_until`` None means long-term (长期)."""

    kind: LicenceKind
    number: str
    holder_name: str
    holder_credit_code: str
    issuer: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    status: LicenceStatus
    business_items: tuple[str, ...] = ()
    face: tuple[tuple[str, str], ...] = ()


BINGCHENG_DUMPLINGS = Enterprise(
    credit_code="91230103MA1BX4K238",
    name="哈尔滨市冰城饺子馆有限公司",
    kind="有限责任公司（自然人独资）",
    legal_representative="张伟",
    legal_representative_id="230103198503120316",
    registered_capital=Decimal("50"),
    capital_currency="人民币",
    address="黑龙江省哈尔滨市南岗区红军街15号",
    established_on=dt.date(2019, 4, 18),
    status=EnterpriseStatus.ACTIVE,
    registration_authority="哈尔滨市南岗区市场监督管理局",
    business_scope="餐饮服务；食品销售（仅销售预包装食品）。",
)

BEIFANG_GRAIN_OIL = Enterprise(
    credit_code="91230102MA19QW7R1Q",
    name="哈尔滨北方粮油贸易有限公司",
    kind="有限责任公司（自然人投资或控股）",
    legal_representative="王秀英",
    legal_representative_id="230102197905210428",
    registered_capital=Decimal("200"),
    capital_currency="人民币",
    address="黑龙江省哈尔滨市道里区经纬街56号",
    established_on=dt.date(2016, 8, 22),
    status=EnterpriseStatus.ACTIVE,
    registration_authority="哈尔滨市道里区市场监督管理局",
    business_scope="粮食收购；食品销售；农副产品销售；货物进出口。",
)

# A cancelled company, so that registration status 注销 shows up in profiles.
LEIXIN_BUILDING_MATERIALS = Enterprise(
    credit_code="91230112MA1C2D7P5K",
    name="哈尔滨磊鑫建材有限公司",
    kind="有限责任公司（自然人独资）",
    legal_representative="赵磊",
    legal_representative_id="230112198309170711",
    registered_capital=Decimal("30"),
    capital_currency="人民币",
    address="黑龙江省哈尔滨市阿城区延川大街8号",
    established_on=dt.date(2017, 3, 9),
    status=EnterpriseStatus.CANCELLED,
    registration_authority="哈尔滨市阿城区市场监督管理局",
    business_scope="建材、五金产品零售。",
)

ENTERPRISES: tuple[Enterprise, ...] = (
    BINGCHENG_DUMPLINGS,
    BEIFANG_GRAIN_OIL,
    LEIXIN_BUILDING_MATERIALS,
)


def _chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def business_licence(
    enterprise: Enterprise, issued_on: dt.date, status: LicenceStatus = LicenceStatus.VALID
) -> Licence:
    """The 营业执照 of an enterprise: its number is the credit code."""
    face = (
        ("统一社会信用代码", enterprise.credit_code),
        ("名称", enterprise.name),
        ("类型", enterprise.kind),
        ("法定代表人", enterprise.legal_representative),
        ("经营范围", enterprise.business_scope),
        ("注册资本", f"{enterprise.registered_capital}万元{enterprise.capital_currency}"),
        ("成立日期", _chinese_date(enterprise.established_on)),
        ("营业期限", f"{_chinese_date(enterprise.established_on)}至长期"),
        ("住所", enterprise.address),
        ("登记机关", enterprise.registration_authority),
        ("发证日期", _chinese_date(issued_on)),
    )
    return Licence(
        kind=LicenceKind.BUSINESS_LICENCE,
        number=enterprise.credit_code,
        holder_name=enterprise.name,
        holder_credit_code=enterprise.credit_code,
        issuer=enterprise.registration_authority,
        issued_on=issued_on,
        valid_from=enterprise.established_on,
        valid_until=None,
        status=status,
        face=face,
    )


def food_business_licence(
    enterprise: Enterprise,
    *,
    number: str,
    business_format: str,
    business_items: tuple[str, ...],
    premises: str,
    issued_on: dt.date,
    valid_until: dt.date,
    supervisor: str,
    issuer: str = DEPARTMENT_NAME,
) -> Licence:
    """A 食品经营许可证 with the face fields of the 2023 licence format."""
    face = (
        ("经营者名称", enterprise.name),
        ("统一社会信用代码（身份证号码）", enterprise.credit_code),
        ("法定代表人（负责人）", enterprise.legal_representative),
        ("住所", enterprise.address),
        ("经营场所", premises),
        ("主体业态", business_format),
        ("经营项目", "；".join(business_items)),
        ("许可证编号", number),
        ("有效期至", _chinese_date(valid_until)),
        ("日常监督管理机构", supervisor),
        ("发证机关", issuer),
        ("签发日期", _chinese_date(issued_on)),
    )
    return Licence(
        kind=LicenceKind.FOOD_BUSINESS_LICENCE,
        number=number,
        holder_name=enterprise.name,
        holder_credit_code=enterprise.credit_code,
        issuer=issuer,
        issued_on=issued_on,
        valid_from=issued_on,
        valid_until=valid_until,
        status=LicenceStatus.VALID,
        business_items=business_items,
        face=face,
    )


LICENCES: tuple[Licence, ...] = (
    business_licence(BINGCHENG_DUMPLINGS, dt.date(2021, 6, 10)),
    # 主体业态 digit 2 (餐饮服务经营者) after "JY", then the 南岗区 county code 230103.
    food_business_licence(
        BINGCHENG_DUMPLINGS,
        number="JY22301030012345",
        business_format="餐饮服务经营者（小型餐馆）",
        business_items=("热食类食品制售", "冷食类食品制售"),
        premises="黑龙江省哈尔滨市南岗区红军街15号",
        issued_on=dt.date(2023, 5, 20),
        valid_until=dt.date(2028, 5, 19),
        supervisor="哈尔滨市南岗区市场监督管理局",
    ),
    business_licence(BEIFANG_GRAIN_OIL, dt.date(2020, 11, 3)),
    food_business_licence(
        BEIFANG_GRAIN_OIL,
        number="JY12301020004567",
        business_format="食品销售经营者（批发兼零售）",
        business_items=(
            "预包装食品（不含冷藏冷冻食品）销售",
            "散装食品（不含冷藏冷冻食品）销售",
        ),
        premises="黑龙江省哈尔滨市道里区经纬街56号",
        issued_on=dt.date(2023, 9, 1),
        valid_until=dt.date(2028, 8, 31),
        supervisor="哈尔滨市道里区市场监督管理局",
    ),
    business_licence(
        LEIXIN_BUILDING_MATERIALS, dt.date(2017, 3, 9), status=LicenceStatus.CANCELLED
    ),
)
