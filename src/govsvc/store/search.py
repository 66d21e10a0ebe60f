"""Chinese full-text search over the published catalogue, and browsing by department and tag.

What is indexed: each published item's name and its *keywords* — the item type's label, the
agency's name, the item's themes (主题) and life stages (人生阶段), and the everyday short
forms of formal words in the name (社会保障 → 社保, 医疗保险 → 医保: :data:`SHORT_FORMS`).
Both are normalised the same way as queries (:func:`normalise`: NFKC, case folded, controls
dropped), stored in ``catalogue_search`` by the publishing transaction (:func:`index_item`).

The indexes (created by migration 0005, kept beside SQLAlchemy's metadata because neither
FTS5 virtual tables nor operator-class indexes can be declared there, see
:data:`UNMODELLED`):

* **SQLite**: FTS5 with the ``trigram`` tokenizer over names (``catalogue_name3``) and keywords
  (``catalogue_keywords3``), external-content tables reading ``catalogue_search`` — they
  answer terms of 3 characters or more as phrases of trigrams. A trigram index cannot answer a
  2-character term (社保, 户口, 医保) without a full scan, so two more FTS5 tables hold the
  character **bigrams** of each word as tokens (``catalogue_name2``, ``catalogue_keywords2``;
  contentless, ``detail=none``: a bigram is looked up as one token).
* **PostgreSQL**: pg_trgm GIN indexes over ``name_key`` and ``keywords`` for ``LIKE '%term%'``
  with 3 or more characters, and GIN indexes over the bigram arrays ``name_grams`` and
  ``keyword_grams`` for 2 characters (``@> ARRAY['社保']``). The database's ``LC_CTYPE`` must
  class Chinese characters as letters (``C.UTF-8``, ``zh_CN.UTF-8``; not plain ``C``), or
  pg_trgm extracts no trigrams from Chinese text.

Ranking: exact name matches, then names starting with the query, then names containing every
word, then items whose keywords do (:class:`Tier`). The first two read the ``name_key``
B-tree; the other two stream the FTS5 matches in row order and stop at the page size, so a
page costs about the same for a term matching ten items or a million. A one-character query
finds names equal to it or starting with it (a single character is in too many names to mean
anything else). User text never reaches FTS5 as query syntax: it is cut into words of letters
and digits, and each word is quoted as a phrase.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs
import sqlalchemy as sa

from govsvc.catalogue import ItemVersion, ServiceItem
from govsvc.store import documents
from govsvc.store.fast import FastStatement
from govsvc.store.tables import items_t, search_t, tags_t, versions_t

__all__ = [
    "MAX_TERMS",
    "SHORT_FORMS",
    "TAG_SEPARATOR",
    "UNMODELLED",
    "Hit",
    "Query",
    "Tier",
    "bigrams",
    "browse",
    "create_indexes",
    "drop_indexes",
    "entry_values",
    "facets",
    "index_item",
    "is_unmodelled",
    "keywords_for",
    "keywords_of",
    "normalise",
    "rebuild",
    "search",
]

TAG_SEPARATOR = ";"  # between the tags of an item in a row (a tag never holds one)
MAX_TERMS = 16  # words of a query that count; more are dropped (a pasted paragraph)
MAX_PHRASE = 64  # characters of a word sent to the index; the whole word is checked after
MAX_KEY = 200  # a normalised query longer than this cannot equal or start a name

# FTS5 tables (SQLite) and GIN indexes (PostgreSQL) that migration 0005 creates and SQLAlchemy's
# metadata cannot describe; a schema comparison (alembic autogenerate) skips them.
FTS_TABLES = ("catalogue_name3", "catalogue_keywords3", "catalogue_name2", "catalogue_keywords2")
_FTS_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
PG_INDEXES = (
    "ix_catalogue_search_name_trgm",
    "ix_catalogue_search_keywords_trgm",
    "ix_catalogue_search_name_grams",
    "ix_catalogue_search_keyword_grams",
)
UNMODELLED: frozenset[str] = frozenset(
    [*FTS_TABLES, *(t + s for t in FTS_TABLES for s in _FTS_SHADOWS), *PG_INDEXES]
)
"""Names of the search index objects outside SQLAlchemy's metadata."""

