"""The catalogue service: service items (事项) and their guide versions (办事指南)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence

import attrs
import sqlalchemy as sa

from govsvc._converter import unstructure
from govsvc._frozen import freeze
from govsvc._text import check_texts
from govsvc.catalogue import ItemType, ItemVersion, ServiceItem, publish
from govsvc.errors import InvalidInput, UnknownItem
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.services.views import Page, decode_cursor, encode_cursor
from govsvc.store import catalogue as store
from govsvc.store import search as search_store

__all__ = ["CatalogueFacets", "CatalogueService", "ItemSummary", "SearchMatch"]


class SearchMatch(enum.Enum):
    """How a search hit matched, in ranking order (best first)."""

    EXACT = "exact"  # the item's name is the query
    PREFIX = "prefix"  # the name starts with the query
    NAME = "name"  # the name contains every word of the query
    KEYWORD = "keyword"  # its keywords (type, agency, themes, life stages, 简称) do


_MATCHES = {
    search_store.Tier.EXACT: SearchMatch.EXACT,
    search_store.Tier.PREFIX: SearchMatch.PREFIX,
    search_store.Tier.NAME: SearchMatch.NAME,
    search_store.Tier.KEYWORD: SearchMatch.KEYWORD,
}


@attrs.frozen(kw_only=True)
class ItemSummary:
    """A published service item in a search result or a browsing list (what a list shows;
    the guide itself is ``session.catalogue.version(code)``)."""

    code: str  # the implementation code (实施编码)
    name: str
    agency: str  # the implementing agency's credit code
    agency_name: str
    item_type: ItemType
    themes: tuple[str, ...] = ()
    life_stages: tuple[str, ...] = ()
    match: SearchMatch | None = None  # how it matched a search; None when browsing

    @classmethod
    def of(cls, hit: search_store.Hit) -> ItemSummary:
        return cls(
            code=hit.code,
            name=hit.name,
            agency=hit.agency,
            agency_name=hit.agency_name,
            item_type=ItemType(hit.item_type),
            themes=tuple(hit.themes.split(search_store.TAG_SEPARATOR)) if hit.themes else (),
            life_stages=(
                tuple(hit.life_stages.split(search_store.TAG_SEPARATOR)) if hit.life_stages else ()
            ),
            match=_MATCHES[hit.tier] if hit.tier is not None else None,
        )


@attrs.frozen(kw_only=True)
class CatalogueFacets:
    """What the published catalogue can be browsed by, with how many items each holds:
    departments (credit code → (name, count)), themes and life stages (tag → count)."""

    departments: Mapping[str, tuple[str, int]] = attrs.field(converter=freeze)
    themes: Mapping[str, int] = attrs.field(converter=freeze)
    life_stages: Mapping[str, int] = attrs.field(converter=freeze)


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
                    # the search index, same transaction; its result names are keywords
                    search_store.index_item(conn, item, [r.name for r in version.results])
                    out.append(version)
                    published.append(version)
        for version in published:
            self._rt.versions.put((version.item_code, version.version), version)
        return published

    # --- finding items -----------------------------------------------------------------------

    def search(self, q: str, *, limit: int = 20, after: str | None = None) -> Page[ItemSummary]:
        """Published items matching ``q`` in Chinese full text, best first (keyset pages).

        Exact names first, then names starting with ``q``, then names containing every word
        of it, then items found by their keywords (item type, agency, themes, life stages and
        short forms such as 社保 or 医保). Two-character words (社保, 户口) are answered from a
        bigram index, longer ones from a trigram index; a single character finds names equal
        to or starting with it. Any text is accepted: punctuation, symbols and FTS syntax
        (``"``, ``*``, ``NEAR``, ``OR``) are never interpreted — only runs of letters and
        digits are searched, and at most 16 of them.
        """
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        if not isinstance(q, str):
            raise InvalidInput(f"a search query is text, got {type(q).__name__}")
        size = _limit(limit, 100)
        query = search_store.Query.parse(q)
        position = None
        if after is not None:
            fingerprint, tier, key, last = decode_cursor(after, 4)
            if fingerprint != query.fingerprint or not isinstance(last, int):
                raise InvalidInput(
                    "this cursor belongs to another search; pass the same q as for the page "
                    "whose next it was"
                )
            try:
                position = (search_store.Tier(tier), str(key), last)
            except ValueError:
                raise InvalidInput("the cursor is damaged; start the search again") from None
        with self._rt.read() as conn:
            hits, end = search_store.search(conn, query, limit=size, after=position)
        nxt = encode_cursor(query.fingerprint, int(end[0]), end[1], end[2]) if end else None
        return Page([ItemSummary.of(h) for h in hits], next=nxt)

    def browse(
        self,
        *,
        department: str | None = None,
        theme: str | None = None,
        life_stage: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[ItemSummary]:
        """Published items of a department (its credit code), a theme (主题) and/or a life
        stage (人生阶段: 出生, 上学, 就业, 婚育, 开办企业, 退休 …), by name (keyset pages).
        With no filter, every item by name. :meth:`facets` lists what there is."""
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        tags = []
        for kind, value in (("theme", theme), ("life_stage", life_stage)):
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidInput(f"{kind} is text such as 社会保障 or 出生, got {value!r}")
                tags.append((kind, value.strip()))
        if department is not None and not isinstance(department, str):
            raise InvalidInput(f"department is a credit code, got {department!r}")
        position = None
        if after is not None:
            key, last = decode_cursor(after, 2)
            if not isinstance(key, str) or isinstance(last, bool) or not isinstance(last, int):
                raise InvalidInput(
                    f"page cursor {after!r} is not one this list gave out; start from the "
                    "first page"
                )
            position = (key, last)
        with self._rt.read() as conn:
            hits, end = search_store.browse(
                conn,
                department=department.strip().upper() if department else None,
                tags=tags,
                limit=_limit(limit, 1000),
                after=position,
            )
        nxt = encode_cursor(*end) if end else None
        return Page([ItemSummary.of(h) for h in hits], next=nxt)

    def facets(self) -> CatalogueFacets:
        """The departments, themes and life stages of the published catalogue, with counts
        (for a portal's browsing menus), most items first."""
        self._authorize(Action.CATALOGUE_READ, Resource.platform())
        with self._rt.read() as conn:
            found = search_store.facets(conn)
        return CatalogueFacets(
            departments={code: (name, n) for code, name, n in found["department"]},
            themes={tag: n for tag, _, n in found["theme"]},
            life_stages={tag: n for tag, _, n in found["life_stage"]},
        )


def _limit(limit: int, most: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise InvalidInput(f"limit must be a whole number from 1 to {most}, got {limit!r}")
    return limit
