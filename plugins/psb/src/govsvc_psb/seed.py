"""Seeded household register (户籍) of the simulated 哈尔滨市公安局 system.

The shared pilot people, with the addresses the public security bureau holds (it is the
authoritative source for name, sex, birth date, ethnicity and 户籍地址). The newborn 孙悦 is
*not* registered until a birth registration (出生登记) is issued, which assigns her the number
230103202401050029; pass ``newborn_registered=True`` to the simulator to start after that.
"""

from __future__ import annotations

import datetime as dt

import attrs

DEPARTMENT_NAME = "哈尔滨市公安局"
DEPARTMENT_CREDIT_CODE = "11230100003108738D"


@attrs.frozen
class SeedHousehold:
    """A household (户) as the register holds it: number, address and kind (家庭户/集体户)."""

    household_number: str
    address: str
    kind: str = "家庭户"


@attrs.frozen
class SeedPerson:
    """A registered resident; ``sex`` is the GB/T 2261.1 code ("1" 男, "2" 女)."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    ethnicity: str
    household_number: str
    relation_to_head: str


HOUSEHOLDS: tuple[SeedHousehold, ...] = (
    SeedHousehold("230103000152", "黑龙江省哈尔滨市南岗区学府路52号"),
    SeedHousehold("230102000118", "黑龙江省哈尔滨市道里区中央大街118号"),
    SeedHousehold("230104000300", "黑龙江省哈尔滨市道外区靖宇街300号"),
    SeedHousehold("230109000099", "黑龙江省哈尔滨市松北区世茂大道99号"),
    SeedHousehold("230110000201", "黑龙江省哈尔滨市香坊区中山路201号"),
    SeedHousehold("230108000016", "黑龙江省哈尔滨市平房区友协大街16号"),
    SeedHousehold("230112000008", "黑龙江省哈尔滨市阿城区延川大街8号"),
    # The newborn's household: her grandfather's, where her birth is registered.
    SeedHousehold("230103000074", "黑龙江省哈尔滨市南岗区西大直街74号"),
)

def _resident(
    id_number: str, name: str, ethnicity: str, household: str, relation: str = "户主"
) -> SeedPerson:
    # Sex and birth date are read from the number (GB 11643), so the seed cannot disagree.
    sex = "1" if int(id_number[16]) % 2 else "2"
    birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return SeedPerson(id_number, name, sex, birth, ethnicity, household, relation)


PEOPLE: tuple[SeedPerson, ...] = (
    _resident("230103198503120316", "张伟", "汉族", "230103000152"),
    _resident("230102197905210428", "王秀英", "满族", "230102000118"),
    _resident("230104199208090266", "李娜", "汉族", "230104000300"),
    _resident("230109198801150175", "刘洋", "汉族", "230109000099"),
    _resident("23011019950630088X", "陈静", "汉族", "230110000201"),
    _resident("230108197002280538", "杨帆", "朝鲜族", "230108000016"),
    _resident("230112198309170711", "赵磊", "汉族", "230112000008"),
    _resident("230103196210010114", "孙国庆", "汉族", "230103000074"),
)

NEWBORN: SeedPerson = _resident("230103202401050029", "孙悦", "汉族", "230103000074", "孙女")
"""孙悦 (mother 陈静, father 刘洋), registered in 孙国庆's household once 出生登记 is issued."""

NEWBORN_BIRTH_FORM: dict[str, str] = {
    "registrationType": "出生登记",
    "name": NEWBORN.name,
    "sex": NEWBORN.sex,
    "birthDate": NEWBORN.birth_date.isoformat(),
    "ethnicity": NEWBORN.ethnicity,
    "householdNumber": NEWBORN.household_number,
    "relationToHead": NEWBORN.relation_to_head,
    "motherIdNumber": "23011019950630088X",
    "fatherIdNumber": "230109198801150175",
    "birthCertificateNumber": "Y230010001",
}
"""The form of the newborn's birth registration (出生登记), as the demo submits it."""