SHORT_FORMS: Mapping[str, tuple[str, ...]] = {
    "社会保险": ("社保",),
    "社会保障": ("社保",),
    "医疗保险": ("医保",),
    "医疗保障": ("医保",),
    "户籍": ("户口",),
    "住房公积金": ("公积金",),
    "机动车驾驶证": ("驾照",),
    "营业执照": ("执照",),
    "出生医学证明": ("出生证",),
    "居民身份证": ("身份证",),
    "不动产": ("房产",),
    "养老保险": ("养老",),
    "失业保险": ("失业金",),
    "港澳通行证": ("港澳通行证",),
    "义务教育": ("入学",),
}
"""Everyday short forms (简称) people type for formal words of item names: an item whose name
contains the formal word is found by the short form too (as a keyword)."""


_FORMAL = re.compile("|".join(map(re.escape, SHORT_FORMS)))


def is_unmodelled(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """For alembic's ``include_name``: False for the search index objects of :data:`UNMODELLED`
    (so a comparison of the schema with the models leaves them out)."""
    return name not in UNMODELLED


# --------------------------------------------------------------------------------------------
# Text


_WORD = re.compile(r"[^\W_]+")


# Full-width ASCII forms (Ａ, １, （, ！) and the ideographic space are what NFKC changes in
# most Chinese text; mapping them first lets the common case skip NFKC altogether.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def normalise(text: str) -> str:
    """Text as the index compares it: NFKC (full-width forms become ASCII, （ becomes ( ),
    case folded, control, format and unassigned characters and runs of white space made one
    space, trimmed."""
    if not unicodedata.is_normalized("NFKC", text):
        text = text.translate(_FULL_WIDTH)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    folded = text.casefold()
    if not folded.isprintable():  # the slow path only for text with such characters
        folded = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in folded)
    return " ".join(folded.split())


def words(text: str) -> list[str]:
    """The runs of letters and digits of normalised text, each once, in order."""
    return list(dict.fromkeys(_WORD.findall(text)))


def bigrams(text: str) -> list[str]:
    """Every two-character piece of every word of ``text``, each once, in order."""
    out: dict[str, None] = {}
    for word in _WORD.findall(text):
        for i in range(len(word) - 1):
            out[word[i : i + 2]] = None
    return list(out)


@functools.lru_cache(maxsize=4096)
def _bigrams_text(text: str) -> str:
    # Keywords repeat (an agency's name on all its items): worth remembering.
    return " ".join(bigrams(text))


def keywords_of(item: ServiceItem, results: Sequence[str] = ()) -> str:
    """The keywords an item is found by besides its name, normalised, one space between.

    ``results`` are the names of what its newest version hands out (办理结果, e.g.
    食品经营许可证 for 食品经营许可（新办）): people search for the licence they want, not
    for the procedure's name."""
    return keywords_for(
        normalise(item.name),
        item_type=item.item_type.label,
        agency_name=item.agency.name,
        tags=(*item.themes, *item.life_stages, *results),
    )


def keywords_for(
    name_key: str, *, item_type: str, agency_name: str, tags: Sequence[str] = ()
) -> str:
    """:func:`keywords_of` from the parts: the type's label, the agency's name, the tags, and
    the short forms of formal words in the normalised name."""
    shorts = (
        [short for word, forms in SHORT_FORMS.items() if word in name_key for short in forms]
        if _FORMAL.search(name_key)
        else []
    )
    return " ".join(
        dict.fromkeys(
            w for w in (_fixed(item_type, agency_name), *map(normalise, tags), *shorts) if w
        )
    )


@functools.lru_cache(maxsize=4096)
def _fixed(item_type: str, agency_name: str) -> str:
    # The same agency and type on thousands of items: normalised once.
    return " ".join(w for w in (normalise(item_type), normalise(agency_name)) if w)


