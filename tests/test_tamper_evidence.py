"""Tamper evidence: case trails chained per case, the exchange and access logs anchored by
keyed checkpoints that a witness can keep — each attack below is one a database user could
make, and each must be named — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import govsvc
from govsvc import Checkpoint
from govsvc.store import chain, tables
from govsvc.store.access import FIELDS as ACCESS_FIELDS
from govsvc.store.cases import EVENT_FIELDS
from govsvc.testing import applicant_of, clerk_for
from tests.conftest import People
from tests.departments import ZHANG, plugin_for, standard_departments

MakePlatform = Callable[..., govsvc.Platform]
FOOD = "11230100013114525L3000176010001"
KEY = {"witness-2026": secrets.token_bytes(32)}
LI = govsvc.Person(key=govsvc.PartyKey.of("230102199001011230"), name="李娜")


def accepted_case(p: govsvc.Platform, people: People, zhang: govsvc.Person) -> govsvc.Case:
    version = p.public().catalogue.version(FOOD)
    materials = [
        govsvc.ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]
    case = people.applicant(zhang).cases.apply(FOOD, zhang, materials=materials)
    return p.session(clerk_for(case.agency)).cases.accept(case)


def refused_reads(p: govsvc.Platform, case: govsvc.Case, n: int) -> None:
    """``n`` refused reads, each an access-log record."""
    stranger = p.session(applicant_of(LI))
    for _ in range(n):
        with pytest.raises(govsvc.PermissionDenied):
            stranger.cases.get(case.id)


def rechain(p: govsvc.Platform, table: sa.Table, fields: tuple[str, ...], **change: Any) -> None:
    """What an attacker with the database and the public algorithm does: alter the first
    record, then recompute every hash after it so the chain agrees with itself again."""
    with p.engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.seq))]
        rows[0].update(change)
        prev = chain.GENESIS
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = chain.digest(row, fields, prev)
            conn.execute(
                sa.update(table)
                .where(table.c.seq == row["seq"])
                .values(**{k: row[k] for k in ("prev_hash", "hash", *change)})
            )


# --- case trails ---------------------------------------------------------------------------------


def test_a_case_trail_names_the_first_rewritten_or_deleted_event(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = accepted_case(platform, people, zhang)
    cases = people.system.cases
    assert cases.verify_trail(case).ok and cases.verify_trail(case).checked == case.version == 3
    assert people.applicant(zhang).cases.verify_trail(case.tracking_code).ok  # the applicant may
    with pytest.raises(govsvc.PermissionDenied):
        platform.session(applicant_of(LI)).cases.verify_trail(case.id)

    events = tables.events_t
    with platform.engine.begin() as conn:  # someone rewrites when it was submitted
        conn.execute(
            sa.update(events)
            .where(events.c.case_id == case.id, events.c.seq == 1)
            .values(actor_name="王五")
        )
    report = cases.verify_trail(case)
    assert (report.ok, report.first_bad) == (False, 1)
    assert "content" in report.reason


def test_deleting_the_last_events_of_a_trail_is_found(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = accepted_case(platform, people, zhang)
    events = tables.events_t
    with platform.engine.begin() as conn:  # the acceptance is removed, chain intact before it
        conn.execute(sa.delete(events).where(events.c.case_id == case.id, events.c.seq == 3))
    report = people.system.cases.verify_trail(case.id)
    assert (report.ok, report.first_bad) == (False, 3)
    assert "deleted" in report.reason


def test_a_trail_rechained_by_the_public_algorithm_does_not_match_the_case_head(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = accepted_case(platform, people, zhang)
    events = tables.events_t
    with platform.engine.begin() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(events).where(events.c.case_id == case.id).order_by(events.c.seq)
            )
        ]
        rows[0]["actor_name"] = "王五"
        prev = chain.GENESIS
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = chain.digest(row, EVENT_FIELDS, prev)
            conn.execute(
                sa.update(events)
                .where(events.c.case_id == case.id, events.c.seq == row["seq"])
                .values(actor_name=row["actor_name"], prev_hash=row["prev_hash"], hash=row["hash"])
            )
    report = people.system.cases.verify_trail(case.id)
    assert not report.ok and report.first_bad == 3 and "re-chained" in report.reason


# --- keyed checkpoints of the chained logs -----------------------------------------------------------


def test_checkpoints_anchor_the_access_log_against_rechaining(
    make_platform: MakePlatform, zhang: govsvc.Person
) -> None:
    p = make_platform(checkpoint_keys=KEY)
    people = People(p)
    case = accepted_case(p, people, zhang)
    refused_reads(p, case, 3)
    supervision = p.system().supervision
    [point] = [c for c in supervision.checkpoint() if c.log == "access_log"]
    assert point.key_id == "witness-2026" and point.seq >= 3
    assert supervision.checkpoint() == []  # the head has its checkpoint: nothing new
    assert supervision.verify_access_log().anchored == point.seq
    refused_reads(p, case, 2)  # records after the checkpoint are chained, not yet anchored
    report = supervision.verify_access_log()
    assert report.ok and report.anchored == point.seq and report.checked == point.seq + 2

    rechain(p, tables.access_t, ACCESS_FIELDS, detail="nothing happened here")
    assert p.system().supervision.verify_access_log().ok is False
    report = p.system().supervision.verify_access_log()
    assert report.first_bad == point.seq and "rewritten" in report.reason


def test_truncation_is_found_by_the_checkpoint_and_by_the_witness_if_both_are_deleted(
    make_platform: MakePlatform, zhang: govsvc.Person
) -> None:
    p = make_platform(checkpoint_keys=KEY)
    people = People(p)
    case = accepted_case(p, people, zhang)
    refused_reads(p, case, 4)
    supervision = p.system().supervision
    supervision.checkpoint()
    # The witness keeps what it was handed (as JSON, outside the platform).
    kept = json.dumps([c.to_dict() for c in supervision.checkpoints("access_log")])
    witness = [Checkpoint.from_dict(d) for d in json.loads(kept)]
    last = witness[-1].seq

    with p.engine.begin() as conn:  # the last two records go
        conn.execute(sa.delete(tables.access_t).where(tables.access_t.c.seq > last - 2))
    report = supervision.verify_access_log()
    assert (report.ok, report.first_bad) == (False, last - 1)
    assert "deleted" in report.reason

    with p.engine.begin() as conn:  # ...and the checkpoints with them
        conn.execute(sa.delete(tables.checkpoints_t))
    assert supervision.verify_access_log().ok  # the chain alone cannot tell
    report = supervision.verify_access_log(witness=witness)
    assert (report.ok, report.first_bad) == (False, last - 1) and "deleted" in report.reason


def test_a_forged_checkpoint_or_an_unknown_key_is_named(
    make_platform: MakePlatform, zhang: govsvc.Person
) -> None:
    p = make_platform(checkpoint_keys=KEY)
    people = People(p)
    case = accepted_case(p, people, zhang)
    refused_reads(p, case, 2)
    supervision = p.system().supervision
    [point] = supervision.checkpoint()
    with p.engine.begin() as conn:  # an attacker re-points the checkpoint at a rewritten head
        conn.execute(sa.update(tables.checkpoints_t).values(head="f" * 64))
    report = supervision.verify_access_log()
    assert (report.ok, report.first_bad) == (False, point.seq) and "MAC" in report.reason

    other = Checkpoint(
        log="access_log", seq=1, head="0" * 64, at=point.at, key_id="someone-else"
    ).signed(secrets.token_bytes(32))
    with p.engine.begin() as conn:
        conn.execute(sa.delete(tables.checkpoints_t))
    report = supervision.verify_access_log(witness=[other])
    assert not report.ok and "someone-else" in report.reason


def test_the_exchange_log_is_checkpointed_too(make_platform: MakePlatform) -> None:
    p = make_platform(plugin_for(standard_departments()), checkpoint_keys=KEY)
    p.system().parties.identify(ZHANG, purpose="办理食品经营许可")
    points = {c.log: c for c in p.system().supervision.checkpoint()}
    assert set(points) == {"exchange_log"}  # the platform's own reads are not access records
    departments = p.system().departments
    assert departments.verify_exchange_log().anchored == points["exchange_log"].seq
    with p.engine.begin() as conn:
        conn.execute(
            sa.delete(tables.exchange_t).where(
                tables.exchange_t.c.seq == points["exchange_log"].seq
            )
        )
    assert departments.verify_exchange_log().first_bad == points["exchange_log"].seq


def test_checkpoints_need_a_key_kept_outside_the_database(
    make_platform: MakePlatform,
) -> None:
    p = make_platform()
    with pytest.raises(govsvc.InvalidInput, match="checkpoint_keys"):
        p.system().supervision.checkpoint()
    with pytest.raises(govsvc.InvalidInput, match="16 random bytes"):
        make_platform(checkpoint_keys={"k": b"short"})
    with pytest.raises(govsvc.PermissionDenied):
        p.session(clerk_for("11230100013114525L")).supervision.checkpoint()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"log": "access_log"}, "missing seq"),
        (
            {"log": "mail", "seq": 1, "head": "", "at": "", "key_id": "", "mac": ""},
            "one of exchange_log",
        ),
        (
            {"log": "access_log", "seq": -1, "head": "", "at": "", "key_id": "", "mac": ""},
            "seq",
        ),
        (
            {
                "log": "access_log",
                "seq": 1,
                "head": "",
                "at": "2026-03-02T09:00",
                "key_id": "",
                "mac": "",
            },
            "UTC offset",
        ),
    ],
)
def test_a_witness_file_that_is_not_checkpoints_is_refused_naming_the_field(
    data: Any, message: str
) -> None:
    with pytest.raises(govsvc.InvalidInput, match=message):
        Checkpoint.from_dict(data)
