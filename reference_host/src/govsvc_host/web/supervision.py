"""电子监察 and 运维: supervision's overview and the system administrator's console."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from typing import Any

import pygal
from fastapi import APIRouter, Request
from pygal.style import Style
from starlette.responses import Response

import govsvc
from govsvc import IndicatorReport
from govsvc_host.context import Host
from govsvc_host.web.common import Me, host_of

# pygal (3.1.3) appends a PEP 302 finder (``PluginImportFixer``, for its legacy
# ``pygal.maps.*`` plugins) to ``sys.meta_path``. It has ``find_module`` but no ``find_spec``,
# which every other importer of this process may call (pytest's does, and fails on it); the
# host draws no maps, so the finder is taken out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

router = APIRouter()

# Charts are pygal's server-rendered SVG (no script: js=[]), served as images so the page's
# Content-Security-Policy (no inline style) holds; the numbers stand beside them in a table.
CHART_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#555555",
    colors=("#1f5fa8", "#c0392b", "#2e7d32", "#b9770e", "#6a1b9a"),
    font_family="'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    value_font_size=14,
    title_font_size=18,
)
LEVEL_ORDER = list(govsvc.RatingLevel)
CHARTS = ("shares", "levels")


@router.get("/supervision", name="supervision")
def supervision(request: Request, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    overdue = session.supervision.overdue(limit=100)
    yellow = session.supervision.warnings(light=govsvc.Light.YELLOW, limit=100)
    provisional = session.supervision.provisional(limit=100)
    statistics = session.supervision.statistics()
    refused = session.supervision.access_log(outcome="denied", limit=50)
    chain = session.supervision.verify_access_log()
    listed = host.platform.public().catalogue.items()
    item_names = {i.implementation_code: i.name for i in listed}
    agencies = {i.agency.credit_code: i.agency.name for i in listed}
    return host.render(
        request,
        "supervision.html",
        principal=me,
        overdue=overdue,
        yellow=yellow,
        provisional=provisional,
        missing_years=[
            y for y in (host.platform.today().year, host.platform.today().year + 1)
            if not host.platform.calendar.has_data(y)
        ],
        statistics=statistics,
        refused=refused,
        chain=chain,
        item_names=item_names,
        agencies=agencies,
        state_labels={state.value: state.label for state in govsvc.CaseState},
        division=(
            host.divisions.path_names(me.division)
            if me.division and me.division in host.divisions
            else ""
        ),
    )


# --- the evaluation's indicators (政务服务能力评估) ---------------------------------------------


def _date(value: str, name: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = f"日期格式应为 YYYY-MM-DD（例如 2026-03-01），收到 {value[:20]!r}"
        return None


def _report(
    host: Host, me: govsvc.Principal, since: str, until: str, department: str, division: str
) -> tuple[IndicatorReport | None, dict[str, str]]:
    """The SDK's report for the GET form's fields, or the fields' problems (in Chinese)."""
    errors: dict[str, str] = {}
    start, end = _date(since, "since", errors), _date(until, "until", errors)
    if errors:
        return None, errors
    try:
        report = host.session(me).indicators.report(
            since=start, until=end, department=department or None, division=division or None
        )
    except govsvc.InvalidInput as exc:
        return None, {"_": f"统计条件有误：{exc}"}
    return report, {}


def _shown(indicator: govsvc.Indicator) -> str:
    value = indicator.value
    if value is None:
        return "—"
    if indicator.unit == "workdays":
        return f"{value:.2f} 个工作日"
    return f"{value * 100:.1f}%"


def _query(request: Request) -> str:
    return str(request.url.query)


@router.get("/supervision/indicators", name="indicators")
def indicators(
    request: Request, me: Me, since: str = "", until: str = "", department: str = "",
    division: str = "",
) -> Response:
    host = host_of(request)
    report, errors = _report(host, me, since, until, department, division)
    return host.render(
        request,
        "indicators.html",
        status=422 if errors else 200,
        principal=me,
        report=report,
        errors=errors,
        values={"since": since, "until": until, "department": department, "division": division},
        shown=_shown,
        number=_number,
        query=_query(request),
        charts=CHARTS,
        agencies=_agencies(host),
        levels=LEVEL_ORDER,
    )


