"""What the simulated health commission system holds when it starts.

The people are the project's shared cast (same citizen IDs as in the other departments'
simulators). One disagreement is deliberate: the health records spell 王秀英 as 王秀瑛, as
happens when a clinic typed the name by ear; the profile merge must show it, not hide it.
"""

from __future__ import annotations

import datetime as dt

import attrs

from govsvc_health.client import BEIJING, Sex


@attrs.frozen
class Person:
    """Basic data from the resident health records (居民电子健康档案)."""

    id_number: str
    name: str
    sex: Sex
    birth_date: dt.date


@attrs.frozen
class BirthCertificate:
    """A birth medical certificate (出生医学证明) as stored by the commission."""

    number: str
    newborn_name: str
    newborn_sex: Sex
    newborn_id: str | None  # filled in once 公安 registers the child (户口登记)
    born_at: dt.datetime
    birth_place: str
    hospital: str
    gestational_weeks: int
    weight_grams: int
    length_cm: int
    mother_name: str
    mother_id: str
    father_name: str | None
    father_id: str | None
    issuer: str
    issued_on: dt.date


PERSONS: tuple[Person, ...] = (
    Person("230103198503120316", "张伟", Sex.MALE, dt.date(1985, 3, 12)),
    # Deliberately 瑛, not 英: the 公安 record says 王秀英.
    Person("230102197905210428", "王秀瑛", Sex.FEMALE, dt.date(1979, 5, 21)),
    Person("230104199208090266", "李娜", Sex.FEMALE, dt.date(1992, 8, 9)),
    Person("230109198801150175", "刘洋", Sex.MALE, dt.date(1988, 1, 15)),
    Person("23011019950630088X", "陈静", Sex.FEMALE, dt.date(1995, 6, 30)),
    Person("230108197002280538", "杨帆", Sex.MALE, dt.date(1970, 2, 28)),
    Person("230112198309170711", "赵磊", Sex.MALE, dt.date(1983, 9, 17)),
    Person("230103202401050029", "孙悦", Sex.FEMALE, dt.date(2024, 1, 5)),
)

HOSPITAL = "哈尔滨医科大学附属第一医院"

BIRTH_CERTIFICATES: tuple[BirthCertificate, ...] = (
    BirthCertificate(
        number="Q230123456",
        newborn_name="孙悦",
        newborn_sex=Sex.FEMALE,
        newborn_id="230103202401050029",
        born_at=dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING),
        birth_place="黑龙江省哈尔滨市南岗区",
        hospital=HOSPITAL,
        gestational_weeks=39,
        weight_grams=3250,
        length_cm=50,
        mother_name="陈静",
        mother_id="23011019950630088X",
        father_name="刘洋",
        father_id="230109198801150175",
        issuer=HOSPITAL,
        issued_on=dt.date(2024, 1, 8),
    ),
)
