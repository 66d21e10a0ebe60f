"""Supervision's pages through the ASGI app: the red, yellow and provisional lists across
departments, and the indicators page — its table equals the SDK's report, its charts are
well-formed SVG without script, its CSV parses (UTF-8 with BOM), its period filter refuses
bad input in Chinese; only supervisors see it."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import govsvc
from govsvc.testing import make_case

SAMR = "11230100013114525L"
SOCIAL_CARD = "11230100003109212K3002005001000"  # 社会保障卡申领: promised 10, statutory 20
SVG = "{http://www.w3.org/2000/svg}"


def at(clock: Any, day: dt.date, hour: int = 9) -> None:
    clock.moment = dt.datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=dt.UTC)


def table(page: str, table_id: str) -> dict[str, list[str]]:
    """data-key → the cells of each row of one table."""
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-key="([a-zA-Z_]+)">(.*?)</tr>', body, re.S)
    return {key: [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells,
                                                               re.S)] for key, cells in rows}


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def test_the_lists_show_red_yellow_and_provisional_cases(clocked_host: Any) -> None:
    kit, clock = clocked_host
    year = clock.local_date.year
    at(clock, dt.date(year, 12, 1))
    late = kit.food_case()  # promised 5 working days: overdue by 15 December
    at(clock, dt.date(year, 12, 9))
    close = kit.food_case()  # due 16 December: one working day left on the 15th, yellow
    at(clock, dt.date(year, 12, 15))
    # 20 statutory working days from the 15th end in January: next year has no calendar data.
    provisional = make_case(kit.platform, SOCIAL_CARD, accept=True)
    assert provisional.deadline is not None and provisional.deadline.provisional
    kit.platform.system().supervision.sweep_lights()
    page = html.unescape(kit.client("zhoujie").get("/supervision").text)
    red = page.split("超期办件（红灯）", 1)[1].split("</table>", 1)[0]
    yellow = page.split("预警办件（黄灯）", 1)[1].split("</table>", 1)[0]
    pending = page.split("期限暂定的办件", 1)[1].split("</table>", 1)[0]
    code = govsvc.TrackingCode.display
    assert code(late.tracking_code) in red and code(close.tracking_code) not in red
    assert code(close.tracking_code) in yellow and code(late.tracking_code) not in yellow
    assert code(provisional.tracking_code) in pending and code(late.tracking_code) not in pending
    assert f"缺少 {year + 1} 年节假日安排" in page
    assert "哈尔滨市市场监督管理局" in red  # the implementing agency, across departments


def story(kit: Any, clock: Any) -> tuple[dt.date, dt.date]:
    """A food case taken at the window on 1 December, handled by the 3rd (2 working days),
    rated 非常不满意 on the 4th, answered by SAMR on the 7th. Returns the period."""
    year = clock.local_date.year
    at(clock, dt.date(year, 12, 1))
    case = kit.food_case()
    at(clock, dt.date(year, 12, 3))
    case = kit.finish(case)
    at(clock, dt.date(year, 12, 4))
    rating = kit.session("zhangwei.bingcheng").ratings.rate(case, "非常不满意")
    at(clock, dt.date(year, 12, 7))
    kit.session("liming").ratings.answer(rating, "已整改")
    return dt.date(year, 12, 1), dt.date(year, 12, 31)


def test_the_indicators_table_equals_the_sdk_report(clocked_host: Any) -> None:
    kit, clock = clocked_host
    since, until = story(kit, clock)
    period = {"since": since.isoformat(), "until": until.isoformat()}
    page = kit.client("zhoujie").get("/supervision/indicators", params=period)
    assert page.status_code == 200
    report = kit.session("zhoujie").indicators.report(since=since, until=until)
    rows = table(page.text, "indicator-table")
    assert set(rows) == {i.key for i in report.indicators}
    for indicator in report.indicators:
        shown, numerator, denominator, _note = rows[indicator.key]
        assert (numerator, denominator) == (number(indicator.numerator),
                                            number(indicator.denominator)), indicator.key
        value = indicator.value
        assert shown == ("—" if value is None else f"{value:.2f} 个工作日"
                         if indicator.unit == "workdays" else f"{value * 100:.1f}%")
    # By hand: one case, at the window, 2 working days; one bad rating, answered on time.
    assert rows["online_acceptance"][1:3] == ["0", "1"]
    assert rows["handling_time"][:3] == ["2.00 个工作日", "2", "1"]
    assert rows["rectification"][:3] == ["100.0%", "1", "1"]
    assert rows["fully_online"][:3] == ["50.0%", "3", "6"]
    levels = table(page.text, "level-table")
    assert levels["VERY_DISSATISFIED"] == ["1"] and levels["SATISFIED"] == ["0"]
    assert "<script" not in page.text
    # Each chart is an image of the same query, well-formed SVG without script.
    charts = re.findall(r'<img src="([^"]+\.svg[^"]*)"', page.text)
    assert len(charts) == 2
    for src in charts:
        chart = kit.client("zhoujie").get(html.unescape(src))
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(chart.content)
        assert root.tag == f"{SVG}svg"
        assert not list(root.iter(f"{SVG}script")) and b"<script" not in chart.content
        assert "script-src" not in chart.headers["content-security-policy"]  # none at all
    shares = kit.client("zhoujie").get("/supervision/indicators/shares.svg", params=period)
    labels = "".join(ET.fromstring(shares.content).itertext())
    assert "全程网办率" in labels and "差评整改及时率" in labels


def test_the_csv_export_parses_and_has_the_same_numbers(clocked_host: Any) -> None:
    kit, clock = clocked_host
    since, until = story(kit, clock)
    period = {"since": since.isoformat(), "until": until.isoformat(), "department": SAMR}
    response = kit.client("zhoujie").get("/supervision/indicators.csv", params=period)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    report = kit.session("zhoujie").indicators.report(since=since, until=until, department=SAMR)
    by_key = {row["代码"]: row for row in rows}
    for indicator in report.indicators:
        row = by_key[indicator.key]
        assert row["指标"] == indicator.name and row["范围"] == SAMR
        assert (row["分子"], row["分母"]) == (number(indicator.numerator),
                                            number(indicator.denominator))
        expected = "" if indicator.value is None else f"{indicator.value:.6f}"
        assert row["数值"] == expected
    assert by_key["level_very_dissatisfied"]["分子"] == "1"
    assert by_key["time_compression"]["数值"] == f"{15 / 20:.6f}"  # SAMR: 20 → 5 days


def test_the_period_filter_refuses_bad_input_in_chinese(clocked_host: Any) -> None:
    kit, _clock = clocked_host
    client = kit.client("zhoujie")
    reversed_ = client.get("/supervision/indicators",
                           params={"since": "2026-12-31", "until": "2026-12-01"})
    assert reversed_.status_code == 422 and "统计条件有误" in html.unescape(reversed_.text)
    assert 'value="2026-12-31"' in reversed_.text  # the form keeps what was typed
    garbled = client.get("/supervision/indicators", params={"since": "12/01/2026"})
    assert garbled.status_code == 422
    assert "日期格式应为 YYYY-MM-DD" in html.unescape(garbled.text)
    assert 'aria-invalid="true" aria-describedby="err-since"' in garbled.text
    division = client.get("/supervision/indicators", params={"division": "哈尔滨"})
    assert division.status_code == 422
    assert client.get("/supervision/indicators.csv", params={"until": "x"}).status_code == 422
    assert client.get("/supervision/indicators/pie.svg").status_code == 404


def test_only_supervisors_see_the_indicators(clocked_host: Any) -> None:
    kit, _clock = clocked_host
    for username in ("liming", "zhangwei", "wangfang", "zhenghao"):
        principal = kit.principal(username)
        before = kit.denied(principal)
        for path in ("/supervision/indicators", "/supervision/indicators.csv",
                     "/supervision/indicators/levels.svg"):
            response = kit.client(username).get(path)
            assert response.status_code == 403, (username, path)
        assert kit.denied(principal) == before + 3


def test_charts_leave_the_import_system_as_they_found_it() -> None:
    """pygal's legacy ``sys.meta_path`` finder (no ``find_spec``) broke every later import
    through pytest's importer (the SDK's tests after the host's): the host removes it."""
    import sys

    import govsvc_host.web.supervision  # noqa: F401

    assert all(hasattr(finder, "find_spec") for finder in sys.meta_path)