def entry_values(item: ServiceItem, results: Sequence[str] = ()) -> dict[str, Any]:
    """The ``catalogue_search`` row of an item (without ``id``)."""
    name_key = normalise(item.name)
    keywords = keywords_of(item, results)
    return {
        "code": item.implementation_code,
        "name": item.name,
        "name_key": name_key,
        "keywords": keywords,
        "agency": item.agency.credit_code,
        "agency_name": item.agency.name,
        "item_type": item.item_type.value,
        "themes": TAG_SEPARATOR.join(item.themes),
        "life_stages": TAG_SEPARATOR.join(item.life_stages),
        "name_grams": bigrams(name_key),
        "keyword_grams": bigrams(keywords),
    }


# --------------------------------------------------------------------------------------------
# Maintaining the index (in the publishing transaction)

_COMPARED = (
    "name",
    "name_key",
    "keywords",
    "agency",
    "agency_name",
    "item_type",
    "themes",
    "life_stages",
)


def index_item(conn: sa.Connection, item: ServiceItem, results: Sequence[str] = ()) -> None:
    """Add or refresh one item in the search index (nothing happens if nothing changed);
    ``results``: the result names of its newest version (see :func:`keywords_of`)."""
    values = entry_values(item, results)
    sqlite = conn.dialect.name == "sqlite"
    # SQLite keeps the bigrams in FTS5 tables, not in the row.
    stored = {**values, "name_grams": None, "keyword_grams": None} if sqlite else dict(values)
    old = (
        conn.execute(sa.select(search_t).where(search_t.c.code == values["code"]))
        .mappings()
        .first()
    )
    if old is not None and all(old[k] == stored[k] for k in _COMPARED):
        return
    if old is None:
        key = conn.execute(sa.insert(search_t).values(**stored)).inserted_primary_key
        assert key is not None
        item_id = key[0]
    else:
        item_id = old["id"]
        if sqlite:
            _fts_delete(conn, item_id, old["name_key"], old["keywords"])
        conn.execute(sa.update(search_t).where(search_t.c.id == item_id).values(**stored))
        conn.execute(sa.delete(tags_t).where(tags_t.c.item_id == item_id))
    if sqlite:
        _fts_insert(conn, item_id, values["name_key"], values["keywords"])
    tags = [("theme", t) for t in item.themes] + [("life_stage", t) for t in item.life_stages]
    if tags:
        conn.execute(
            sa.insert(tags_t),
            [
                {"kind": kind, "tag": tag, "name_key": values["name_key"], "item_id": item_id}
                for kind, tag in tags
            ],
        )


def _fts_insert(conn: sa.Connection, item_id: int, name_key: str, keywords: str) -> None:
    raw = conn.exec_driver_sql
    raw("INSERT INTO catalogue_name3 (rowid, name_key) VALUES (?, ?)", (item_id, name_key))
    raw("INSERT INTO catalogue_keywords3 (rowid, keywords) VALUES (?, ?)", (item_id, keywords))
    raw(
        "INSERT INTO catalogue_name2 (rowid, grams) VALUES (?, ?)",
        (item_id, _bigrams_text(name_key)),
    )
    raw(
        "INSERT INTO catalogue_keywords2 (rowid, grams) VALUES (?, ?)",
        (item_id, _bigrams_text(keywords)),
    )


def _fts_delete(conn: sa.Connection, item_id: int, name_key: str, keywords: str) -> None:
    # FTS5 removes an entry given the values it indexed: the stored row's, before the update
    # (the bigram tables are contentless; their values are derived from the same text).
    raw = conn.exec_driver_sql
    for table, column, value in (
        ("catalogue_name3", "name_key", name_key),
        ("catalogue_keywords3", "keywords", keywords),
        ("catalogue_name2", "grams", _bigrams_text(name_key)),
        ("catalogue_keywords2", "grams", _bigrams_text(keywords)),
    ):
        raw(
            f"INSERT INTO {table} ({table}, rowid, {column}) VALUES ('delete', ?, ?)",
            (item_id, value),
        )


