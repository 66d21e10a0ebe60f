"""Keyed checkpoints of the chained logs: the anchor that makes truncation and re-chaining
show.

A hash chain alone proves only that records agree with each other: whoever can write the
database can delete the last records, or alter one and recompute every hash after it with
the public algorithm. A checkpoint binds the log's length and head hash at a moment with an
HMAC under a key the database does not hold. :func:`check` compares the chain with every
checkpoint known (the stored ones and those a witness kept): a checkpoint beyond the end of
the log means records were deleted, a head that differs means the chain was rewritten, a MAC
that does not match means the checkpoint itself was forged or altered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import attrs
import sqlalchemy as sa

from govsvc.audit import Checkpoint
from govsvc.store import chain
from govsvc.store.tables import checkpoints_t

__all__ = ["check", "stored", "take"]


def take(
    conn: sa.Connection, table: sa.Table, *, key_id: str, key: bytes, now: dt.datetime
) -> Checkpoint | None:
    """Checkpoint ``table``'s current head (None for an empty log, or one whose head has a
    checkpoint already). Runs in the caller's write transaction, after the log's own lock,
    so no append slips between reading the head and storing its checkpoint."""
    chain.lock_chain(conn, table)
    last = conn.execute(
        sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    ).first()
    if last is None:
        return None
    known = conn.execute(
        sa.select(checkpoints_t.c.seq).where(
            checkpoints_t.c.log == table.name, checkpoints_t.c.seq == last.seq
        )
    ).first()
    if known is not None:
        return None
    point = Checkpoint(
        log=table.name, seq=last.seq, head=last.hash, at=chain.as_utc(now), key_id=key_id
    ).signed(key)
    conn.execute(sa.insert(checkpoints_t).values(**attrs.asdict(point)))
    return point


def stored(conn: sa.Connection, log: str, *, after: int = 0, limit: int = 1000) -> list[Checkpoint]:
    """The stored checkpoints of ``log`` with seq above ``after``, oldest first."""
    rows = conn.execute(
        sa.select(checkpoints_t)
        .where(checkpoints_t.c.log == log, checkpoints_t.c.seq > after)
        .order_by(checkpoints_t.c.seq)
        .limit(limit)
    ).all()
    return [
        Checkpoint(
            log=r.log, seq=r.seq, head=r.head, at=chain.as_utc(r.at), key_id=r.key_id, mac=r.mac
        )
        for r in rows
    ]


def check(
    conn: sa.Connection,
    table: sa.Table,
    report: chain.ChainReport,
    witnessed: Iterable[Checkpoint],
    keys: Mapping[str, bytes],
) -> chain.ChainReport:
    """``report`` (the chain's own verification) completed with every checkpoint known: the
    stored ones and ``witnessed`` (those an outside witness kept). Returns the first
    problem found, in log order, or the report with ``anchored`` set."""
    points = {(p.seq, p.mac): p for p in stored(conn, table.name, limit=10**9)}
    points.update({(p.seq, p.mac): p for p in witnessed if p.log == table.name})
    last = conn.execute(sa.select(sa.func.max(table.c.seq))).scalar() or 0
    anchored = 0
    for point in sorted(points.values(), key=lambda p: p.seq):
        if report.first_bad is not None and point.seq >= report.first_bad:
            break  # the chain is already broken before this checkpoint
        key = keys.get(point.key_id)
        if key is None:
            return attrs.evolve(
                report,
                first_bad=point.seq,
                reason=f"the checkpoint at record {point.seq} is keyed with {point.key_id!r}, "
                "which this platform does not hold: pass it in checkpoint_keys to verify",
                anchored=anchored,
            )
        if not point.valid_under(key):
            return attrs.evolve(
                report,
                first_bad=point.seq,
                reason=f"the checkpoint at record {point.seq} does not match its MAC: it was "
                "altered or forged",
                anchored=anchored,
            )
        if point.seq > last:
            return attrs.evolve(
                report,
                first_bad=last + 1,
                reason=f"the log ends at record {last}, but a checkpoint of "
                f"{point.at:%Y-%m-%d %H:%M} UTC vouches for {point.seq}: records were deleted",
                anchored=anchored,
            )
        head = conn.execute(sa.select(table.c.hash).where(table.c.seq == point.seq)).scalar()
        if head != point.head:
            return attrs.evolve(
                report,
                first_bad=point.seq,
                reason=f"record {point.seq} is not the one checkpointed at "
                f"{point.at:%Y-%m-%d %H:%M} UTC: the chain up to it was rewritten",
                anchored=anchored,
            )
        anchored = point.seq
    return attrs.evolve(report, anchored=anchored)
