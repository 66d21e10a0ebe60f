"""A realistic case, walked through its whole life on an embedded SQLite file.

Run it with ``make demo`` (or ``govsvc demo`` / ``python -m govsvc.demo``). It publishes the
sample Harbin catalogue, lets 张伟 apply for a food business licence (食品经营许可) online,
sends a one-time notice for the gaps, accepts with 容缺, reviews in two departments in
parallel with a suspension for an on-site inspection, releases the result once the tolerated
material arrives, and prints the trail (全程一码) and the deadlines in working days.

When the reference department plugins are installed (``make`` installs them), a second part
starts their simulated legacy systems on loopback ports and shows 一数一源 and 一网通办 over
real HTTP: 张伟's profile gathered from four departments at once with the source of every
attribute, then a second application whose review tasks travel through the outbox to 市场监管
and 卫健's systems, whose decisions and licence come back by polling, with every exchange in
the hash-chained log. ``--no-departments`` skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.resources
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from govsvc import (
    Assurance,
    Authentication,
    Case,
    CaseResult,
    CaseState,
    Channel,
    GovsvcError,
    MaterialKind,
    Necessity,
    Organisation,
    PartyKey,
    PermissionDenied,
    Person,
    Platform,
    Principal,
    ProvidedMaterial,
    Session,
    SuspensionReason,
    import_json,
)

CHINA = dt.timezone(dt.timedelta(hours=8))
SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"  # 市场监管局, 卫健委
LOGIN = Authentication(provider="demo", assurance=Assurance.L3)  # the demo's logins
ZHANG = Person(key=PartyKey.of("230103198503120316"), name="张伟", phone="13904510000")


class DemoClock:
    """Time moves only when the story says so, so the demo prints the same thing every run."""

    def __init__(self, start: dt.datetime) -> None:
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def at(self, day: str, time: str = "09:30") -> None:
        self.moment = dt.datetime.fromisoformat(f"{day}T{time}:00+08:00")


def _materials(platform: Platform, code: str, skip: Sequence[str] = ()) -> list[ProvidedMaterial]:
    version = platform.public().catalogue.version(code)
    return [
        ProvidedMaterial(
            code=m.code,
            kind=MaterialKind.ECERT if m.ecert_type else MaterialKind.UPLOAD,
            reference=f"1.2.156.3005.2.{m.ecert_type}" if m.ecert_type else f"sha256:{m.code}",
            filename="" if m.ecert_type else f"{m.code}.{m.formats[0]}",
        )
        for m in version.materials
        if m.necessity is not Necessity.OPTIONAL and m.code not in skip
    ]


def run(db_path: Path, out: Callable[[str], None] = print, *, departments: bool = False) -> Case:
    """Walk the demo case on a fresh SQLite file at ``db_path``; returns the final case.

    With ``departments=True`` the reference plugins' simulators are started and the second
    part runs (see the module docstring); it is skipped with a note if none is installed.
    """
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    clock = DemoClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA))
    with contextlib.ExitStack() as stack:
        started = stack.enter_context(_simulators(out)) if departments else {}
        platform = Platform.open(
            f"sqlite:///{db_path}", clock=clock, load_entry_points=True, publish_plugin_items=True
        )
        stack.callback(platform.close)
        case = _story(platform, clock, out)
        if started:
            _departments_story(platform, clock, out)
        return case


def _sessions(platform: Platform) -> dict[str, Session]:
    """Everyone in the story, each bound to a principal the platform's policy knows."""
    people = {
        "zhang": Principal.applicant(ZHANG.key, ZHANG.name, auth=LOGIN),
        "wang": Principal.clerk(
            "HRB-0301", "王芳", agency=SAMR, serves=[HEALTH], hall="南岗区政务服务中心", auth=LOGIN
        ),
        "li": Principal.reviewer("SAMR-1102", "李强", department=SAMR, auth=LOGIN),
        "zhao": Principal.reviewer("HEALTH-0207", "赵敏", department=HEALTH, auth=LOGIN),
        "sun": Principal.approver("SAMR-0001", "孙丽", department=SAMR, auth=LOGIN),
    }
    return {name: platform.session(p, purpose="食品经营许可审查") for name, p in people.items()}


