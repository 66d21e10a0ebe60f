"""Shared pieces of the govsvc benchmarks: the bench item, applicants and fresh databases.

Not part of the package: scripts in ``bench/`` import it as a sibling module
(``python bench/pipeline.py`` puts ``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform as host
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import govsvc

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# The implementing agency and the co-reviewing department (Harbin, as in data/items/harbin.json).
AGENCY = govsvc.Agency(name="哈尔滨市市场监督管理局", credit_code="11230100013114525L")
CO_AGENCY = govsvc.Agency(name="哈尔滨市卫生健康委员会", credit_code="11230100MB1935270B")
MATERIAL_NAMES = ("食品经营许可申请书", "营业执照", "经营场所平面图", "食品安全管理制度")


def bench_item() -> tuple[govsvc.ServiceItem, govsvc.ItemVersion]:
    """One item whose version has 4 required (必要) materials and one 2-department review stage."""
    for code in (AGENCY.credit_code, CO_AGENCY.credit_code):
        assert govsvc.CreditCode.check_char(code[:17]) == code[17], code
    item = govsvc.ServiceItem(
        catalogue_code="000176010001",
        agency=AGENCY,
        level=govsvc.ExerciseLevel.CITY,
        name="食品经营许可（基准测试）",
        item_type=govsvc.ItemType.LICENSING,
    )
    version = govsvc.ItemVersion(
        item_code=item.implementation_code,
        version=1,
        name=item.name,
        item_type=item.item_type,
        targets=(govsvc.ServiceTarget.ENTERPRISE, govsvc.ServiceTarget.NATURAL_PERSON),
        legal_basis=(
            govsvc.LegalBasis(law="《中华人民共和国食品安全法》", article="第三十五条"),
            govsvc.LegalBasis(law="《中华人民共和国行政许可法》", article="第四十二条"),
        ),
        agency=AGENCY,
        co_agencies=(CO_AGENCY,),
        materials=tuple(
            govsvc.Material(code=f"M{n:02d}", name=name, necessity=govsvc.Necessity.REQUIRED)
            for n, name in enumerate(MATERIAL_NAMES, start=1)
        ),
        review_stages=(
            govsvc.ReviewStage(
                name="联合审查", departments=(AGENCY.credit_code, CO_AGENCY.credit_code)
            ),
        ),
        statutory_limit=govsvc.TimeLimit(20),
        promised_limit=govsvc.TimeLimit(10),
        case_kind=govsvc.CaseKind.PROMISED,
        results=(
            govsvc.ResultSpec(
                name="食品经营许可证", kind="证照", delivery=("邮寄送达",), post_supported=True
            ),
        ),
        location="哈尔滨市政务服务中心 市场监管综合窗口",
        hours="法定工作日 上午8:30—12:00，下午13:30—17:00",
        consultation_phone="0451-84661500",
        complaint_phone="12345",
        online_depth=govsvc.OnlineDepth.IV,
        visits=0,
        channels=(govsvc.Channel.WINDOW, govsvc.Channel.PC, govsvc.Channel.MOBILE),
    )
    problems = govsvc.check_version(item, version)
    assert not problems, problems
    return item, version


def provided_materials(version: govsvc.ItemVersion) -> list[govsvc.ProvidedMaterial]:
    """One uploaded file for each material of ``version``."""
    return [
        govsvc.ProvidedMaterial(
            code=m.code,
            filename=f"{m.code}.pdf",
            reference="sha256:" + secrets.token_hex(32),
            media_type="application/pdf",
            size=120_000,
        )
        for m in version.materials
    ]


def citizen_number(i: int) -> str:
    """A valid, distinct 18-character citizen ID for every ``i`` below ~25 million."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=i // 900)
    first17 = f"230102{born:%Y%m%d}{100 + i % 900:03d}"
    return first17 + govsvc.CitizenId.check_char(first17)


def applicants(start: int, count: int) -> list[govsvc.Person]:
    return [
        govsvc.Person(key=govsvc.PartyKey.of(citizen_number(i)), name="张三")
        for i in range(start, start + count)
    ]


def machine_note() -> str:
    return f"{os.cpu_count()} CPU, {host.python_implementation()} {host.python_version()}, " + (
        f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}"
    )


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string (no ``+psycopg`` driver part)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_databases(db: str, postgres_url: str) -> Iterator[dict[str, Any]]:
    """Two empty databases with the govsvc schema: ``platform`` and ``raw``.

    Yields ``{"platform": (url, schema), "raw": (url, schema), ...}``; SQLite files live in a
    temporary directory, PostgreSQL gets two fresh schemas. Both are removed afterwards.
    """
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="govsvc-bench-") as tmp:
            paths = {side: Path(tmp) / f"{side}.db" for side in ("platform", "raw")}
            yield {
                "platform": (f"sqlite:///{paths['platform']}", None),
                "raw": (f"sqlite:///{paths['raw']}", None),
                "raw_path": str(paths["raw"]),
            }
        return
    import psycopg

    tag = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    schemas = {"platform": f"{tag}_p", "raw": f"{tag}_r"}
    try:
        yield {side: (postgres_url, schema) for side, schema in schemas.items()}
    finally:
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
            for schema in schemas.values():
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def create_schema(url: str, schema: str | None) -> None:
    """Create the govsvc tables (same alembic migrations as the platform) in an empty DB."""
    govsvc.Platform.open(url, schema=schema, load_entry_points=False).close()