def rebuild(conn: sa.Connection, *, result_names: bool = True) -> int:
    """Index every published item again from ``service_items``; returns how many.

    For a migration that changes how text is normalised or tokenised (the contentless bigram
    tables can only be emptied and refilled), and to repair an index by hand. Each item's
    keywords include its newest version's result names unless ``result_names`` is false
    (the index as revisions before 0008 made it).
    """
    if conn.dialect.name == "sqlite":
        for table in FTS_TABLES:
            conn.exec_driver_sql(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
    conn.execute(sa.delete(tags_t))
    conn.execute(sa.delete(search_t))
    count = 0
    newest = (
        sa.select(versions_t.c.item_code, sa.func.max(versions_t.c.version).label("n"))
        .group_by(versions_t.c.item_code)
        .subquery()
    )
    rows = conn.execute(
        sa.select(items_t.c.data, versions_t.c.data)
        .select_from(items_t)
        .outerjoin(newest, newest.c.item_code == items_t.c.implementation_code)
        .outerjoin(
            versions_t,
            sa.and_(
                versions_t.c.item_code == newest.c.item_code, versions_t.c.version == newest.c.n
            ),
        )
    )
    for item_data, version_data in rows:
        results: list[str] = []
        if version_data is not None and result_names:
            version = documents.load("item_version", version_data, ItemVersion)
            results = [r.name for r in version.results]
        index_item(conn, documents.load("item", item_data, ServiceItem), results)
        count += 1
    return count


def create_indexes(conn: sa.Connection) -> None:
    """Create the index objects of :data:`UNMODELLED` for the connection's database."""
    if conn.dialect.name == "sqlite":
        trigram = "tokenize='trigram case_sensitive 1'"
        external = "content='catalogue_search', content_rowid='id'"
        bigram = "content='', detail='none', tokenize='unicode61 remove_diacritics 0'"
        for statement in (
            f"CREATE VIRTUAL TABLE catalogue_name3 USING fts5(name_key, {external}, {trigram})",
            f"CREATE VIRTUAL TABLE catalogue_keywords3 USING fts5(keywords, {external}, {trigram})",
            f"CREATE VIRTUAL TABLE catalogue_name2 USING fts5(grams, {bigram})",
            f"CREATE VIRTUAL TABLE catalogue_keywords2 USING fts5(grams, {bigram})",
        ):
            conn.exec_driver_sql(statement)
        return
    # The operator class lives where pg_trgm was installed, which need not be on the
    # search path of a platform opened with schema=….
    where = conn.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).scalar()
    if where is None:
        raise RuntimeError(
            "the catalogue search needs PostgreSQL's pg_trgm extension: run "
            "CREATE EXTENSION pg_trgm as a user allowed to, then migrate again"
        )
    ops = '"' + str(where).replace('"', '""') + '".gin_trgm_ops'
    for statement in (
        f"CREATE INDEX ix_catalogue_search_name_trgm ON catalogue_search "
        f"USING gin (name_key {ops})",
        f"CREATE INDEX ix_catalogue_search_keywords_trgm ON catalogue_search "
        f"USING gin (keywords {ops})",
        "CREATE INDEX ix_catalogue_search_name_grams ON catalogue_search USING gin (name_grams)",
        "CREATE INDEX ix_catalogue_search_keyword_grams ON catalogue_search "
        "USING gin (keyword_grams)",
    ):
        conn.exec_driver_sql(statement)


def drop_indexes(conn: sa.Connection) -> None:
    """Drop the index objects of :data:`UNMODELLED` (the migration's downgrade)."""
    if conn.dialect.name == "sqlite":
        for table in FTS_TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        return
    for index in PG_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")


# --------------------------------------------------------------------------------------------
# Queries


class Tier(enum.IntEnum):
    """How an item matched a query, best first: the order of search results."""

    EXACT = 1  # the name is the query
    PREFIX = 2  # the name starts with the query
    NAME = 3  # the name contains every word
    KEYWORD = 4  # the name and keywords together contain every word


