"""The catalogue service: service items (事项) and their guide versions (办事指南)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from govsvc._converter import unstructure
from govsvc._text import check_texts
from govsvc.catalogue import ItemVersion, ServiceItem, publish
from govsvc.errors import UnknownItem
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.store import catalogue as store

__all__ = ["CatalogueService"]


class CatalogueService(Service):
    """Reading is public; publishing is for the item's agency's catalogue administrators."""

    def items(self, *, agency: str | None = None) -> list[ServiceItem]:
        """Every published service item (of one agency, if given), by name."""
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        with self._rt.read() as conn:
            return store.load_items(conn, agency=agency)

    def item(self, code: str) -> ServiceItem:
        """The service item with this implementation code (实施编码)."""
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        with self._rt.read() as conn:
            found = store.load_item(conn, code)
        if found is None:
            raise UnknownItem(
                f"no service item with implementation code {code!r}; list them with "
                "session.catalogue.items() or publish it first"
            )
        return found

    def version(self, code: str, number: int | None = None) -> ItemVersion:
        """A published version of an item's guide; the newest when ``number`` is None."""
        self._arg(code, "item code (实施编码)", max_length=36)
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        with self._rt.read() as conn:
            if number is None:
                if store.latest_number(conn, code) is None and store.load_item(conn, code):
                    raise UnknownItem(f"service item {code} has no published version yet")
                return self._rt.latest_in(conn, code)
            return self._rt.version_in(conn, code, number)

    def versions(self, code: str) -> list[ItemVersion]:
        """Every published version of an item, oldest first (what an export carries)."""
        self._arg(code, "item code (实施编码)", max_length=36)
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        with self._rt.read() as conn:
            numbers = store.version_numbers(conn, code)
            versions = [self._rt.version_in(conn, code, n) for n in numbers]
        if not versions:
            self.item(code)  # UnknownItem with the listing hint
        return versions

    def publish(self, item: ServiceItem, version: ItemVersion) -> ItemVersion:
        """Publish a new version of a service item (事项).

        The version is checked against the consistency rules and numbered after the ones
        already published; :class:`CatalogueRejected` lists every violation. Published
        versions never change: cases pin the version they started on.
        """
        return self.import_items([(item, [version])], only_new=False)[0]

    def import_items(
        self,
        entries: Iterable[tuple[ServiceItem, Sequence[ItemVersion]]],
        *,
        only_new: bool = True,
    ) -> list[ItemVersion]:
        """Publish the versions of each item newer than its newest published one, atomically.

        Safe to repeat (an import file, a plugin's items): versions already out are skipped,
        new ones are checked and published in order, all in one transaction — a bad version
        anywhere publishes nothing. Returns the versions published.
        """
        batch = [(item, list(versions)) for item, versions in entries]
        for item, versions in batch:
            # Guides built in code (not read from a file) are checked for text the database
            # cannot store here, naming the place, before anything is written.
            check_texts(unstructure(item), f"item {item.implementation_code}")
            for version in versions:
                check_texts(unstructure(version), f"{version.item_code} v{version.version}")
            self._authorize(
                Action.CATALOGUE_PUBLISH,
                Resource.item(item.agency.credit_code, item_code=item.implementation_code),
            )
        now = self._rt.now()
        published: list[ItemVersion] = []
        with self._rt.write() as conn:
            if conn.dialect.name == "postgresql":
                # Processes starting together publish the same plugin items: one at a time,
                # so the second sees the first's versions instead of colliding on them.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(71123003)"))
            for item, versions in batch:
                code = item.implementation_code
                out = [
                    self._rt.version_in(conn, code, n) for n in store.version_numbers(conn, code)
                ]
                known = max((v.version for v in out), default=0)
                for version in versions:
                    if only_new and version.version <= known:
                        continue
                    publish(item, version, published=out)  # CatalogueRejected lists problems
                    store.upsert_item(conn, item)
                    store.insert_version(conn, version, now)
                    out.append(version)
                    published.append(version)
        for version in published:
            self._rt.versions.put((version.item_code, version.version), version)
        return published
