"""A realistic case, walked through its whole life on an embedded SQLite file.

Run it with ``make demo`` (or ``govsvc demo`` / ``python -m govsvc.demo``). It publishes the
sample Harbin catalogue, lets 张伟 apply for a food business licence (食品经营许可) online,
sends a one-time notice for the gaps, accepts with 容缺, reviews in two departments in
parallel with a suspension for an on-site inspection, releases the result once the tolerated
material arrives, and prints the trail (全程一码) and the deadlines in working days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.resources
from collections.abc import Callable, Sequence
from pathlib import Path

from govsvc.cases import Case, CaseResult, MaterialKind, ProvidedMaterial, SuspensionReason
from govsvc.catalogue import Channel, Necessity
from govsvc.catalogue_io import import_json
from govsvc.errors import GovsvcError
from govsvc.identity import PartyKey, Person
from govsvc.platform import Platform

CHINA = dt.timezone(dt.timedelta(hours=8))


class DemoClock:
    """Time moves only when the story says so, so the demo prints the same thing every run."""

    def __init__(self, start: dt.datetime) -> None:
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def at(self, day: str, time: str = "09:30") -> None:
        self.moment = dt.datetime.fromisoformat(f"{day}T{time}:00+08:00")


def _materials(platform: Platform, code: str, skip: Sequence[str] = ()) -> list[ProvidedMaterial]:
    version = platform.item_version(code)
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


def run(db_path: Path, out: Callable[[str], None] = print) -> Case:
    """Walk the demo case on a fresh SQLite file at ``db_path``; returns the final case."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    clock = DemoClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA))
    platform = Platform.open(f"sqlite:///{db_path}", clock=clock)
    try:
        return _story(platform, clock, out)
    finally:
        platform.close()


def _story(platform: Platform, clock: DemoClock, out: Callable[[str], None]) -> Case:
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    for item, versions in import_json(text, source="harbin.json"):
        for version in versions:
            platform.publish(item, version)
    out(f"Catalogue: {len(platform.items())} service items published (哈尔滨市 sample).")
    food = next(i for i in platform.items() if i.name == "食品经营许可（新办）")
    version = platform.item_version(food.implementation_code)
    out(f"Item: {food.name}  实施编码 {food.implementation_code}  (version {version.version})")
    out(f"      statutory {version.statutory_limit}, promised {version.promised_limit}")

    zhang = Person(key=PartyKey.of("230103198503120316"), name="张伟", phone="13904510000")
    out(f"\n一号申请: {zhang.name} identified by {zhang.key.masked()}")

    # Monday: online application with two materials missing.
    case = platform.apply(
        food.implementation_code,
        zhang,
        materials=_materials(platform, food.implementation_code, skip=("M04", "M06")),
        form={"经营场所": "哈尔滨市南岗区学府路52号", "经营项目": "热食类食品制售"},
        channel=Channel.PC,
    )
    out(f"Submitted online. Tracking code (全程一码): {_display(case.tracking_code)}")

    clock.at("2026-03-02", "10:15")
    case = platform.prereview(case, actor="窗口 王芳")
    assert case.notice is not None
    out("\n一次性告知 (one-time notice):\n  " + case.notice.text().replace("\n", "\n  "))

    # Tuesday: the applicant supplies the layout plan; the health certificate is still pending.
    clock.at("2026-03-03", "14:00")
    case = platform.resubmit(case, _materials(platform, food.implementation_code, skip=("M06",)))
    try:
        platform.accept(case, actor="窗口 王芳")
    except GovsvcError as exc:
        out(f"\nPlain acceptance refused: {exc}")
    case = platform.accept(case, tolerate=True, actor="窗口 王芳")
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
    case = platform.decide(
        case, first.id, approve=True, reason="材料齐全，符合条件", actor="市场监管 李强"
    )
    case = platform.suspend(
        case,
        SuspensionReason.ON_SITE_INSPECTION,
        notice="需对经营场所进行现场核查，核查期间不计入办理时限。",
        actor="卫健 赵敏",
    )
    out(f"\n挂起 (suspended) for on-site inspection; lights: {_lights(platform, case)}")
    clock.at("2026-03-06", "16:00")
    case = platform.resume(case, actor="卫健 赵敏")
    assert case.deadline is not None
    out(f"Resumed 2026-03-06: promised due moves to {case.deadline.promised}")

    clock.at("2026-03-09", "09:40")
    case = platform.decide(case, second.id, approve=True, reason="现场核查合格", actor="卫健 赵敏")
    out(f"\nAll reviews approved: state {case.state.value} ({case.state.label})")
    result = CaseResult(name="食品经营许可证", number="JY12301030012345", data={"经营者": "张伟"})
    try:
        platform.issue_result(case, result)
    except GovsvcError as exc:
        out(f"Result held back: {exc}")
    case = platform.supply(case, ProvidedMaterial(code="M06", filename="健康证明.pdf"))
    case = platform.issue_result(case, result, actor="制证 孙丽")
    clock.at("2026-03-10", "10:00")
    case = platform.complete(case, delivery="邮寄送达", actor="窗口 王芳")

    out(f"\nTrail of {_display(case.tracking_code)} (what the applicant sees):")
    for event in platform.trail(case.tracking_code):
        local = event.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        out(f"  {event.seq:>2}  {local}  {event.kind:<22} {event.actor}")
    assert case.deadline is not None
    out(
        f"\nDeadlines (working days, 2026 official calendar): accepted {case.deadline.start}, "
        f"promised {case.deadline.promised}, statutory {case.deadline.statutory}; "
        f"completed {case.closed_at.astimezone(CHINA).date() if case.closed_at else '-'} "
        f"→ {case.state.label}"
    )
    return case


def _display(code: str) -> str:
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def _lights(platform: Platform, case: Case) -> str:
    lights = platform.lights(case)
    light = lights.case.value if lights.case else "-"
    return f"case {light}, {lights.workdays_left} working days left, suspended={lights.suspended}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govsvc demo", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="govsvc-demo.db", help="SQLite file (recreated)")
    args = parser.parse_args(argv)
    run(Path(args.db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
