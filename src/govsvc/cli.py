"""The ``govsvc`` command: operator tasks on a platform database.

    govsvc demo [--db FILE] [--no-departments]   walk a realistic case (embedded SQLite)
    govsvc db upgrade URL [--schema S]           migrate a database to the newest schema
    govsvc calendar load FILE --db URL           load official working-day data for new years
    govsvc calendar refresh --db URL             recompute provisional deadlines the loaded
                                                 years now decide (the worker does it too)
    govsvc calendar show YEAR [--db URL] [--region CN-65]
                                                 list a year's holidays and 调休 working days
    govsvc items import FILE --db URL            publish items from a catalogue JSON file
    govsvc items publish-plugins --db URL        publish the items installed plugins provide
    govsvc items export --db URL                 print the catalogue as JSON
    govsvc case show CODE --db URL               a case and its trail by tracking code (全程一码),
                                                 the trail's hash chain checked (exit 1 if broken)
    govsvc lights sweep --db URL [--on DATE]     store every running case's warning light; cases
                                                 turning yellow or red get a supervision.warning
    govsvc indicators --db URL [--since DATE] [--until DATE] [--department CODE] [--division D]
                                                 the evaluation's indicators of a period
                                                 (全程网办率, 网上受理率, …) with their
                                                 numerators and denominators
    govsvc logs checkpoint --db URL              checkpoint the exchange and access logs under
                                                 $GOVSVC_CHECKPOINT_KEY; prints JSON lines for a
                                                 witness to keep (>> witness.jsonl)
    govsvc logs verify --db URL [--witness FILE] check both logs' chains and checkpoints
                                                 (exit 1 if broken)

Operator commands act as the platform itself (the operator holds the database): they are
recorded under the platform principal. Opening a database never publishes plugin items; that
is ``items publish-plugins``.

Errors print one line saying what was wrong and what to do, and exit with status 2.
``GOVSVC_CHECKPOINT_KEY`` holds the checkpoint keys (``id:hex[,id:hex]``, signing key first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from govsvc import demo
from govsvc.audit import Checkpoint, parse_checkpoint_keys
from govsvc.catalogue_io import export_json, import_json
from govsvc.errors import GovsvcError, ImportFileError, InvalidInput
from govsvc.platform import Platform, create_engine
from govsvc.store import migrate
from govsvc.store.chain import ChainReport

DB_HELP = "database URL, e.g. sqlite:///govsvc.db or postgresql+psycopg://user@host/db"
DEFAULT_DB = os.environ.get("GOVSVC_DATABASE_URL", "sqlite:///govsvc.db")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="govsvc",
        description="govsvc operator tools (互联网+政务服务 SDK).",
        epilog="Database URL defaults to $GOVSVC_DATABASE_URL or sqlite:///govsvc.db.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="walk a realistic case through its life and print its trail")
    p.add_argument("--db", default="govsvc-demo.db", help="SQLite file to (re)create")
    p.add_argument(
        "--no-departments",
        action="store_true",
        help="skip the part with the reference departments' simulated legacy systems",
    )

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    p = db.add_parser("upgrade", help="migrate to the newest schema (alembic)")
    p.add_argument("url", help=DB_HELP)
    p.add_argument("--schema", help="PostgreSQL schema to use (created if missing)")

    cal = sub.add_parser("calendar", help="working-day calendar (工作日)").add_subparsers(
        dest="action", required=True
    )
    p = cal.add_parser(
        "load",
        help="load a year's official arrangement or a regional overlay (JSON) into the database",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p = cal.add_parser(
        "refresh", help="recompute open cases' provisional deadlines that loaded years decide"
    )
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p = cal.add_parser("show", help="list a year's holidays and 调休 working days")
    p.add_argument("year", type=int)
    p.add_argument("--db", default=None, help=DB_HELP + " (include years loaded there)")
    p.add_argument("--region", default=None, help="apply a regional overlay, e.g. CN-65")

    items = sub.add_parser("items", help="service item catalogue (事项)").add_subparsers(
        dest="action", required=True
    )
    p = items.add_parser("import", help="publish the items of a catalogue JSON file")
    p.add_argument("file", type=Path)
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p = items.add_parser(
        "publish-plugins", help="publish the service items the installed plugins provide"
    )
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p = items.add_parser("export", help="print every item with all its versions as JSON")
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)

    case = sub.add_parser("case", help="cases (办件)").add_subparsers(dest="action", required=True)
    p = case.add_parser("show", help="a case and its trail, by tracking code or id")
    p.add_argument("code")
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)

    lights = sub.add_parser("lights", help="warning lights (红黄绿灯)").add_subparsers(
        dest="action", required=True
    )
    p = lights.add_parser("sweep", help="compute and store every running case's light")
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p.add_argument("--on", type=dt.date.fromisoformat, help="the day (default today), YYYY-MM-DD")

    p = sub.add_parser(
        "indicators", help="the national evaluation's indicators of a period (政务服务能力评估)"
    )
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    day = dt.date.fromisoformat
    p.add_argument("--since", type=day, help="first day, YYYY-MM-DD (default 1 January)")
    p.add_argument("--until", type=day, help="last day, YYYY-MM-DD (default today)")
    p.add_argument("--department", help="one implementing department's credit code")
    p.add_argument("--division", help="a division code, e.g. 230100")

    logs = sub.add_parser("logs", help="the hash-chained exchange and access logs").add_subparsers(
        dest="action", required=True
    )
    p = logs.add_parser(
        "checkpoint",
        help="checkpoint both logs' heads under $GOVSVC_CHECKPOINT_KEY; print them as JSON lines",
    )
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p = logs.add_parser("verify", help="check both logs' hash chains against their checkpoints")
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p.add_argument(
        "--witness", type=Path, help="JSON lines of checkpoints a witness kept (from checkpoint)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except GovsvcError as exc:
        print(f"govsvc: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        demo.run(Path(args.db), departments=not args.no_departments)
        return 0
    if args.command == "db":
        engine = create_engine(args.url, schema=args.schema)
        migrate.upgrade(engine, schema=args.schema)
        print(f"schema at revision {migrate.current_revision(engine)}")
        engine.dispose()
        return 0
    if args.command == "calendar" and args.action == "load":
        with Platform.open(args.db) as platform:
            years = platform.system().calendar.load(args.file)
        print(f"loaded working-day data for {', '.join(map(str, years))} from {args.file}")
        return 0
    if args.command == "calendar" and args.action == "refresh":
        with Platform.open(args.db) as platform:
            count = platform.system().calendar.refresh()
        print(f"recomputed the provisional deadlines of {count} open case(s)")
        return 0
    if args.command == "calendar" and args.action == "show":
        return _show_year(args.year, args.db, args.region)
    if args.command == "items" and args.action == "import":
        entries = import_json(args.file.read_text(encoding="utf-8"), source=str(args.file))
        with Platform.open(args.db) as platform:
            count = len(platform.system().catalogue.import_items(entries))
        print(f"published {count} new item version(s) from {args.file}")
        return 0
    if args.command == "items" and args.action == "publish-plugins":
        with Platform.open(args.db) as platform:
            count = len(platform.publish_plugin_items())
        print(f"published {count} new item version(s) from the installed plugins")
        return 0
    if args.command == "items" and args.action == "export":
        with Platform.open(args.db) as platform:
            catalogue = platform.system().catalogue
            entries = [
                (item, catalogue.versions(item.implementation_code)) for item in catalogue.items()
            ]
        print(export_json(entries))
        return 0
    if args.command == "case":
        with Platform.open(args.db) as platform:
            cases = platform.system().cases
            found = cases.get(args.code)
            print(
                f"{found.tracking_code}  {found.state.value} ({found.state.label})  "
                f"item {found.item_code} v{found.item_version}  "
                f"applicant {found.applicant_name} {found.applicant.masked()}"
            )
            if found.deadline:
                print(
                    f"due: promised {found.deadline.promised}, statutory {found.deadline.statutory}"
                )
            for event in cases.trail(found):
                print(
                    f"  {event.seq:>3}  {event.at.isoformat(timespec='minutes')}  "
                    f"{event.kind.value} ({event.kind.label})  {event.actor.label}"
                )
            report = cases.verify_trail(found)
        print(_chain_line("trail", report, "event"))
        return 0 if report.ok else 1
    if args.command == "logs":
        return _logs(args)
    if args.command == "indicators":
        with Platform.open(args.db) as platform:
            measured = platform.system().indicators.report(
                since=args.since, until=args.until, department=args.department,
                division=args.division,
            )
        scope = measured.department or measured.division or "all divisions"
        print(f"{measured.since} … {measured.until}, {scope}: {measured.items} item(s)")
        for i in measured.indicators:
            value = i.value
            shown = "—" if value is None else (
                f"{value:.2f} workdays" if i.unit == "workdays" else f"{value * 100:.1f}%"
            )
            print(f"  {i.key:<26} {i.name:<10} {shown:>14}  ({i.numerator:g}/{i.denominator:g})")
        levels = ", ".join(f"{level.value} {n}" for level, n in measured.levels.items())
        print(f"  ratings by level: {levels}")
        return 0
    if args.command == "lights":
        with Platform.open(args.db) as platform:
            swept = platform.system().supervision.sweep_lights(on=args.on)
        print(
            f"{swept.on}: {swept.green} green, {swept.yellow} yellow, {swept.red} red; "
            f"{swept.changed} changed, {swept.warned} warned"
        )
        for case_id, problem in swept.problems.items():
            print(f"  {case_id}: {problem}")
        return 0
    raise AssertionError(f"unhandled command {args}")  # argparse only lets known commands in


def _checkpoint_keys() -> dict[str, bytes]:
    text = os.environ.get("GOVSVC_CHECKPOINT_KEY", "")
    return parse_checkpoint_keys(text) if text else {}


def _logs(args: argparse.Namespace) -> int:
    keys = _checkpoint_keys()
    with Platform.open(args.db, checkpoint_keys=keys) as platform:
        system = platform.system()
        if args.action == "checkpoint":
            if not keys:
                raise InvalidInput(
                    "set GOVSVC_CHECKPOINT_KEY=id:hex (e.g. k2026:$(python -c 'import secrets; "
                    "print(secrets.token_hex(32))')), kept outside the database"
                )
            for point in system.supervision.checkpoint():
                print(json.dumps(point.to_dict(), ensure_ascii=False))
            return 0
        witness = _read_witness(args.witness) if args.witness else []
        reports = [
            ("exchange log", system.departments.verify_exchange_log(witness=witness)),
            ("access log", system.supervision.verify_access_log(witness=witness)),
        ]
    for name, report in reports:
        print(_chain_line(name, report, "record"))
    return 0 if all(r.ok for _, r in reports) else 1


def _read_witness(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the witness file {path}: {exc.strerror}") from None
    points = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            points.append(Checkpoint.from_dict(json.loads(line)))
        except (ValueError, InvalidInput) as exc:
            raise ImportFileError(str(exc), source=str(path), line=n, field=None) from None
    return points


def _chain_line(name: str, report: ChainReport, unit: str) -> str:
    if not report.ok:
        return f"{name}: BROKEN at {unit} {report.first_bad}: {report.reason}"
    anchored = f", checkpointed up to {report.anchored}" if report.anchored else ""
    return f"{name}: intact ({report.checked} {unit}s{anchored})"


def _show_year(year: int, url: str | None, region: str | None) -> int:
    if url:
        with Platform.open(url, calendar_region=region) as platform:
            calendar = platform.calendar
    else:
        from govsvc.calendar import WorkCalendar

        calendar = WorkCalendar.default()
    day = dt.date(year, 1, 1)
    calendar.is_workday(day)  # raises CalendarDataMissing naming how to load the year
    while day.year == year:
        weekend = day.weekday() >= 5
        working = calendar.is_workday(day)
        if weekend == working:  # a holiday on a weekday, or a 调休 working weekend day
            name = calendar.holiday_name(day) or "调休上班"
            print(f"{day}  {'workday' if working else 'holiday'}  {name}")
        day += dt.timedelta(days=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
