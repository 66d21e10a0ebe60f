"""Seeded data of the simulated 哈尔滨市人力资源和社会保障局 system.

The shared pilot people as the social security bureau holds them: social security cards
(社会保障卡), insurance (参保) and employers. One deliberate disagreement with the public
security bureau, for the profile merge to show: 人社 still holds 李娜's *old* address
(黑龙江省哈尔滨市南岗区红军街15号; 公安 has 道外区靖宇街300号). The newborn 孙悦 is unknown here
until her social security card application (社会保障卡申领) is issued.
"""

from __future__ import annotations

import datetime as dt

import attrs

DEPARTMENT_NAME = "哈尔滨市人力资源和社会保障局"
DEPARTMENT_CREDIT_CODE = "11230100003109212K"

INSURANCE_TYPES: dict[str, str] = {
    "110": "企业职工基本养老保险",
    "120": "机关事业单位养老保险",
    "170": "城乡居民基本养老保险",
    "210": "失业保险",
    "310": "职工基本医疗保险",
    "390": "城乡居民基本医疗保险",
    "410": "工伤保险",
    "510": "生育保险",
}
"""Insurance types (险种) by the code the national social insurance systems use."""

EMPLOYEE_INSURANCE = ("110", "210", "310", "410", "510")  # 五险 for an employee

LI_NA_OLD_ADDRESS = "黑龙江省哈尔滨市南岗区红军街15号"


@attrs.frozen
class SeedEmployer:
    """An insured employer (参保单位)."""

    credit_code: str
    name: str


@attrs.frozen
class SeedInsurance:
    """One insurance of a person: type code, status (参保缴费/暂停缴费/终止参保), since."""

    type_code: str
    status: str
    since: dt.date


@attrs.frozen
class SeedPerson:
    """An insured person; ``sex`` is 男 or 女, as this system stores it."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    address: str
    employer: str | None
    insurances: tuple[SeedInsurance, ...]


@attrs.frozen
class SeedCard:
    """A social security card (社会保障卡); ``status`` is 正常, 挂失 or 注销."""

    card_number: str
    holder_id: str
    bank: str
    issued_on: dt.date
    status: str


EMPLOYERS: tuple[SeedEmployer, ...] = (
    SeedEmployer("91230103MA1BX4K238", "哈尔滨市冰城饺子馆有限公司"),
    SeedEmployer("91230102MA19QW7R1Q", "哈尔滨北方粮油贸易有限公司"),
)


def _employee(since: dt.date, *, paused: tuple[str, ...] = ()) -> tuple[SeedInsurance, ...]:
    return tuple(
        SeedInsurance(code, "暂停缴费" if code in paused else "参保缴费", since)
        for code in EMPLOYEE_INSURANCE
    )


def _person(
    id_number: str,
    name: str,
    address: str,
    employer: str | None,
    insurances: tuple[SeedInsurance, ...],
) -> SeedPerson:
    # Sex and birth date are read from the number (GB 11643), so the seed cannot disagree.
    sex = "男" if int(id_number[16]) % 2 else "女"
    birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return SeedPerson(id_number, name, sex, birth, address, employer, insurances)


_DUMPLINGS, _GRAIN = (e.credit_code for e in EMPLOYERS)

PEOPLE: tuple[SeedPerson, ...] = (
    _person(
        "230103198503120316", "张伟", "黑龙江省哈尔滨市南岗区学府路52号", _DUMPLINGS,
        _employee(dt.date(2016, 4, 1)),
    ),
    _person(
        "230102197905210428", "王秀英", "黑龙江省哈尔滨市道里区中央大街118号", _GRAIN,
        _employee(dt.date(2010, 9, 1)),
    ),
    _person("230104199208090266", "李娜", LI_NA_OLD_ADDRESS, _DUMPLINGS,
            _employee(dt.date(2019, 7, 1))),
    _person(
        "230109198801150175", "刘洋", "黑龙江省哈尔滨市松北区世茂大道99号", None,
        # 灵活就业: pays pension and medical insurance himself, without an employer.
        (
            SeedInsurance("110", "参保缴费", dt.date(2015, 1, 1)),
            SeedInsurance("310", "参保缴费", dt.date(2015, 1, 1)),
        ),
    ),
    _person(
        "23011019950630088X", "陈静", "黑龙江省哈尔滨市香坊区中山路201号", _GRAIN,
        _employee(dt.date(2017, 8, 1)),
    ),
    _person(
        "230108197002280538", "杨帆", "黑龙江省哈尔滨市平房区友协大街16号", _GRAIN,
        _employee(dt.date(2012, 5, 1)),
    ),
    _person(
        "230112198309170711", "赵磊", "黑龙江省哈尔滨市阿城区延川大街8号", _DUMPLINGS,
        _employee(dt.date(2018, 3, 1), paused=("210",)),
    ),
)

_ICBC, _CCB, _ABC, _BOC = (f"中国{b}银行哈尔滨分行" for b in ("工商", "建设", "农业", ""))

CARDS: tuple[SeedCard, ...] = (
    SeedCard("H10023456", "230103198503120316", _ICBC, dt.date(2012, 6, 15), "注销"),
    SeedCard("H30188412", "230103198503120316", _ICBC, dt.date(2021, 9, 10), "正常"),
    SeedCard("H30102275", "230102197905210428", _CCB, dt.date(2020, 11, 3), "正常"),
    SeedCard("H30155630", "230104199208090266", "哈尔滨银行", dt.date(2021, 3, 22), "挂失"),
    SeedCard("H30120981", "230109198801150175", "龙江银行", dt.date(2020, 12, 8), "正常"),
    SeedCard("H30166204", "23011019950630088X", _ABC, dt.date(2021, 5, 17), "正常"),
    SeedCard("H30099317", "230108197002280538", _BOC, dt.date(2020, 10, 26), "正常"),
    SeedCard("H30177045", "230112198309170711", _ICBC, dt.date(2021, 7, 1), "正常"),
)

NEWBORN_ID = "230103202401050029"
NEWBORN_CARD_FORM: dict[str, str] = {
    "holderIdNumber": NEWBORN_ID,
    "name": "孙悦",
    "sex": "女",
    "birthDate": "2024-01-05",
    "address": "黑龙江省哈尔滨市南岗区西大直街74号",
    "bank": "中国工商银行哈尔滨分行",
    "guardianIdNumber": "23011019950630088X",
}
"""The newborn's social security card application (社会保障卡申领), as the demo submits it."""
