"""Ratings (好差评): the aggregate as one JSON document, its trail, and the SQL the queue and
the statistics need (filtered and aggregated in SQL, never loaded into memory)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from govsvc import _converter
from govsvc.errors import ConcurrentUpdate
from govsvc.principals import Actor, PrincipalKind
from govsvc.ratings import (
    RATING_PAYLOADS,
    Rating,
    RatingEvent,
    RatingEventKind,
    RatingRefused,
    RatingStep,
    RectificationRules,
    UnknownRatingPayload,
)
from govsvc.store import documents
from govsvc.store.tables import outbox_t, rating_events_t, ratings_t, rectification_rules_t

__all__ = [
    "already_rated",
    "events_of",
    "find",
    "load",
    "load_rules",
    "page",
    "save_rule",
    "save_step",
    "statistics",
]



def values_of(rating: Rating) -> dict[str, Any]:
    """The column values of a rating (the document plus what queries filter on)."""
    r = rating.rectification
    return {
        "id": rating.id,
        "matter": rating.matter,
        "basis": rating.basis.value,
        "case_id": rating.case_id,
        "occasion": rating.occasion,
        "item_code": rating.item_code,
        "agency": rating.agency,
        "department": rating.department,
        "division": rating.division,
        "party_type": rating.party.doc_type.value if rating.party else None,
        "party_number": rating.party.number if rating.party else None,
        "rater_type": rating.rater.doc_type.value if rating.rater else None,
        "rater_number": rating.rater.number if rating.rater else None,
        "level": rating.level.name,
        "current_level": rating.current_level.name,
        "bad": rating.is_bad,
        "channel": rating.channel.value,
        "rated_at": rating.rated_at,
        "rated_on": rating.rated_on,
        "rated_month": rating.rated_on.strftime("%Y-%m"),
        "rect_status": r.status.value if r else None,
        "rect_due": r.due if r else None,
        "answered_at": r.answered_at if r else None,
        "answered_on_time": r.on_time if r else None,
        "excluded": rating.excluded.value if rating.excluded else None,
        "version": rating.version,
        "data": documents.dump("rating", rating),
    }


def rating_of(data: Any) -> Rating:
    return documents.load("rating", data, Rating)


def save_step(conn: sa.Connection, step: RatingStep, *, now: dt.datetime) -> None:
    """Write the rating, its event and its outbox messages (inside the command's transaction).

    A new rating of a matter already rated is :class:`RatingRefused`; a change to a rating
    someone else changed first is :class:`ConcurrentUpdate`.
    """
    rating, event = step.rating, step.event
    values = values_of(rating)
    if rating.version == 1:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(ratings_t).values(**values))
        except sa.exc.IntegrityError:
            raise already_rated(conn, rating) from None
    else:
        updated = conn.execute(
            sa.update(ratings_t)
            .where(ratings_t.c.id == rating.id, ratings_t.c.version == rating.version - 1)
            .values(**{k: v for k, v in values.items() if k != "id"})
        ).rowcount
        if updated != 1:
            raise ConcurrentUpdate(
                f"rating {rating.id} changed since it was loaded; reload it and try again"
            )
    actor = event.actor
    conn.execute(
        sa.insert(rating_events_t).values(
            rating_id=event.rating_id,
            seq=event.seq,
            kind=event.kind.value,
            at=event.at,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_name=actor.name,
            actor_agency=actor.agency,
            data=documents.dump("rating_event", event.payload),
        )
    )
    if step.outbox:
        conn.execute(
            sa.insert(outbox_t),
            [
                {
                    "id": m.id,
                    # The outbox is keyed by case; a window rating without one uses its own id.
                    "case_id": rating.case_id or rating.id,
                    "topic": m.topic,
                    "payload": _converter.unstructure(m.payload),
                    "created_at": now,
                    "available_at": now,
                    "attempts": 0,
                    "delivered_at": None,
                    "last_error": None,
                }
                for m in step.outbox
            ],
        )


def already_rated(conn: sa.Connection, rating: Rating) -> RatingRefused:
    """The refusal of a second rating of one matter, saying when it was rated."""
    found = find(conn, matter=rating.matter)
    when = f" on {found.rated_on} ({found.level.value})" if found else ""
    what = (
        f"case {rating.tracking_code}"
        if rating.case_id
        else f"occasion {rating.occasion} of agency {rating.agency}"
    )
    return RatingRefused(
        f"{what} was rated already{when}: a matter is rated once (一事一评, 一次一评); "
        "after a bad rating is answered the rater may rate again with rerate()",
        state="rated",
        command="rate",
    )


def load(conn: sa.Connection, rating_id: str) -> Rating | None:
    data = conn.execute(
        sa.select(ratings_t.c.data).where(ratings_t.c.id == rating_id)
    ).scalar_one_or_none()
    return None if data is None else rating_of(data)


def find(conn: sa.Connection, *, matter: str) -> Rating | None:
    data = conn.execute(
        sa.select(ratings_t.c.data).where(ratings_t.c.matter == matter)
    ).scalar_one_or_none()
    return None if data is None else rating_of(data)


def page(
    conn: sa.Connection, where: Sequence[Any], *, order: Sequence[Any], limit: int
) -> list[Rating]:
    stmt = sa.select(ratings_t.c.data).where(*where).order_by(*order).limit(limit)
    return [rating_of(d) for d in conn.execute(stmt).scalars()]


def events_of(conn: sa.Connection, rating_id: str) -> list[RatingEvent]:
    rows = conn.execute(
        sa.select(rating_events_t)
        .where(rating_events_t.c.rating_id == rating_id)
        .order_by(rating_events_t.c.seq)
    )
    return [_event(row) for row in rows]


def _event(row: Any) -> RatingEvent:
    try:
        kind = RatingEventKind(row.kind)
    except ValueError:
        kind = RatingEventKind.UNKNOWN
    if kind is RatingEventKind.UNKNOWN:
        payload: Any = UnknownRatingPayload(
            kind=row.kind, data=documents.upcast("rating_event", row.data)
        )
    else:
        payload = documents.load("rating_event", row.data, RATING_PAYLOADS[kind])
    try:
        actor_kind = PrincipalKind(row.actor_kind)
    except ValueError:
        actor_kind = PrincipalKind.UNKNOWN
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
    return RatingEvent(
        rating_id=row.rating_id,
        seq=row.seq,
        kind=kind,
        at=at,
        actor=Actor(kind=actor_kind, id=row.actor_id, name=row.actor_name, agency=row.actor_agency),
        payload=payload,
    )


# --- rectification deadlines ----------------------------------------------------------------


def load_rules(conn: sa.Connection) -> RectificationRules:
    """The stored rectification deadlines (the national default where none is stored)."""
    rows = conn.execute(sa.select(rectification_rules_t.c.region, rectification_rules_t.c.workdays))
    rules = RectificationRules()
    for region, workdays in rows:
        rules = rules.with_region(region or None, workdays)
    return rules


def save_rule(
    conn: sa.Connection, region: str | None, workdays: int, *, now: dt.datetime, by: str
) -> None:
    key = region or ""
    conn.execute(sa.delete(rectification_rules_t).where(rectification_rules_t.c.region == key))
    conn.execute(
        sa.insert(rectification_rules_t).values(
            region=key, workdays=workdays, updated_at=now, updated_by=by[:100]
        )
    )


# --- statistics -----------------------------------------------------------------------------

GROUPS = {
    "department": ratings_t.c.department,
    "agency": ratings_t.c.agency,
    "item": ratings_t.c.item_code,
    "month": ratings_t.c.rated_month,
}


def statistics(
    conn: sa.Connection, *, by: str, where: Sequence[Any], today: dt.date
) -> list[tuple[Any, ...]]:
    """Rows ``(group, current level, counted, bad, rectified, on time, pending, overdue,
    excluded)`` aggregated in SQL; excluded ratings (upheld appeals) count only as excluded."""
    t = ratings_t.c
    kept = t.excluded.is_(None)
    pending = t.rect_status.in_(["open", "appealed"])

    def count(*conditions: Any) -> Any:
        return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

    group = GROUPS[by]
    stmt = (
        sa.select(
            group,
            t.current_level,
            count(kept),
            count(kept, t.bad.is_(True)),
            count(kept, t.rect_status == "answered"),
            count(kept, t.answered_on_time.is_(True)),
            count(kept, pending),
            count(kept, pending, t.rect_due < today),
            count(t.excluded.is_not(None)),
        )
        .where(*where)
        .group_by(group, t.current_level)
    )
    return [tuple(row) for row in conn.execute(stmt)]
