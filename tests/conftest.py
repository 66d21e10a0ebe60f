"""Shared fixtures: a platform on SQLite AND on PostgreSQL, a controllable clock, sample items.

PostgreSQL comes from ``GOVSVC_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Every test gets a fresh schema
(dropped at the end of the run), so no test relies on leftover state. When the server is
unreachable the PostgreSQL tests skip with the reason, unless ``GOVSVC_REQUIRE_POSTGRES=1``
(CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import govsvc
from govsvc.catalogue_io import import_json
from govsvc.testing import applicant_of, approver_of, clerk_for, reviewer_of, supervisor_of

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUN_ID = secrets.token_hex(3)


class FakeClock:
    """A clock tests move by hand. Starts on Monday 2026-03-02 09:00 in China (01:00 UTC)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.moment = start or dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(
        self, *, days: int = 0, hours: int = 0, minutes: int = 0, seconds: float = 0
    ) -> None:
        self.moment += dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)

    def set_local_date(self, day: dt.date) -> None:
        self.moment = dt.datetime(day.year, day.month, day.day, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("GOVSVC_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        reason = f"PostgreSQL at {url} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("GOVSVC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; GOVSVC_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(f"{reason}; set GOVSVC_TEST_POSTGRES_URL to run these tests")
    return url


@pytest.fixture(scope="session")
def _drop_test_schemas(postgres_url: str) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    engine = sa.create_engine(postgres_url)
    # One transaction per schema: dropping them all at once takes a lock per object and runs
    # out of the server's lock table (max_locks_per_transaction) as schemas grow.
    for schema in created:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture
def pg_schema(postgres_url: str, _drop_test_schemas: list[str]) -> str:
    schema = f"govsvc_t_{RUN_ID}_{len(_drop_test_schemas)}"
    _drop_test_schemas.append(schema)
    return schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(url, schema) of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'govsvc.db'}", None
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("pg_schema")
    return url, schema


def sample_catalogue() -> list[tuple[govsvc.ServiceItem, list[govsvc.ItemVersion]]]:
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    return import_json(text, source="harbin.json")


@pytest.fixture
def platform(database: tuple[str, str | None], clock: FakeClock) -> Iterator[govsvc.Platform]:
    """A platform on a fresh database with the sample Harbin catalogue published."""
    url, schema = database
    p = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    p.system().catalogue.import_items(sample_catalogue())
    yield p
    p.close()


@pytest.fixture
def make_platform(
    database: tuple[str, str | None], clock: FakeClock
) -> Iterator[Callable[..., govsvc.Platform]]:
    """Open platforms on one fresh database with given plugins (sample catalogue published)."""
    opened: list[govsvc.Platform] = []

    def make(*plugins: object, **options: Any) -> govsvc.Platform:
        url, schema = database
        options.setdefault("load_entry_points", False)
        options.setdefault("clock", clock)
        p = govsvc.Platform.open(url, schema=schema, plugins=list(plugins), **options)
        opened.append(p)
        p.system().catalogue.import_items(sample_catalogue())
        return p

    yield make
    for p in opened:
        p.close()


FOOD_LICENCE = "11230100013114525L3000176010001"  # 食品经营许可（新办）: 2 reviewers in one stage
HOUSEHOLD_MOVE = "11230100003108738D3000716002003"  # 户口迁移: two stages


@pytest.fixture
def zhang() -> govsvc.Person:
    return govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")


SAMPLE_AGENCIES = tuple(sorted({item.agency.credit_code for item, _ in sample_catalogue()}))


class People:
    """Sessions for everyone a test needs, each bound to a principal of the right kind."""

    def __init__(self, platform: govsvc.Platform) -> None:
        self.platform = platform

    def applicant(self, party: govsvc.Person | govsvc.Organisation) -> govsvc.Session:
        return self.platform.session(applicant_of(party))

    @property
    def clerk(self) -> govsvc.Session:
        """A clerk of a hall serving every agency of the sample catalogue (一窗受理)."""
        return self.platform.session(clerk_for(*SAMPLE_AGENCIES), purpose="窗口受理")

    def reviewer(self, department: str) -> govsvc.Session:
        return self.platform.session(reviewer_of(department), purpose="办件审查")

    def approver(self, department: str) -> govsvc.Session:
        return self.platform.session(approver_of(department), purpose="办件审查")

    def supervisor(self, division: str = "230100") -> govsvc.Session:
        return self.platform.session(supervisor_of(division), purpose="电子监察")

    @property
    def system(self) -> govsvc.Session:
        return self.platform.system()

    def approve_all(self, case: govsvc.Case) -> govsvc.Case:
        """Every open task approved by its own department's reviewer, stage after stage."""
        while case.state is govsvc.CaseState.IN_REVIEW:
            task = case.open_tasks[0]
            case = self.reviewer(task.department).reviews.decide(case, task.id, approve=True)
        return case


@pytest.fixture
def people(platform: govsvc.Platform) -> People:
    return People(platform)
