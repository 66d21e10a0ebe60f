"""Catalogue search and browsing: Chinese full text on SQLite (FTS5, trigram + bigram tables)
and PostgreSQL (pg_trgm + GIN), two-character queries, ranking, keyset pages, hostile input,
the index kept by the publishing transaction, browsing by department, theme and life stage."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import govsvc
from govsvc import SearchMatch
from govsvc.platform import create_engine
from govsvc.store import catalogue as catalogue_store
from govsvc.store import migrate, tables
from govsvc.store import search as search_store
from govsvc.testing import make_item
from tests.conftest import FakeClock, sample_catalogue

SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"
HRSS = "11230100003109212K"  # 哈尔滨市人力资源和社会保障局


AGENCY_NAMES = {SAMR: "哈尔滨市市场监督管理局", HRSS: "哈尔滨市人力资源和社会保障局"}


def publish(p: govsvc.Platform, name: str, agency: str = SAMR, **tags: tuple[str, ...]) -> str:
    """Publish a public-service item (公共服务: no 许可 among its keywords) named ``name``."""
    item, version = make_item(
        agency,
        agency_name=AGENCY_NAMES[agency],
        name=name,
        item_type=govsvc.ItemType.PUBLIC_SERVICE,
    )
    item = attrs.evolve(item, **tags)
    p.system().catalogue.publish(item, version)
    return item.implementation_code


def names(page: govsvc.Page[govsvc.ItemSummary]) -> list[str]:
    return [hit.name for hit in page]


def ranked(page: govsvc.Page[govsvc.ItemSummary]) -> list[tuple[str, str]]:
    return [(hit.name, hit.match.value if hit.match else "") for hit in page]


# --- finding ---------------------------------------------------------------------------------


def test_two_character_queries_find_items(platform: govsvc.Platform) -> None:
    publish(platform, "城乡居民基本医疗保险参保登记", HRSS)
    search = platform.public().catalogue.search
    assert ranked(search("户口")) == [("户口迁移（市内跨区迁移）", "prefix")]
    # 社保 and 医保 are short forms: found through the formal words in the names.
    assert ranked(search("社保")) == [("社会保障卡申领", "keyword")]
    assert ranked(search("医保")) == [("城乡居民基本医疗保险参保登记", "keyword")]
    assert ranked(search("许可")) == [
        ("食品经营许可（新办）", "name"),
        ("个体工商户设立登记", "keyword"),  # an item of type 行政许可
    ]
    hit = search("社保")[0]
    assert (hit.agency, hit.item_type, hit.themes, hit.life_stages) == (
        HRSS,
        govsvc.ItemType.PUBLIC_SERVICE,
        ("社会保障",),
        ("出生", "就业", "退休"),
    )


def test_exact_names_first_then_prefixes_then_names_then_keywords(
    platform: govsvc.Platform,
) -> None:
    for name in ("补办社会保障卡", "社会保障卡补领", "社会保障卡"):
        publish(platform, name, HRSS)
    publish(platform, "参保人员信息变更", HRSS, themes=("社会保障卡",))
    assert ranked(platform.public().catalogue.search("社会保障卡")) == [
        ("社会保障卡", "exact"),
        ("社会保障卡申领", "prefix"),  # prefixes by name: 申 (U+7533) before 补 (U+8865)
        ("社会保障卡补领", "prefix"),
        ("补办社会保障卡", "name"),
        ("参保人员信息变更", "keyword"),
    ]
    # Full-width and half-width, upper and lower case are the same to the index.
    publish(platform, "ＩＣＰ经营许可证核发")
    assert ranked(platform.public().catalogue.search("icp经营")) == [
        ("ＩＣＰ经营许可证核发", "prefix")
    ]
    assert ranked(platform.public().catalogue.search("食品经营许可(新办)")) == [
        ("食品经营许可（新办）", "exact")
    ]


def test_every_word_of_a_query_must_match(platform: govsvc.Platform) -> None:
    publish(platform, "社会保障卡补领", HRSS)
    search = platform.public().catalogue.search
    assert names(search("社会保障卡 补领")) == ["社会保障卡补领"]
    assert names(search("补领 社会保障卡")) == ["社会保障卡补领"]
    # one word in the name, the other among the keywords (the agency's name)
    assert ranked(search("补领 人力资源")) == [("社会保障卡补领", "keyword")]
    assert names(search("补领 公安")) == []


def test_a_single_character_finds_names_starting_with_it(platform: govsvc.Platform) -> None:
    search = platform.public().catalogue.search
    assert ranked(search("社")) == [("社会保障卡申领", "prefix")]
    assert names(search("卡")) == []  # inside names: too many to mean anything


def test_pages_walk_the_ranking_in_order(platform: govsvc.Platform) -> None:
    for name in ("社会保障卡补领", "补办社会保障卡", "社会保障卡挂失", "社会保障卡"):
        publish(platform, name, HRSS)
    publish(platform, "参保人员信息变更", HRSS, themes=("社会保障卡",))
    search = platform.public().catalogue.search
    whole = ranked(search("社会保障卡"))
    assert len(whole) == 6
    for size in (1, 2, 4):
        walked: list[tuple[str, str]] = []
        page = search("社会保障卡", limit=size)
        while True:
            walked += ranked(page)
            assert len(page) <= size
            if page.next is None:
                break
            page = search("社会保障卡", limit=size, after=page.next)
        assert walked == whole, size
    cursor = search("社会保障卡", limit=1).next
    assert cursor is not None
    with pytest.raises(govsvc.InvalidInput, match="belongs to another search"):
        search("户口", after=cursor)
    with pytest.raises(govsvc.InvalidInput):
        search("社会保障卡", after="not-a-cursor")
    for limit in (0, 101, True):
        with pytest.raises(govsvc.InvalidInput, match="limit must be a whole number from 1 to 100"):
            search("社保", limit=limit)


# --- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    "社",
    "，。！？",
    "()",
    "   ",
    "",
    '"',
    '""',
    "*",
    "社保*",
    '"社保"',
    "NEAR",
    "near(社保 户口, 2)",
    "OR",
    "社保 OR 户口",
    "AND NOT",
    "(",
    "((社保",
    "^户口",
    "{name_key}: 户口",
    "户口:",
    "- 户口",
    "'; DROP TABLE catalogue_search; --",
    "%",
    "_",
    "\\",
    "\x00社保",
    "社\ud800保",
    "\u200b户口\u200b",
    "🙂🙂🙂",
    "x" * 500,
    "社保" * 250,
    "户口 " * 100,
    "社会保障卡申领" * 70,
]


@pytest.mark.parametrize("q", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_searched_as_text(platform: govsvc.Platform, q: str) -> None:
    page = platform.public().catalogue.search(q)
    assert len(page) <= 20


def test_fts_syntax_is_never_interpreted(platform: govsvc.Platform) -> None:
    search = platform.public().catalogue.search
    assert names(search('"户口"')) == names(search("户口*")) == names(search("户口")) != []
    assert names(search("^户口")) == names(search("户口"))
    assert names(search("户口 OR 社保")) == []  # three words, and no item has all of them
    assert names(search("NEAR(户口 迁移)")) == []  # "near" is a word like any other
    assert names(search("户口 迁移")) == ["户口迁移（市内跨区迁移）"]
    assert names(search("\x00户口")) == names(search("户口"))
    assert len(platform.public().catalogue.items()) == len(sample_catalogue())


def plans(p: govsvc.Platform) -> Iterator[tuple[str, str]]:
    """EXPLAIN QUERY PLAN of every search statement compiled so far (SQLite)."""
    dialect = p.engine.dialect
    values = {"q": "社保", "qhi": "社保\U0010ffff", "key": "社保", "last": 0, "n": 21, "skip": 0}
    values |= {"match": '"社保"'} | {f"t{i}": "社保" for i in range(search_store.MAX_TERMS)}
    raw = p.engine.raw_connection()
    try:
        for statement in list(search_store._STATEMENTS.values()):
            compiled = statement._for(dialect)
            params = [values[name] for name in compiled.names]
            rows = raw.cursor().execute("EXPLAIN QUERY PLAN " + compiled.sql, params).fetchall()
            yield compiled.sql, "\n".join(str(r[-1]) for r in rows)
    finally:
        raw.close()


def test_no_query_scans_the_catalogue(platform: govsvc.Platform) -> None:
    if platform.engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite; PostgreSQL's GIN use is checked below")
    search_store._STATEMENTS.clear()
    for q in [*HOSTILE, "社会保障卡", "社保 人力资源", "医疗保险 社保 参保", "户口 迁移 市内 跨区"]:
        page = platform.public().catalogue.search(q, limit=2)
        while page.next:
            page = platform.public().catalogue.search(q, limit=2, after=page.next)
    seen = list(plans(platform))
    assert len(seen) >= 6
    for sql, plan in seen:
        assert not re.search(r"\bSCAN catalogue_search\b", plan), (sql, plan)
        assert "catalogue_search" in plan, plan


def test_postgres_answers_rare_words_from_its_gin_indexes(platform: govsvc.Platform) -> None:
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("the GIN indexes are PostgreSQL's")
    filler = [
        {
            "code": f"{SAMR}3{i:012d}",
            "name": f"第{i}号测试事项登记",
            "name_key": f"第{i}号测试事项登记",
            "keywords": "公共服务 哈尔滨市测试局",
            "agency": SAMR,
            "agency_name": "哈尔滨市测试局",
            "item_type": "20",
            "themes": "",
            "life_stages": "",
            "name_grams": search_store.bigrams(f"第{i}号测试事项登记"),
            "keyword_grams": search_store.bigrams("公共服务 哈尔滨市测试局"),
        }
        for i in range(5000)
    ]
    with platform.engine.begin() as conn:
        conn.execute(sa.insert(search_store.search_t), filler)
        conn.exec_driver_sql("ANALYZE catalogue_search")
    search_store._STATEMENTS.clear()
    assert names(platform.public().catalogue.search("社保")) == ["社会保障卡申领"]
    assert names(platform.public().catalogue.search("户口迁移")) == ["户口迁移（市内跨区迁移）"]
    used = set()
    with platform.engine.connect() as conn:
        # No sequential scan and no walk of the primary key: can the words be answered from
        # the GIN indexes? (At 5,000 rows the planner would rightly read the table instead.)
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_indexscan = off")
        for shape, statement in search_store._STATEMENTS.items():
            if shape[0] != "pg":
                continue
            compiled = statement._for(conn.dialect)
            two = shape[2][0] == 2
            values = {"q": "户口迁移", "qhi": "户口迁移\U0010ffff", "last": 0, "n": 21, "skip": 0}
            values["t0"] = ["社保"] if two else "%户口迁移%"
            params = statement._params(compiled, values)
            plan = conn.exec_driver_sql("EXPLAIN " + compiled.sql, params).scalars().all()
            used |= set(re.findall(r"ix_catalogue_search_\w+", "\n".join(plan)))
    assert {"ix_catalogue_search_name_grams", "ix_catalogue_search_keyword_grams"} <= used
    assert {"ix_catalogue_search_name_trgm", "ix_catalogue_search_keywords_trgm"} <= used


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(q=st.text(st.characters(exclude_categories=()), max_size=500))  # surrogates and NUL too
def test_any_text_up_to_500_characters_never_raises(platform: govsvc.Platform, q: str) -> None:
    page = platform.public().catalogue.search(q, limit=3)
    if page.next:
        platform.public().catalogue.search(q, limit=3, after=page.next)


@given(text=st.text(max_size=60))
def test_normalising_is_nfkc_and_case_folding(text: str) -> None:
    expected = unicodedata.normalize("NFKC", text).casefold()
    expected = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in expected)
    assert search_store.normalise(text) == " ".join(expected.split())


def test_words_are_quoted_phrases_of_letters_and_digits() -> None:
    query = search_store.Query.parse('社保" OR 户口* NEAR(x')
    assert query.terms == ("社保", "or", "户口", "near", "x")
    assert search_store._phrase('a"b') == '"a""b"'
    assert search_store.bigrams("社会保障卡 ab") == ["社会", "会保", "保障", "障卡", "ab"]
    assert search_store.Query.parse("，。").empty


# --- the index follows publishing ------------------------------------------------------------


def test_the_index_is_written_by_the_publishing_transaction(platform: govsvc.Platform) -> None:
    catalogue = platform.system().catalogue
    search = platform.public().catalogue.search
    item, first = make_item(SAMR, name="测试许可事项（新办）")
    catalogue.publish(item, first)
    assert names(search("测试许可")) == ["测试许可事项（新办）"]
    renamed = attrs.evolve(item, name="测绘资质认定", themes=("规划建设",))
    result = attrs.evolve(first.results[0], name="测绘资质证书")  # its result renamed too
    catalogue.publish(renamed, first.revise(name="测绘资质认定", results=(result,)))
    assert names(search("测试许可")) == []
    assert ranked(search("测绘")) == [("测绘资质认定", "prefix")]
    assert names(platform.public().catalogue.browse(theme="规划建设")) == ["测绘资质认定"]
    # A batch that fails anywhere publishes nothing and indexes nothing.
    good, good_version = make_item(SAMR, name="无人机备案")
    bad, bad_version = make_item(SAMR, name="坏事项")
    broken = attrs.evolve(bad_version, visits=2, visit_reason="")
    with pytest.raises(govsvc.CatalogueRejected):
        catalogue.import_items([(good, [good_version]), (bad, [broken])])
    assert names(search("无人机")) == []
    with platform.engine.connect() as conn:
        assert search_store.indexed(conn, [good.implementation_code]) == set()


def test_republishing_an_unchanged_item_leaves_the_index_alone(platform: govsvc.Platform) -> None:
    item, first = make_item(SAMR, name="测试许可事项（新办）")
    platform.system().catalogue.publish(item, first)
    with platform.engine.connect() as conn:
        before = conn.execute(sa.select(search_store.search_t)).all()
    platform.system().catalogue.publish(item, first.revise())
    with platform.engine.connect() as conn:
        assert conn.execute(sa.select(search_store.search_t)).all() == before


def test_an_item_is_found_by_what_it_hands_out(platform: govsvc.Platform) -> None:
    """People search for the licence (食品经营许可证), not the procedure's name."""
    search = platform.public().catalogue.search
    assert ranked(search("食品经营许可证")) == [("食品经营许可（新办）", "keyword")]
    assert ranked(search("营业执照")) == [("个体工商户设立登记", "keyword")]
    with platform.engine.begin() as conn:  # the index as revisions before 0008 made it
        search_store.rebuild(conn, result_names=False)
    assert ranked(search("营业执照")) == []
    with platform.engine.begin() as conn:
        search_store.rebuild(conn)
    assert ranked(search("营业执照")) == [("个体工商户设立登记", "keyword")]


