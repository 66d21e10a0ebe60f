"""The staff directory service: who a login is, for identity providers without role claims.

Many government identity providers (a province's unified login, a department's LDAP behind
OIDC) authenticate a member of staff but carry no usable role, agency or hall. The platform's
directory maps the login (provider + subject) to a :class:`StaffRecord`, and at login the
host asks :meth:`StaffService.principal_for` for the principal to open a session with. Changes
to the directory are accountability records: each add and deactivation is written to the
access log (outcome ``changed``) with who did it.
"""

from __future__ import annotations

import attrs
import sqlalchemy as sa

from govsvc.errors import InvalidInput, NotFound
from govsvc.policy import Action, Resource
from govsvc.principals import Authentication, Principal, StaffRecord
from govsvc.services._base import Service
from govsvc.services.views import Page, decode_cursor, encode_cursor
from govsvc.store import access as access_store
from govsvc.store import staff as store
from govsvc.store.tables import staff_t

__all__ = ["StaffService"]


class StaffService(Service):
    """``session.staff``: the staff directory (system administrators and the platform)."""

    def add(self, record: StaffRecord) -> StaffRecord:
        """Add a member of staff, or replace the record with the same ``staff_id`` (a new
        role, hall or expiry). A login already mapped to another active staff id is
        refused: one login is one person."""
        self._authorize(Action.STAFF_MANAGE, Resource.platform())
        if not isinstance(record, StaffRecord):
            raise InvalidInput("give a govsvc.StaffRecord (see docs: identity, staff directory)")
        rt = self._rt
        now = rt.now()
        with rt.write() as conn:
            clash = [
                r
                for r in store.by_login(conn, record.provider, record.subject)
                if r.active and r.staff_id != record.staff_id
            ]
            if clash:
                raise InvalidInput(
                    f"login {record.provider}:{record.subject} is already staff "
                    f"{clash[0].staff_id} ({clash[0].name}); deactivate that record first"
                )
            store.upsert(conn, record, now)
            self._changed(conn, record, "added" if record.active else "stored inactive")
        return record

    def deactivate(self, staff_id: str) -> StaffRecord:
        """Deactivate a member of staff: their login makes no principal from now on (the
        record is kept, for the trails that name them)."""
        self._arg(staff_id, "staff_id", max_length=100)
        self._authorize(Action.STAFF_MANAGE, Resource.platform())
        with self._rt.write() as conn:
            found = store.by_id(conn, staff_id)
            if found is None:
                raise NotFound(f"no staff record {staff_id!r}; list them with session.staff.list()")
            if not found.active:
                return found
            record = attrs.evolve(found, active=False)
            store.upsert(conn, record, self._rt.now())
            self._changed(conn, record, "deactivated")
        return record

    def get(self, staff_id: str) -> StaffRecord:
        """A staff record by its staff id; :class:`NotFound` if there is none."""
        self._arg(staff_id, "staff_id", max_length=100)
        self._authorize(Action.STAFF_READ, Resource.platform())
        with self._rt.read() as conn:
            found = store.by_id(conn, staff_id)
        if found is None:
            raise NotFound(f"no staff record {staff_id!r}; list them with session.staff.list()")
        return found

    def list(
        self,
        *,
        agency: str | None = None,
        active: bool | None = True,
        limit: int = 100,
        after: str | None = None,
    ) -> Page[StaffRecord]:
        """Staff records by staff id (keyset pages), of one ``agency`` if given; active ones
        unless ``active`` says otherwise (None: all)."""
        self._arg(agency, "agency", optional=True, max_length=18)
        self._authorize(Action.STAFF_READ, Resource.platform())
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        where = []
        if agency is not None:
            where.append(staff_t.c.agency == agency)
        if active is not None:
            where.append(staff_t.c.active.is_(active))
        start = decode_cursor(after, 1)[0] if after is not None else None
        with self._rt.read() as conn:
            rows = store.page(conn, where, after=start, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, next=encode_cursor(rows[-1].staff_id) if more and rows else None)

    def principal_for(
        self, provider: str, subject: str, *, auth: Authentication
    ) -> Principal | None:
        """The principal a login is, if the directory lists it as active and not expired
        today (None otherwise: the host then treats the login as a citizen's, or refuses)."""
        self._arg(provider, "provider", max_length=60)
        self._arg(subject, "subject")
        self._authorize(Action.STAFF_READ, Resource.platform())
        if not isinstance(auth, Authentication):
            raise InvalidInput("auth must be the govsvc.Authentication of this login")
        today = self._rt.today()
        with self._rt.read() as conn:
            found = [r for r in store.by_login(conn, provider, subject) if r.valid_on(today)]
        return found[0].principal(auth) if found else None

    def _changed(self, conn: sa.Connection, record: StaffRecord, what: str) -> None:
        access_store.append(
            conn,
            [
                self._session.change_record(
                    Action.STAFF_MANAGE,
                    detail=(
                        f"{what} staff {record.staff_id} ({record.name}) as {record.kind.value}"
                        f"{' of ' + record.agency if record.agency else ''} for login "
                        f"{record.provider}:{record.subject}"
                    ),
                )
            ],
        )