def _agencies(host: Host) -> dict[str, str]:
    listed = host.platform.public().catalogue.items()
    return dict(sorted({i.agency.credit_code: i.agency.name for i in listed}.items()))


def _checked(report: IndicatorReport | None, errors: dict[str, str]) -> IndicatorReport:
    if report is None:
        raise govsvc.InvalidInput("；".join(errors.values()))
    return report


@router.get("/supervision/indicators.csv", name="indicators_csv")
def indicators_csv(
    request: Request, me: Me, since: str = "", until: str = "", department: str = "",
    division: str = "",
) -> Response:
    """The indicators as CSV: UTF-8 with a byte-order mark, so Excel reads the Chinese."""
    host = host_of(request)
    report = _checked(*_report(host, me, since, until, department, division))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["指标", "代码", "分子", "分母", "数值", "单位", "统计期间", "范围", "说明"])
    scope = report.department or report.division or "全部"
    period = f"{report.since.isoformat()}~{report.until.isoformat()}"
    for i in report.indicators:
        value = "" if i.value is None else f"{i.value:.6f}"
        writer.writerow([i.name, i.key, _number(i.numerator), _number(i.denominator), value,
                         "比例" if i.unit == "share" else "工作日", period, scope, i.note])
    counted = sum(report.levels.values())
    for level in LEVEL_ORDER:
        n = report.levels[level]
        value = "" if not counted else f"{n / counted:.6f}"
        writer.writerow([f"满意度分布：{level.value}", f"level_{level.name.lower()}", n,
                         counted, value, "比例", period, scope, ""])
    name = f"indicators-{report.since.isoformat()}-{report.until.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


@router.get("/supervision/indicators/{chart}.svg", name="indicators_chart")
def indicators_chart(
    request: Request, chart: str, me: Me, since: str = "", until: str = "",
    department: str = "", division: str = "",
) -> Response:
    """One chart of the indicators page as SVG: ``shares`` (every share, in per cent) or
    ``levels`` (the satisfaction distribution)."""
    if chart not in CHARTS:
        raise govsvc.NotFound(f"没有名为 {chart[:20]} 的图表，可选：{'、'.join(CHARTS)}")
    host = host_of(request)
    report = _checked(*_report(host, me, since, until, department, division))
    options = {"style": CHART_STYLE, "js": [], "width": 760, "height": 420,
               "show_legend": False, "print_values": True}
    if chart == "shares":
        shares = [i for i in report.indicators if i.unit == "share"]
        graph = pygal.HorizontalBar(
            title="评估指标（%）", range=(0, 100), value_formatter=lambda v: f"{v:.1f}%",
            **options,
        )
        graph.x_labels = [i.name for i in shares]
        graph.add("指标", [None if i.value is None else round(i.value * 100, 1) for i in shares])
    else:
        graph = pygal.Bar(title="满意度分布（件）", value_formatter=lambda v: f"{v:.0f}", **options)
        graph.x_labels = [level.value for level in LEVEL_ORDER]
        graph.add("评价", [report.levels[level] for level in LEVEL_ORDER])
    graph.add_xml_filter(_without_scripts)
    return Response(
        graph.render(),
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            # The SVG's own styles, nothing else; no script at all.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


def _without_scripts(root: Any) -> Any:
    """pygal always embeds its configuration as a <script>; a static image needs none."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


@router.get("/admin", name="admin")
def admin(request: Request, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    health = session.departments.health()
    pending = session.outbox.pending(limit=1000)
    chain = session.departments.verify_exchange_log()
    calendar = host.platform.calendar
    today = host.platform.today()
    years = sorted(calendar.years)
    by_topic: dict[str, int] = {}
    for message in pending:
        by_topic[message.topic] = by_topic.get(message.topic, 0) + 1
    return host.render(
        request,
        "admin.html",
        principal=me,
        health=health,
        by_topic=by_topic,
        oldest=min((m.created_at for m in pending), default=None),
        chain=chain,
        years=years,
        missing=[y for y in (today.year, today.year + 1) if not calendar.has_data(y)],
        staff=host.store.list_staff(),
    )