def test_rebuild_gives_the_same_index(platform: govsvc.Platform) -> None:
    search = platform.public().catalogue.search
    queries = ("社保", "户口", "许可", "哈尔滨市", "出生", "食品经营许可证", "营业执照")
    before = {q: ranked(search(q)) for q in queries}
    with platform.engine.begin() as conn:
        assert search_store.rebuild(conn) == len(sample_catalogue())
    assert {q: ranked(search(q)) for q in before} == before


def test_the_migration_indexes_items_published_before_it(
    database: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = database
    engine = create_engine(url, schema=schema)
    try:
        migrate.upgrade(engine, schema=schema, revision="0003")
        with engine.begin() as conn:
            for item, _ in sample_catalogue():
                catalogue_store.upsert_item(conn, item)
        migrate.upgrade(engine, schema=schema)
        with engine.connect() as conn:
            codes = {item.implementation_code for item, _ in sample_catalogue()}
            assert search_store.indexed(conn, codes) == codes
            query = search_store.Query.parse("户口")
            hits, _ = search_store.search(conn, query, limit=5)
            assert [h.name for h in hits] == ["户口迁移（市内跨区迁移）"]
    finally:
        engine.dispose()


def test_the_index_objects_the_models_cannot_declare_exist(platform: govsvc.Platform) -> None:
    with platform.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            found = set(
                conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"
                ).scalars()
            )
            assert found == set(search_store.FTS_TABLES)
        else:
            found = set(
                conn.exec_driver_sql(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'catalogue_search'"
                ).scalars()
            )
            assert set(search_store.PG_INDEXES) <= found
    assert set(search_store.UNMODELLED).isdisjoint(tables.metadata.tables)