def _story(platform: Platform, clock: DemoClock, out: Callable[[str], None]) -> Case:
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    system = platform.system()
    system.catalogue.import_items(import_json(text, source="harbin.json"))
    catalogue = platform.public().catalogue
    out(f"Catalogue: {len(catalogue.items())} service items published (哈尔滨市 sample).")
    food = next(i for i in catalogue.items() if i.name == "食品经营许可（新办）")
    version = catalogue.version(food.implementation_code)
    out(f"Item: {food.name}  实施编码 {food.implementation_code}  (version {version.version})")
    out(f"      statutory {version.statutory_limit}, promised {version.promised_limit}")
    s = _sessions(platform)
    out(f"\n一号申请: {ZHANG.name} identified by {ZHANG.key.masked()}, logged in at L3")

    # Monday: online application with two materials missing.
    case = s["zhang"].cases.apply(
        food.implementation_code,
        ZHANG,
        materials=_materials(platform, food.implementation_code, skip=("M04", "M06")),
        form={"经营场所": "哈尔滨市南岗区学府路52号", "经营项目": "热食类食品制售"},
        channel=Channel.PC,
    )
    out(f"Submitted online. Tracking code (全程一码): {_display(case.tracking_code)}")

    clock.at("2026-03-02", "10:15")
    case = s["wang"].cases.prereview(case)
    assert case.notice is not None
    out("\n一次性告知 (one-time notice):\n  " + case.notice.text().replace("\n", "\n  "))

    # Tuesday: the applicant supplies the layout plan; the health certificate is still pending.
    clock.at("2026-03-03", "14:00")
    case = s["zhang"].cases.resubmit(
        case, _materials(platform, food.implementation_code, skip=("M06",))
    )
    try:
        s["wang"].cases.accept(case)
    except GovsvcError as exc:
        out(f"\nPlain acceptance refused: {exc}")
    case = s["wang"].cases.accept(case, tolerate=True)
    assert case.deadline is not None
    out(
        f"Accepted with 容缺 on {case.deadline.start}: M06 due {case.tolerated[0].due}; "
        f"promised due {case.deadline.promised}, statutory due {case.deadline.statutory}"
    )
    for task in case.open_tasks:
        out(f"  review task {task.id[:8]} → department {task.department} ({task.stage_name})")

    # Wednesday: market regulation approves; health commission inspects on site first.
    clock.at("2026-03-04", "11:00")
    first, second = case.open_tasks
    try:
        s["li"].reviews.decide(case, second.id, approve=True)
    except PermissionDenied as exc:
        out(f"\n{exc}")
    case = s["li"].reviews.decide(case, first.id, approve=True, reason="材料齐全，符合条件")
    case = s["zhao"].cases.suspend(
        case,
        SuspensionReason.ON_SITE_INSPECTION,
        notice="需对经营场所进行现场核查，核查期间不计入办理时限。",
    )
    out(f"\n挂起 (suspended) for on-site inspection; lights: {_lights(s['zhao'], case)}")
    clock.at("2026-03-06", "16:00")
    case = s["zhao"].cases.resume(case)
    assert case.deadline is not None
    out(f"Resumed 2026-03-06: promised due moves to {case.deadline.promised}")

    clock.at("2026-03-09", "09:40")
    case = s["zhao"].reviews.decide(case, second.id, approve=True, reason="现场核查合格")
    out(f"\nAll reviews approved: state {case.state.value} ({case.state.label})")
    result = CaseResult(name="食品经营许可证", number="JY12301030012345", data={"经营者": "张伟"})
    try:
        s["sun"].cases.issue_result(case, result)
    except GovsvcError as exc:
        out(f"Result held back: {exc}")
    case = s["zhang"].cases.supply(case, ProvidedMaterial(code="M06", filename="健康证明.pdf"))
    case = s["sun"].cases.issue_result(case, result)
    clock.at("2026-03-10", "10:00")
    case = s["wang"].cases.complete(case, delivery="邮寄送达")

    out(f"\nTrail of {_display(case.tracking_code)} (what the applicant sees: staff masked):")
    for event in s["zhang"].cases.trail(case.tracking_code):
        local = event.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        out(f"  {event.seq:>2}  {local}  {event.kind.value:<22} {event.actor.label}")
    assert case.deadline is not None
    out(
        f"\nDeadlines (working days, 2026 official calendar): accepted {case.deadline.start}, "
        f"promised {case.deadline.promised}, statutory {case.deadline.statutory}; "
        f"completed {case.closed_at.astimezone(CHINA).date() if case.closed_at else '-'} "
        f"→ {case.state.label}"
    )
    return case


# --- part two: departments over real HTTP -----------------------------------------------------

_REFERENCE = (
    # plugin, env variable for its address, simulator options for the demo
    ("samr", "GOVSVC_SAMR_URL", {"auto_decide_after": 0.2}),
    ("psb", "GOVSVC_PSB_URL", {"auto_decide_after": 0.2}),
    ("hrss", "GOVSVC_HRSS_URL", {"auto_decide_after": 0.2}),
    ("health", "GOVSVC_HEALTH_URL", {"auto_decide_after": 0.2}),
)


