"""Catalogue search over 1,000,000 item names: ``session.catalogue.search`` against raw FTS5.

Builds a catalogue of N item names (default 1,000,000) made combinatorially from fragments of
real item names — a place (哈尔滨市, 道里区, 省级 …), a subject (食品经营许可证, 社会保障卡,
住房公积金 …), an action (申领, 变更登记, 提取 …) and a qualifier (（新办）, （跨省通办） …) — each
with an agency and an item type, in a temporary SQLite file. Publishing a million full guides
through ``session.catalogue.publish`` would take far too long (each is a checked guide, a
version row and an item row), so the rows go in with raw SQL in bulk, straight into the
tables the store's search uses (``catalogue_search`` and its four FTS5 tables), with the
values computed by the store's own functions (``govsvc.store.search``); the run checks that
they equal what publishing would write.

Then it queries 2-, 3- and 5-character terms (社保, 公积金, 社会保障卡 …) through
``session.catalogue.search`` (first page of 20, ranked: exact, prefix, name, keyword) and, in
the same run and interleaved with it, as raw FTS5 ``MATCH … LIMIT 20`` on the same index
tables (no ranking, no session, no policy), and prints p50/p99 of both per term length. For
scale it also times one full scan (``LIKE '%社保%'`` over every name), which is what a
2-character query would cost without the bigram index.

    python bench/search.py                        # 1,000,000 names
    python bench/search.py --items 100000 --rounds 50

The host API path is timed too, over the same database: the reference host (``govsvc_host``,
``create_app``) served by uvicorn on loopback in a child process (as ``bench/host_http.py``
serves it), queried over one keep-alive HTTP connection with ``GET /api/v1/items?q=…`` — the
whole stack: HTTP parsing, routing, validation, the session and policy, the search, JSON.
The last line is ``p99_ms=<host API p99>`` over all terms (target ≤ 20 ms).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from _common import machine_note
from host_http import Server

import govsvc
from govsvc.store import search as search_store

PLACES = (
    "", "", "", "省级", "市级", "区级", "哈尔滨市", "道里区", "南岗区", "香坊区", "松北区",
    "平房区", "呼兰区", "阿城区", "双城区", "尚志市", "五常市", "齐齐哈尔市", "牡丹江市",
    "佳木斯市", "大庆市", "鸡西市",
)  # fmt: skip
SUBJECTS = (
    "食品经营许可证", "食品生产许可证", "药品经营许可证", "医疗器械经营许可证", "营业执照",
    "个体工商户营业执照", "社会保障卡", "社保卡", "居民身份证", "居住证", "户口", "户籍",
    "出生医学证明", "结婚登记", "离婚登记", "生育登记", "医疗保险", "医保", "城乡居民基本医疗保险",
    "职工基本养老保险", "城乡居民基本养老保险", "失业保险金", "工伤保险", "住房公积金",
    "不动产登记", "不动产权证书", "建设工程规划许可证", "建筑工程施工许可证", "机动车驾驶证",
    "机动车登记", "道路运输经营许可证", "出租汽车驾驶员从业资格证", "教师资格", "医师执业",
    "护士执业", "执业药师注册", "排污许可证", "取水许可", "林木采伐许可证", "烟草专卖零售许可证",
    "特种设备使用登记", "公共场所卫生许可证", "放射诊疗许可", "民办学校办学许可证",
    "社会团体登记", "民办非企业单位登记", "残疾人证", "最低生活保障", "临时救助", "高龄津贴",
    "老年人优待证", "退休", "养老金领取资格认证", "工伤认定", "劳动能力鉴定", "就业创业证",
    "职业技能等级证书", "人才引进落户", "港澳通行证", "普通护照", "义务教育入学",
    "普通话水平测试等级证书", "独生子女父母光荣证", "计划生育奖励扶助", "殡葬补助",
    "城镇燃气经营许可", "供热经营许可", "广告发布登记", "消防安全检查", "人防工程竣工验收备案",
    "企业名称", "企业开办", "企业注销", "股权出质登记", "动产抵押登记", "商标质押", "专利权质押",
    "法律援助", "公证", "律师执业证", "船舶登记", "渔业捕捞许可证", "种子生产经营许可证",
    "农药经营许可证", "兽药经营许可证", "动物防疫条件合格证", "生猪定点屠宰证", "粮食收购资格",
    "旅行社业务经营许可证", "网络文化经营许可证", "出版物经营许可证", "印刷经营许可证",
    "电影放映经营许可证", "营业性演出许可证", "娱乐场所经营许可证",
    "互联网上网服务营业场所经营许可", "体育经营许可", "高危险性体育项目经营许可",
    "危险化学品经营许可证", "烟花爆竹经营许可证", "安全生产许可证", "建筑业企业资质",
    "房地产开发企业资质", "物业服务", "住房保障", "公共租赁住房", "拆迁补偿", "宅基地使用权",
    "农村土地承包经营权", "水土保持方案", "环境影响评价文件", "辐射安全许可证",
    "危险废物经营许可证", "气象信息服务", "雷电防护装置检测资质", "测绘资质",
    "地质灾害危险性评估", "采矿许可证", "探矿权", "外国人来华工作许可", "外国人永久居留",
    "台湾居民来往大陆通行证", "宗教活动场所登记", "慈善组织认定", "志愿服务", "退役军人优待证",
    "烈士褒扬金", "军人抚恤", "兵役登记", "学籍", "毕业证书", "学位证书", "中等职业学校招生",
    "高考报名", "助学贷款", "校车使用许可", "托育机构备案", "幼儿园办园许可", "养老机构备案",
    "社区服务",
)  # fmt: skip
ACTIONS = (
    "申领", "补领", "换领", "核发", "变更", "变更登记", "注销", "注销登记", "延续", "查询", "提取",
    "转移", "转入", "转出", "参保登记", "停保", "办理", "认定", "备案", "审批", "年检", "挂失",
    "解挂", "信息变更", "迁入", "迁出", "申请", "审核", "发放", "确认", "首次申请", "复核", "缴费",
    "补缴", "退费", "报销", "待遇申领", "资格认证", "证明开具", "打印", "预约",
)  # fmt: skip
QUALIFIERS = (
    "", "", "", "（新办）", "（变更）", "（延续）", "（注销）", "（补办）", "（首次）", "（个人）",
    "（单位）", "（跨省通办）", "（全程网办）", "（异地）", "（港澳台居民）", "（外国人）",
    "（告知承诺制）", "（容缺受理）", "（市内）", "（省内）",
)  # fmt: skip
AGENCIES = (
    ("哈尔滨市市场监督管理局", "11230100013114525L"),
    ("哈尔滨市人力资源和社会保障局", "11230100003109212K"),
    ("哈尔滨市公安局", "11230100003108738D"),
    ("哈尔滨市卫生健康委员会", "11230100MB1935270B"),
    ("哈尔滨市政务服务中心", "12230100MB1A03528R"),
    ("哈尔滨市道里区市场监督管理局", "11230102MB1C337610"),
)
TYPES = tuple(govsvc.ItemType)

TERMS = {
    2: ("社保", "户口", "医保", "许可", "登记", "护照", "公证", "补领", "养老", "学籍"),
    3: ("公积金", "身份证", "驾驶证", "残疾人", "不动产", "居住证", "光荣证", "公安局", "营业执",
        "无此项"),
    5: ("食品经营许", "社会保障卡", "住房公积金", "机动车驾驶", "不动产登记", "营业执照变",
        "出生医学证", "人力资源和", "城乡居民基", "没有的事项"),
}  # fmt: skip


def names(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct item names drawn from the fragment product (about 2.4 million)."""
    combos = len(PLACES) * len(SUBJECTS) * len(ACTIONS) * len(QUALIFIERS)
    if count > combos * 0.6:
        raise SystemExit(f"at most {int(combos * 0.6):,} distinct names can be drawn quickly")
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    choice = rng.choice
    while len(seen) < count:
        seen[choice(PLACES) + choice(SUBJECTS) + choice(ACTIONS) + choice(QUALIFIERS)] = None
    return list(seen)