@attrs.frozen
class Query:
    """A search query, normalised and cut into words (nothing of it is FTS5 syntax)."""

    text: str  # normalised, for the exact and prefix tiers
    terms: tuple[str, ...]  # its words of letters and digits, at most MAX_TERMS

    @classmethod
    def parse(cls, raw: str) -> Query:
        text = normalise(raw)
        return cls(text=text, terms=tuple(words(text)[:MAX_TERMS]))

    @property
    def empty(self) -> bool:
        """True when nothing searchable is left (only punctuation, symbols or space)."""
        return not self.terms

    @property
    def driver(self) -> str | None:
        """The word the full-text index looks up (the longest; None below 2 characters)."""
        longest = max(self.terms, key=len, default="")
        return longest if len(longest) >= 2 else None

    @property
    def fingerprint(self) -> str:
        """A short digest of the query, so a cursor is not used with another query."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


class Hit(NamedTuple):
    """One row of a result page: the stored entry and how it matched."""

    id: int
    code: str
    name: str
    name_key: str
    agency: str
    agency_name: str
    item_type: str
    themes: str  # separated by TAG_SEPARATOR
    life_stages: str
    tier: Tier | None = None


_HIT_COLUMNS = (
    search_t.c.id,
    search_t.c.code,
    search_t.c.name,
    search_t.c.name_key,
    search_t.c.agency,
    search_t.c.agency_name,
    search_t.c.item_type,
    search_t.c.themes,
    search_t.c.life_stages,
)


class _Select(FastStatement):
    """A search SELECT compiled once per dialect (the hot path of a portal's search box:
    SQLAlchemy's per-execution work costs more than the FTS5 lookup itself)."""

    def rows(self, conn: sa.Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.all(conn, values)


_STATEMENTS: dict[tuple[Any, ...], _Select] = {}


def _statement(shape: tuple[Any, ...], build: Callable[[], Any]) -> _Select:
    # One compiled statement per shape (tier, table, number and kind of words).
    found = _STATEMENTS.get(shape)
    if found is None:
        found = _STATEMENTS[shape] = _Select(build())
    return found


def _run(
    conn: sa.Connection, statement: _Select, values: Mapping[str, Any], tier: Tier | None
) -> list[Hit]:
    return [Hit._make((*row[:9], tier)) for row in statement.rows(conn, values)]


Position = tuple[Tier, str, int]  # (tier, name key or "", id): where the last page ended


def search(
    conn: sa.Connection, query: Query, *, limit: int, after: Position | None = None
) -> tuple[list[Hit], Position | None]:
    """One page of hits, best tier first, and where the next page starts (None: the end)."""
    if query.empty:
        return [], None
    want = limit + 1  # one more tells whether another page exists
    hits: list[Hit] = []
    start = after[0] if after else Tier.EXACT
    for tier in Tier:
        if tier < start:
            continue
        key, last = (after[1], after[2]) if after and tier == start else ("", 0)
        hits += _tier(conn, query, tier, key, last, want - len(hits))
        if len(hits) >= want:
            break
    page = hits[:limit]
    if len(hits) <= limit or not page:
        return page, None
    end = page[-1]
    assert end.tier is not None
    return page, (end.tier, end.name_key if end.tier is Tier.PREFIX else "", end.id)


_HI = "\U0010ffff"  # after every character: text + _HI bounds the names starting with text
_C = search_t.c
# Constants written into the SQL (a compiled statement's parameters are only the named ones).
_ZERO = sa.literal_column("0", sa.Integer())
_SPACE = sa.literal_column("' '", sa.Text())


def _tier(conn: sa.Connection, query: Query, tier: Tier, key: str, last: int, n: int) -> list[Hit]:
    text = query.text
    values: dict[str, Any] = {"q": text, "qhi": text + _HI, "last": last, "n": n, "skip": 0}
    if tier is Tier.EXACT:
        if len(text) > MAX_KEY:
            return []
        statement = _statement(("exact",), _exact)
    elif tier is Tier.PREFIX:
        if len(text) > MAX_KEY:
            return []
        values["key"] = key or text
        statement = _statement(("prefix",), _prefix)
    elif query.driver is None:
        return []  # one-character words: names equal to or starting with them only
    elif conn.dialect.name == "sqlite":
        return _sqlite_tier(conn, query, tier, values)
    else:
        classes = tuple(min(len(t), 3) for t in query.terms)
        for i, term in enumerate(query.terms):
            values[f"t{i}"] = _pg_value(term)
        later = last > 0  # a first page has no id bound: it would only blur the estimates
        statement = _statement(
            ("pg", tier, classes, later), lambda: _pg_tier(tier, classes, later=later)
        )
    return _run(conn, statement, values, tier)


def _exact() -> Any:
    return (
        sa.select(*_HIT_COLUMNS)
        .where(_C.name_key == sa.bindparam("q"), _C.id > sa.bindparam("last"))
        .order_by(_C.id)
        .limit(sa.bindparam("n", type_=sa.Integer()))
        .offset(sa.bindparam("skip", type_=sa.Integer()))
    )


def _prefix() -> Any:
    # Names starting with the text and longer than it: one range of the B-tree, in order.
    key = sa.bindparam("key", type_=sa.Text())
    return (
        sa.select(*_HIT_COLUMNS)
        .where(
            _C.name_key > sa.bindparam("q"),
            _C.name_key < sa.bindparam("qhi"),
            sa.or_(_C.name_key > key, sa.and_(_C.name_key == key, _C.id > sa.bindparam("last"))),
        )
        .order_by(_C.name_key, _C.id)
        .limit(sa.bindparam("n", type_=sa.Integer()))
        .offset(sa.bindparam("skip", type_=sa.Integer()))
    )


def _not_prefix() -> Any:
    return sa.or_(_C.name_key < sa.bindparam("q"), _C.name_key >= sa.bindparam("qhi"))


def _phrase(term: str) -> str:
    # A quoted FTS5 phrase: words hold only letters and digits, the quote doubling is belt
    # and braces. Long words are looked up by their start and checked whole on the row.
    return '"' + term[:MAX_PHRASE].replace('"', '""') + '"'


def _sqlite_tier(
    conn: sa.Connection, query: Query, tier: Tier, values: dict[str, Any]
) -> list[Hit]:
    driver = query.driver
    assert driver is not None
    size = 3 if len(driver) >= 3 else 2
    count = len(query.terms)
    for i, term in enumerate(query.terms):
        values[f"t{i}"] = term
    if tier is Tier.NAME:
        # Every word in the name: the index intersects the words of the driver's size, the
        # row check covers the rest; names starting with the query were the prefix tier.
        same = [t for t in query.terms if min(len(t), 3) == size]
        sources = [(f"catalogue_name{size}", " AND ".join(_phrase(t) for t in same))]
    else:
        # The driving word is in the keywords; with several words it may be in the name
        # while another one is in the keywords only.
        sources = [(f"catalogue_keywords{size}", _phrase(driver))]
        if count > 1:
            sources.append((f"catalogue_name{size}", _phrase(driver)))
    found: dict[int, Hit] = {}
    for table, match in sources:
        statement = _statement(
            ("sqlite", tier, table, count),
            lambda table=table: _sqlite_select(tier, table, count),  # type: ignore[misc]
        )
        for hit in _run(conn, statement, {**values, "match": match}, tier):
            found.setdefault(hit.id, hit)
    return [found[i] for i in sorted(found)][: values["n"]]


def _sqlite_select(tier: Tier, table: str, count: int) -> Any:
    terms = [sa.bindparam(f"t{i}", type_=sa.Text()) for i in range(count)]
    name_has = [sa.func.instr(_C.name_key, t) > _ZERO for t in terms]
    if tier is Tier.NAME:
        checks = [*name_has, _not_prefix()]
    else:
        both = _C.name_key + _SPACE + _C.keywords
        checks = [*(sa.func.instr(both, t) > _ZERO for t in terms), sa.not_(sa.and_(*name_has))]
    fts = sa.table(table, sa.column("rowid"))
    return (
        sa.select(*_HIT_COLUMNS)
        .select_from(fts.join(search_t, _C.id == fts.c.rowid))
        .where(sa.text(f"{table} MATCH :match"), fts.c.rowid > sa.bindparam("last"), *checks)
        .order_by(fts.c.rowid)
        .limit(sa.bindparam("n", type_=sa.Integer()))
        .offset(sa.bindparam("skip", type_=sa.Integer()))
    )


def _pg_value(term: str) -> Any:
    if len(term) >= 3:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"
    if len(term) == 2:
        return [term]
    return term


def _pg_has(i: int, size: int, text: Any, grams: Any) -> Any:
    term = sa.bindparam(f"t{i}", type_=_GRAM_ARRAY if size == 2 else sa.Text())
    if size == 3:
        return text.like(term, escape="\\")
    if size == 2:
        return sa.type_coerce(grams, _GRAM_ARRAY).contains(term)
    return sa.func.strpos(text, term) > _ZERO


def _pg_tier(tier: Tier, classes: tuple[int, ...], *, later: bool) -> Any:
    in_name = [_pg_has(i, size, _C.name_key, _C.name_grams) for i, size in enumerate(classes)]
    if tier is Tier.NAME:
        where = [*in_name, _not_prefix()]
    else:
        where = [
            *(
                sa.or_(
                    _pg_has(i, size, _C.name_key, _C.name_grams),
                    _pg_has(i, size, _C.keywords, _C.keyword_grams),
                )
                for i, size in enumerate(classes)
            ),
            sa.not_(sa.and_(*in_name)),
        ]
    if later:
        where.append(_C.id > sa.bindparam("last"))
    return (
        sa.select(*_HIT_COLUMNS)
        .where(*where)
        .order_by(_C.id)
        .limit(sa.bindparam("n", type_=sa.Integer()))
        .offset(sa.bindparam("skip", type_=sa.Integer()))
    )


def _gram_array() -> Any:
    from sqlalchemy.dialects.postgresql import ARRAY

    return ARRAY(sa.Text())


_GRAM_ARRAY = _gram_array()


# --------------------------------------------------------------------------------------------
# Browsing


def browse(
    conn: sa.Connection,
    *,
    department: str | None,
    tags: Sequence[tuple[str, str]],
    limit: int,
    after: tuple[str, int] | None,
) -> tuple[list[Hit], tuple[str, int] | None]:
    """Items of a department and/or with tags (``(kind, tag)``), by name; keyset pages."""
    c = search_t.c
    stmt = sa.select(*_HIT_COLUMNS)
    for kind, tag in tags:
        t = tags_t.alias()
        stmt = stmt.join(t, sa.and_(t.c.item_id == c.id, t.c.kind == kind, t.c.tag == tag))
    if department is not None:
        stmt = stmt.where(c.agency == department)
    if after is not None:
        key, last = after
        stmt = stmt.where(sa.or_(c.name_key > key, sa.and_(c.name_key == key, c.id > last)))
    rows = list(conn.execute(stmt.order_by(c.name_key, c.id).limit(limit + 1)))
    hits = [Hit._make((*r, None)) for r in rows[:limit]]
    more = len(rows) > limit
    return hits, ((hits[-1].name_key, hits[-1].id) if more else None)


def facets(conn: sa.Connection) -> dict[str, list[tuple[str, str, int]]]:
    """What a portal offers to browse: ``{"department": [(code, name, n)], "theme": [(tag,
    tag, n)], "life_stage": […]}``, each by count then name."""
    c = search_t.c
    departments = [
        (code, name, int(n))
        for code, name, n in conn.execute(
            sa.select(c.agency, sa.func.max(c.agency_name), sa.func.count()).group_by(c.agency)
        )
    ]
    result: dict[str, list[tuple[str, str, int]]] = {"department": departments}
    for kind in ("theme", "life_stage"):
        result[kind] = [
            (tag, tag, int(n))
            for tag, n in conn.execute(
                sa.select(tags_t.c.tag, sa.func.count())
                .where(tags_t.c.kind == kind)
                .group_by(tags_t.c.tag)
            )
        ]
    for values in result.values():
        values.sort(key=lambda v: (-v[2], v[1]))
    return result


def indexed(conn: sa.Connection, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` the index holds (for checks and tests)."""
    wanted = list(codes)
    if not wanted:
        return set()
    stmt = sa.select(search_t.c.code).where(search_t.c.code.in_(wanted))
    return set(conn.execute(stmt).scalars())