@contextlib.contextmanager
def _simulators(out: Callable[[str], None]) -> Iterator[dict[str, str]]:
    """Start the installed reference simulators on free loopback ports; point plugins at them."""
    try:
        import uvicorn
    except ImportError:
        out("(departments part skipped: uvicorn is not installed; run `make demo`)")
        yield {}
        return
    servers: list[tuple[Any, threading.Thread]] = []
    started: dict[str, str] = {}
    saved = {env: os.environ.get(env) for _, env, _ in _REFERENCE}
    try:
        for short, env, options in _REFERENCE:
            try:
                module = importlib.import_module(f"govsvc_{short}.simulator")
            except ImportError:
                continue
            config = uvicorn.Config(
                module.create_app(**options),
                host="127.0.0.1",
                port=0,
                log_level="warning",
                lifespan="off",
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name=f"sim-{short}", daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not server.started:
                raise RuntimeError(f"the {short} simulator did not start")
            port = server.servers[0].sockets[0].getsockname()[1]
            os.environ[env] = started[short] = f"http://127.0.0.1:{port}"
            servers.append((server, thread))
        if not started:
            out("(departments part skipped: no reference department plugin is installed)")
        yield started
    finally:
        for server, _ in servers:
            server.should_exit = True
        for _, thread in servers:
            thread.join(timeout=5)
        for env, value in saved.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def _departments_story(platform: Platform, clock: DemoClock, out: Callable[[str], None]) -> None:
    names = {code: d.name for code, d in platform.departments.items()}
    out(f"\n=== Departments over loopback HTTP: {', '.join(names.values())} ===")
    s = _sessions(platform)
    profile = s["wang"].parties.identify(ZHANG.key, purpose="办理食品经营许可（演示）")
    out("一数一源: 张伟's profile, each attribute with its source department")
    for attribute in sorted(profile.attributes):
        value = profile.attributes[attribute]
        mark = "authoritative" if value.authoritative else "reported"
        shown = value.value if isinstance(value.value, str | int) else type(value.value).__name__
        out(f"  {attribute:<22} {str(shown)[:40]:<40} {mark} by {value.source_name}")
    for d in profile.disagreements:
        out(f"  ! {d.attribute}: departments disagree; {names.get(d.chosen, d.chosen)} wins")
    for code, reason in profile.unavailable.items():
        out(f"  ! {names.get(code, code)} unavailable: {reason}")

    food = next(i for i in platform.public().catalogue.items() if i.name == "食品经营许可（新办）")
    restaurant = Organisation(
        key=PartyKey.of("91230103MA1BX4K238"),
        name="哈尔滨市冰城饺子馆有限公司",
        legal_representative="张伟",
    )
    clock.at("2026-03-11", "09:00")
    owner = platform.session(
        Principal.agent(ZHANG.key, ZHANG.name, organisation=restaurant.key, auth=LOGIN)
    )
    case = owner.cases.apply(
        food.implementation_code,
        restaurant,
        materials=_materials(platform, food.implementation_code),
        form={
            "holderName": restaurant.name,
            "经营场所": "哈尔滨市南岗区学府路52号",
            "经营项目": "热食类食品制售",
        },
    )
    case = s["wang"].cases.accept(case)
    worker = platform.system().departments
    report = worker.deliver()
    out(
        f"\nSecond application {_display(case.tracking_code)} accepted; outbox delivered "
        f"{report.delivered} review task(s) to the legacy systems, {report.manual} handled "
        "in a department queue"
    )
    for error in report.errors:
        out(f"  ! {error}")
    again = worker.deliver()
    out(f"  delivering again sends {again.delivered} (the task id is the idempotency key)")
    for _ in range(50):  # the simulators decide after 0.2 s
        time.sleep(0.1)
        worker.poll()
        if owner.cases.get(case.id).state is not CaseState.IN_REVIEW:
            break
    final = owner.cases.get(case.id)
    result = f", licence {final.result.number}" if final.result else ""
    out(f"  decisions polled: {final.state.value} ({final.state.label}){result}")
    for event in owner.cases.trail(final)[-4:]:
        out(f"    {event.seq:>2} {event.kind.value:<16} {event.actor.label}")
    chain = worker.verify_exchange_log()
    out(f"Exchange log: {chain.checked} records, hash chain {'intact' if chain.ok else 'BROKEN'}")


def _display(code: str) -> str:
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def _lights(session: Session, case: Case) -> str:
    lights = session.cases.lights(case)
    light = lights.case.value if lights.case else "-"
    return f"case {light}, {lights.workdays_left} working days left, suspended={lights.suspended}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govsvc demo", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="govsvc-demo.db", help="SQLite file (recreated)")
    parser.add_argument(
        "--no-departments",
        action="store_true",
        help="skip the part with the reference departments' simulated legacy systems",
    )
    args = parser.parse_args(argv)
    run(Path(args.db), departments=not args.no_departments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