Row = tuple[int, str, str, str, str, str, str, str]  # as catalogue_search stores it


def _entries(chunk: Sequence[str]) -> list[tuple[str, str, int, int, str, str, str]]:
    """For each name: (name key, name, agency, type, keywords, name bigrams, keyword bigrams),
    computed with the store's own functions (run in worker processes)."""
    normalise, keywords_for = search_store.normalise, search_store.keywords_for
    bigrams, keyword_grams = search_store.bigrams, search_store._bigrams_text
    out = []
    for name in chunk:
        key = normalise(name)
        pick = zlib.crc32(name.encode())
        agency, item_type = pick % len(AGENCIES), (pick >> 8) % len(TYPES)
        keywords = keywords_for(
            key, item_type=TYPES[item_type].label, agency_name=AGENCIES[agency][0]
        )
        out.append((key, name, agency, item_type, keywords, " ".join(bigrams(key)),
                    keyword_grams(keywords)))  # fmt: skip
    return out


def rows(count: int) -> tuple[list[Row], list[tuple[int, str]], list[tuple[int, str]]]:
    """The ``catalogue_search`` rows, ids in name order (so the name index fills in order,
    as a rebuild would), and the bigram texts of names and keywords by id."""
    every = names(count)
    step = max(1, len(every) // 16)
    chunks = [every[i : i + step] for i in range(0, len(every), step)]
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        entries = [e for part in pool.map(_entries, chunks) for e in part]
    entries.sort()
    data: list[Row] = []
    name_grams: list[tuple[int, str]] = []
    keyword_grams: list[tuple[int, str]] = []
    for i, (key, name, agency, item_type, keywords, ngrams, kgrams) in enumerate(entries, 1):
        agency_name, code = AGENCIES[agency]
        data.append(
            (i, f"{code}3{i:012d}", name, key, keywords, code, agency_name, TYPES[item_type].value)
        )
        name_grams.append((i, ngrams))
        keyword_grams.append((i, kgrams))
    return data, name_grams, keyword_grams


def check_values_match_publishing(
    data: Sequence[Row], grams: Sequence[tuple[int, str]], keyword_grams: Sequence[tuple[int, str]]
) -> None:
    """The bulk rows are what publishing would index (``index_item``) for the same items."""
    for at in range(0, len(data), max(1, len(data) // 50)):
        _, code, name, key, keywords, agency, agency_name, item_type = data[at]
        item = govsvc.ServiceItem(
            catalogue_code=code[19:],
            agency=govsvc.Agency(name=agency_name, credit_code=agency),
            level=govsvc.ExerciseLevel.CITY,
            name=name,
            item_type=govsvc.ItemType(item_type),
        )
        values = search_store.entry_values(item)
        assert (values["code"], values["name_key"], values["keywords"]) == (code, key, keywords)
        assert " ".join(values["name_grams"]) == grams[at][1]
        assert " ".join(values["keyword_grams"]) == keyword_grams[at][1]


def build(path: Path, count: int) -> dict[str, float]:
    """The platform's schema (migrations), then the rows in bulk; returns phase seconds."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    govsvc.Platform.open(f"sqlite:///{path}", load_entry_points=False).close()
    times["schema"] = time.perf_counter() - t
    t = time.perf_counter()
    data, name_grams, keyword_grams = rows(count)
    check_values_match_publishing(data, name_grams, keyword_grams)
    times["names"] = time.perf_counter() - t
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO catalogue_search (id, code, name, name_key, keywords, agency, agency_name, "
        "item_type, themes, life_stages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '')",
        data,
    )
    conn.execute("COMMIT")
    times["rows"] = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("BEGIN")
    for table in ("catalogue_name3", "catalogue_keywords3"):
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('rebuild')")
    conn.execute("COMMIT")
    times["trigram index"] = time.perf_counter() - t
    t = time.perf_counter()
    # What index_item writes: the bigrams of the normalised name and keywords.
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO catalogue_name2 (rowid, grams) VALUES (?, ?)", name_grams)
    conn.executemany("INSERT INTO catalogue_keywords2 (rowid, grams) VALUES (?, ?)", keyword_grams)
    conn.execute("COMMIT")
    times["bigram index"] = time.perf_counter() - t
    t = time.perf_counter()
    for table in search_store.FTS_TABLES:
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
    conn.execute("ANALYZE")
    times["optimize"] = time.perf_counter() - t
    conn.close()
    return times


def sizes(path: Path) -> dict[str, float]:
    """MiB per index structure (SQLite's dbstat)."""
    conn = sqlite3.connect(path)
    found: dict[str, float] = {}
    for name, size in conn.execute(
        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY name"
    ):
        group = next(
            (t for t in search_store.FTS_TABLES if name.startswith(t)),
            "catalogue_search (rows and B-tree indexes)"
            if name.startswith(("catalogue_search", "ix_catalogue_search", "sqlite_autoindex"))
            else None,
        )
        if group:
            found[group] = found.get(group, 0.0) + size / 2**20
    conn.close()
    return found


def timed(call: Callable[[], object], samples: list[float]) -> object:
    t = time.perf_counter()
    result = call()
    samples.append((time.perf_counter() - t) * 1000)
    return result


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30, help="queries of each term per side")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="govsvc-search-") as tmp:
        path = Path(tmp) / "catalogue.db"
        started = time.perf_counter()
        times = build(path, args.items)
        built = time.perf_counter() - started
        print(f"# {machine_note()}")
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
        print(f"built {args.items:,} items in {built:.1f}s ({phases})")
        for name, mib in sizes(path).items():
            print(f"size {name}: {mib:.1f} MiB")

        platform = govsvc.Platform.open(f"sqlite:///{path}", load_entry_points=False)
        catalogue = platform.public().catalogue
        raw = sqlite3.connect(path)

        def raw_match(term: str) -> list[tuple[int]]:
            table = "catalogue_name3" if len(term) >= 3 else "catalogue_name2"
            return raw.execute(
                f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT 20", (f'"{term}"',)
            ).fetchall()

        from govsvc_host.store import HostStore

        HostStore(platform).create()  # the host's own tables (sessions, idempotency …)
        server = Server("host", f"sqlite:///{path}", None, Path(tmp))
        http = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30)

        def api(term: str) -> int:
            response = http.get("/api/v1/items", params={"q": term})
            response.raise_for_status()
            return len(response.json()["items"])

        sdk: dict[int, list[float]] = {n: [] for n in TERMS}
        fts: dict[int, list[float]] = {n: [] for n in TERMS}
        host: dict[int, list[float]] = {n: [] for n in TERMS}
        found: dict[str, tuple[int, str]] = {}
        for terms in TERMS.values():  # warm-up (page cache, statement caches)
            for term in terms:
                catalogue.search(term)
                raw_match(term)
                assert api(term) == len(catalogue.search(term))
        for r in range(args.rounds):
            for length, terms in TERMS.items():
                for term in terms:
                    sides = [("sdk", term), ("raw", term), ("api", term)]
                    for side, q in sides if r % 2 == 0 else reversed(sides):  # ABBA
                        if side == "api":
                            timed(lambda q=q: api(q), host[length])
                        elif side == "sdk":
                            page = timed(lambda q=q: catalogue.search(q), sdk[length])
                            assert isinstance(page, govsvc.Page)
                            first = page[0].match.value if len(page) and page[0].match else "-"
                            found[q] = (len(page), first)
                        else:
                            timed(lambda q=q: raw_match(q), fts[length])
        scan: list[float] = []
        for _ in range(3):
            timed(
                lambda: raw.execute(
                    "SELECT count(*) FROM catalogue_search WHERE name_key LIKE '%社保%'"
                ).fetchone(),
                scan,
            )
        http.close()
        server.stop()
        raw.close()
        platform.close()

    for length, terms in TERMS.items():
        shown = " ".join(f"{t}:{found[t][0]}/{found[t][1]}" for t in terms)
        print(f"terms {length} chars (hits on page 1 / best match): {shown}")
    print(f"full scan for comparison: LIKE '%社保%' over every name p50={pct(scan, 0.5):.1f}ms")
    for length in TERMS:
        a, b, c = sdk[length], fts[length], host[length]
        print(
            f"{length}-char  host api p50={pct(c, 0.5):.3f}ms p99={pct(c, 0.99):.3f}ms  "
            f"sdk search p50={pct(a, 0.5):.3f}ms p99={pct(a, 0.99):.3f}ms  "
            f"raw fts5 p50={pct(b, 0.5):.3f}ms p99={pct(b, 0.99):.3f}ms  "
            f"(n={len(a)} each)"
        )
    every = [s for samples in sdk.values() for s in samples]
    every_raw = [s for samples in fts.values() for s in samples]
    print(
        f"all     sdk search p50={pct(every, 0.5):.3f}ms p99={pct(every, 0.99):.3f}ms "
        f"mean={statistics.fmean(every):.3f}ms  raw fts5 p50={pct(every_raw, 0.5):.3f}ms "
        f"p99={pct(every_raw, 0.99):.3f}ms"
    )
    every_api = [s for samples in host.values() for s in samples]
    print(
        f"all     host api (uvicorn on loopback, one keep-alive connection) "
        f"p50={pct(every_api, 0.5):.3f}ms p99={pct(every_api, 0.99):.3f}ms "
        f"mean={statistics.fmean(every_api):.3f}ms"
    )
    print(f"p99_ms={pct(every_api, 0.99):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