# --- browsing --------------------------------------------------------------------------------


def test_browse_by_department_theme_and_life_stage(platform: govsvc.Platform) -> None:
    browse = platform.public().catalogue.browse
    assert names(browse(life_stage="出生")) == [
        "出生医学证明办理（首次签发）",
        "户口迁移（市内跨区迁移）",
        "社会保障卡申领",
    ]
    assert names(browse(life_stage="开办企业", theme="设立变更")) == [
        "个体工商户设立登记",
        "企业开办政策咨询",
    ]
    assert names(browse(department=SAMR)) == ["食品经营许可（新办）"]
    assert names(browse(department=SAMR, life_stage="出生")) == []
    assert names(browse(theme="不存在")) == []
    assert len(browse()) == len(sample_catalogue())
    first = browse(life_stage="出生", limit=2)
    assert first.next is not None
    rest = browse(life_stage="出生", limit=2, after=first.next)
    assert names(first) + names(rest) == names(browse(life_stage="出生")) and rest.next is None
    hit = browse(department=SAMR)[0]
    assert hit.match is None and hit.themes == ("准营准办", "食品药品")


def test_facets_count_what_can_be_browsed(platform: govsvc.Platform) -> None:
    facets = platform.public().catalogue.facets()
    assert facets.life_stages["出生"] == 3 and facets.life_stages["退休"] == 1
    assert facets.themes["设立变更"] == 2
    assert facets.departments[SAMR] == ("哈尔滨市市场监督管理局", 1)
    assert list(facets.life_stages)[:3] == ["出生", "就业", "开办企业"]  # most items first


