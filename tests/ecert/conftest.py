"""Fixtures of the e-certificate tests: the packaged types, a key ring, issued credentials.

Everything is in memory: keys are generated, status lists are signed on the spot and served
by a dict standing in for the platform's status list endpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from govsvc.catalogue import Agency
from govsvc.ecert import (
    EDDSA,
    Certificate,
    CertificateType,
    CertificateTypes,
    EcertUrls,
    FetchedStatusList,
    KeyRing,
    StatusList,
    StatusPurpose,
    issue_credential,
    load_certificate_types,
    sign_credential,
    status_list_credential,
)
from govsvc.identity import PartyKey
from govsvc.principals import Actor, PrincipalKind

SAMR = Agency(name="哈尔滨市市场监督管理局", credit_code="11230100013114525L")
HEALTH = Agency(name="哈尔滨市卫生健康委员会", credit_code="11230100MB1935270B")
HALL = Agency(name="哈尔滨市政务服务中心", credit_code="12230100MB1A03528R")
DUMPLINGS = PartyKey.of("91230103MA1BX4K238")
CHEN_JING = PartyKey.of("23011019950630088X")
SUN_YUE = PartyKey.of("230103202401050029")
ISSUED_AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Harbin
URLS = EcertUrls("https://zwfw.harbin.gov.cn/ecert")
APPROVER = Actor(kind=PrincipalKind.APPROVER, id="a-07", name="李明", agency=SAMR.credit_code)

FOOD_FACE: dict[str, Any] = {
    "operatorName": "哈尔滨市冰城饺子馆有限公司",
    "creditCode": "91230103MA1BX4K238",
    "legalRepresentative": "张伟",
    "address": "黑龙江省哈尔滨市南岗区红军街15号",
    "premises": "黑龙江省哈尔滨市南岗区红军街15号",
    "businessFormat": "餐饮服务经营者（小型餐馆）",
    "businessItems": "热食类食品制售；冷食类食品制售",
    "supervisor": "哈尔滨市南岗区市场监督管理局",
}

BIRTH_FACE: dict[str, Any] = {
    "newbornName": "孙悦",
    "sex": "女",
    "birthDate": "2024-01-05",
    "birthTime": "08:26",
    "birthPlace": "黑龙江省哈尔滨市南岗区",
    "gestationalWeeks": 39,
    "weightGrams": 3250,
    "lengthCm": 50,
    "motherName": "陈静",
    "motherId": "23011019950630088X",
    "fatherName": "刘洋",
    "fatherId": "230109198801150175",
    "institution": "哈尔滨医科大学附属第一医院",
}


@pytest.fixture(scope="session")
def types() -> CertificateTypes:
    return load_certificate_types()


@pytest.fixture(scope="session")
def food_type(types: CertificateTypes) -> CertificateType:
    return types.get("11100000MB0143028R006")


@pytest.fixture(scope="session")
def birth_type(types: CertificateTypes) -> CertificateType:
    return types.get("11100000MB1613028M001")


class Clock:
    """A clock tests move by hand."""

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(ISSUED_AT)


@pytest.fixture
def ring(clock: Clock) -> KeyRing:
    ring = KeyRing(clock=clock)
    ring.generate(SAMR.credit_code, EDDSA, key_id="samr-2026a",
                  activated_at=ISSUED_AT - dt.timedelta(days=30))
    ring.generate(HALL.credit_code, EDDSA, key_id="hall-2026a",
                  activated_at=ISSUED_AT - dt.timedelta(days=30))
    return ring


def food_licence(
    food_type: CertificateType, *, index: int = 4242, serial: str = "JY22301030012345"
) -> Certificate:
    step = Certificate.issue(
        food_type,
        serial=serial,
        issuer=SAMR,
        number=serial,
        holder_name="哈尔滨市冰城饺子馆有限公司",
        holder=DUMPLINGS,
        division="230103",
        face=FOOD_FACE,
        at=ISSUED_AT,
        actor=APPROVER,
        status_index=index,
        case_id="case-0001",
    )
    return step.certificate


@attrs.define
class StatusService:
    """The issuers' status lists as the platform would serve them (signed on every change)."""

    ring: KeyRing
    lists: dict[str, StatusList] = attrs.field(factory=dict)
    signed: dict[str, FetchedStatusList] = attrs.field(factory=dict)
    calls: list[str] = attrs.field(factory=list)

    def url(self, issuer: str, purpose: StatusPurpose, number: int = 0) -> str:
        return URLS.status_list(issuer, number, purpose)

    def publish(self, issuer: Agency, purpose: StatusPurpose, status_list: StatusList,
                *, at: dt.datetime = ISSUED_AT, number: int = 0,
                fetched_at: dt.datetime | None = None) -> str:
        url = self.url(issuer.credit_code, purpose, number)
        document = status_list_credential(
            status_list, url=url, issuer_id=URLS.issuer(issuer.credit_code),
            issuer_name=issuer.name, valid_from=at,
        )
        jws = sign_credential(document, self.ring.signer_for(issuer.credit_code), at=at)
        self.lists[url] = status_list
        self.signed[url] = FetchedStatusList(jws, fetched_at)
        return url

    def set(self, issuer: Agency, purpose: StatusPurpose, index: int, value: bool = True,
            *, at: dt.datetime = ISSUED_AT) -> None:
        url = self.url(issuer.credit_code, purpose)
        self.publish(issuer, purpose, self.lists[url].set(index, value), at=at)

    def __call__(self, url: str, *, online: bool) -> FetchedStatusList | None:
        self.calls.append(url)
        return self.signed.get(url)


@pytest.fixture
def status(ring: KeyRing) -> StatusService:
    service = StatusService(ring)
    for issuer in (SAMR, HEALTH, HALL):
        if ring.keys(issuer.credit_code):
            for purpose in StatusPurpose:
                service.publish(issuer, purpose, StatusList.empty(purpose))
    return service


@pytest.fixture
def licence(food_type: CertificateType) -> Certificate:
    return food_licence(food_type)


@pytest.fixture
def licence_jws(licence: Certificate, ring: KeyRing) -> str:
    return issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)


Verify = Callable[..., Any]