def test_tags_are_short_text_without_the_separator() -> None:
    item, _ = make_item(SAMR)
    assert attrs.evolve(item, themes=[" 社会保障 ", "社会保障", ""]).themes == ("社会保障",)
    for bad, match in (
        ("社会保障", "list of tags"),
        (["a;b"], "separates tags"),
        (["长" * 21], "longer than 20"),
        ([1], "a tag is text"),
    ):
        with pytest.raises(govsvc.InvalidInput, match=match):
            attrs.evolve(item, themes=bad)


def test_searching_writes_nothing(platform: govsvc.Platform, clock: FakeClock) -> None:
    # The catalogue is public: no access record, no transaction that writes.
    before = platform.system().supervision.access_log()
    platform.public().catalogue.search("户口")
    clock.advance(days=1)
    platform.public().catalogue.browse(theme="户籍办理")
    assert platform.system().supervision.access_log() == before
    assert SearchMatch.EXACT.value == "exact"


@pytest.mark.parametrize("position", ["7", None, True, 1.5, [1]])
def test_a_forged_browse_cursor_is_bad_input(platform: govsvc.Platform, position: object) -> None:
    """A cursor that decodes but carries no (name, number) position: InvalidInput that says
    to start again, not a ValueError or TypeError from deep inside (the host showed a 500)."""
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps(["食品", position]).encode()).decode()
    with pytest.raises(govsvc.InvalidInput, match="start from the first page"):
        platform.public().catalogue.browse(after=forged)
