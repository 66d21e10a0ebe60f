"""``govsvc-host demo``: the whole system on one machine, for a person with a browser.

In one process, on loopback ports: the four reference departments' simulated legacy systems
(市场监管, 公安, 人社, 卫健), the demo identity provider (统一身份认证) with its users, and the
host itself over a fresh SQLite file in the data directory, with the sample Harbin catalogue
and the plugins' items published, the demo applicants registered, the staff listed in the
host's directory, a few cases at different stages to work on, and the background jobs in a
thread. It prints the addresses and the logins, then serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

import govsvc
from govsvc import Assurance, Authentication, Principal
from govsvc.ecert import write_demo_keys
from govsvc_host.idp import Directory, create_idp, load_directory
from govsvc_host.serving import serve_in_thread
from govsvc_host.settings import IdentitySettings, Settings, WorkerSettings
from govsvc_host.store import HostStore, StaffRecord

__all__ = ["DemoSystem", "demo_system", "seed"]

log = logging.getLogger("govsvc_host.demo")

SIMULATORS = (("samr", "GOVSVC_SAMR_URL"), ("psb", "GOVSVC_PSB_URL"),
              ("hrss", "GOVSVC_HRSS_URL"), ("health", "GOVSVC_HEALTH_URL"))


@attrs.define
class DemoSystem:
    settings: Settings
    platform: govsvc.Platform
    app: Any
    idp_url: str
    simulators: dict[str, str]
    directory: Directory


def _demo_directory(base_url: str) -> Directory:
    directory = load_directory()
    web = directory.client("govsvc-host")
    assert web is not None, "demo.toml lost the host's web client"
    moved = attrs.evolve(
        web,
        redirect_uris=(f"{base_url}/auth/callback",),
        post_logout_redirect_uris=(f"{base_url}/logout/callback", f"{base_url}/"),
    )
    others = tuple(c for c in directory.clients if c.client_id != "govsvc-host")
    return Directory(directory.users, (*others, moved))


@contextlib.contextmanager
def _simulators(auto_decide: float | None) -> Iterator[dict[str, str]]:
    started: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for short, env in SIMULATORS:
            try:
                module = importlib.import_module(f"govsvc_{short}.simulator")
            except ImportError:
                continue
            url = stack.enter_context(
                serve_in_thread(module.create_app(auto_decide_after=auto_decide),
                                name=f"simulator-{short}")
            )
            os.environ[env] = started[short] = url
        yield started


@contextlib.contextmanager
def demo_system(
    data_dir: Path,
    *,
    port: int = 8000,
    idp_port: int = 8180,
    auto_decide: float | None = None,
    worker: bool = True,
) -> Iterator[DemoSystem]:
    """Everything but the host's own listening socket, started; stopped on exit."""
    from govsvc_host.app import create_app
    from govsvc_host.idp import serve_idp
    from govsvc_host.runtime import open_platform
    from govsvc_host.worker import InProcessWorker

    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data_dir / 'govsvc-host.db'}{suffix}").unlink(missing_ok=True)
    base = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        simulators = stack.enter_context(_simulators(auto_decide))
        directory = _demo_directory(base)
        provider = create_idp(directory=directory)
        # localhost, not 127.0.0.1: browsers share cookies across the ports of one host name,
        # and the provider's login session must not mix with the host's.
        idp_url, stop_idp = serve_idp(idp_port, issuer_host="localhost", provider=provider)
        stack.callback(stop_idp)
        # Demo signing keys for every agency of the sample catalogue, as PEM files beside
        # the database (kept between runs; a real deployment's come from its CA or HSM).
        agencies = sorted({i.agency.credit_code for i, _ in govsvc.load_sample_catalogue()})
        settings = Settings(
            database_url=f"sqlite:///{data_dir / 'govsvc-host.db'}",
            base_url=base,
            materials_dir=data_dir / "materials",
            ecert_keys=write_demo_keys(data_dir / "ecert-keys", agencies),
            identity=IdentitySettings(issuer=idp_url),
            worker=WorkerSettings(mode="thread"),
            session_idle_minutes=120,
            demo=True,
        )
        platform = open_platform(settings, publish_plugin_items=True)
        stack.callback(platform.close)
        seed(platform, directory)
        app = create_app(platform, settings)
        if worker:
            running = InProcessWorker(platform, interval=settings.worker.interval).start()
            stack.callback(running.stop)
        yield DemoSystem(settings, platform, app, idp_url, simulators, directory)


def seed(platform: govsvc.Platform, directory: Directory) -> list[govsvc.Case]:
    """The sample catalogue, the demo people and staff, and a few cases to work on."""
    system = platform.system()
    system.catalogue.import_items(govsvc.load_sample_catalogue())
    store = HostStore(platform)
    store.create()
    login = Authentication(provider="hrb-idp", assurance=Assurance.L3)
    people: dict[str, govsvc.Party] = {}
    for user in directory.users:
        if user.is_staff:
            store.add_staff(StaffRecord(
                subject=f"hrb-idp:{user.sub}", role=user.role.value, staff_id=user.staff_id,
                name=user.name, agency=user.agency, serves=user.serves, hall=user.hall,
                division=user.division,
            ))
            continue
        key = govsvc.PartyKey.of(user.id_number)
        person = govsvc.Person(key=key, name=user.name, phone=user.phone_number or None)
        system.parties.register(person)
        people[user.username] = person
        if user.credit_code:
            company = govsvc.Organisation(key=govsvc.PartyKey.of(user.credit_code),
                                          name=user.org_name, legal_representative=user.name)
            system.parties.register(company)
            people[f"{user.username}@org"] = company
    catalogue = platform.public().catalogue
    codes = {i.name: i.implementation_code for i in catalogue.items()}
    clerk = platform.session(
        Principal.clerk("c-0301", "王芳", agency="12230100MB1A03528R",
                        serves=["11230100013114525L", "11230100MB1935270B",
                                "11230100003108738D", "11230100003109212K"],
                        hall="哈尔滨市政务服务中心", division="230100", auth=login),
        purpose="窗口受理",
    )

    def materials(code: str, skip: tuple[str, ...] = ()) -> list[govsvc.ProvidedMaterial]:
        version = catalogue.version(code)
        return [
            govsvc.ProvidedMaterial(
                code=m.code,
                kind=govsvc.MaterialKind.ECERT if m.ecert_type else govsvc.MaterialKind.PAPER,
                reference=f"1.2.156.3005.2.{m.ecert_type}" if m.ecert_type else "纸质原件已核",
            )
            for m in version.materials
            if m.necessity is not govsvc.Necessity.OPTIONAL and m.code not in skip
        ]

    made: list[govsvc.Case] = []
    food = codes["食品经营许可（新办）"]
    agent = people["zhangwei.bingcheng"]
    org = people["zhangwei.bingcheng@org"]
    assert isinstance(agent, govsvc.Person)
    owner = platform.session(Principal.agent(agent.key, agent.name, organisation=org.key,
                                             auth=login))
    form = {"经营场所": "哈尔滨市南岗区学府路52号", "经营项目": "热食类食品制售"}
    # Waiting at the window for pre-review (submitted online, one material missing).
    made.append(owner.cases.apply(food, org, materials=materials(food, skip=("M04",)),
                                  form=form, channel=govsvc.Channel.PC))
    # In review at 市场监管局 and 卫健委 (both decide in parallel).
    beifang = people["wangxiuying.beifang@org"]
    worker_agent = people["wangxiuying.beifang"]
    assert isinstance(worker_agent, govsvc.Person)
    case = clerk.cases.apply(food, beifang, materials=materials(food), agent=worker_agent,
                             form={"经营场所": "哈尔滨市道里区经纬街8号",
                                   "经营项目": "预包装食品销售"})
    made.append(clerk.cases.accept(clerk.cases.prereview(case, automated=False)))
    # 户口迁移 accepted with 容缺 (the host's consent letter to follow), at 公安局.
    lina = people["lina"]
    move = codes["户口迁移（市内跨区迁移）"]
    case = clerk.cases.apply(
        move, lina, materials=materials(move, skip=("M04",)),
        form={"registrationType": "户口迁移", "idNumber": lina.key.number,
              "householdNumber": "230103000152", "relationToHead": "其他",
              "迁入地址": "南岗区学府路52号"},
    )
    made.append(clerk.cases.accept(case, tolerate=True))
    # 社会保障卡申领 accepted, at 人社局.
    card = codes["社会保障卡申领"]
    case = clerk.cases.apply(card, people["liuyang"], materials=materials(card))
    made.append(clerk.cases.accept(case))
    return made


def banner(system: DemoSystem, out: Callable[[str], None] = print) -> None:
    """The addresses and the demo logins."""
    s = system.settings
    out("")
    out("govsvc 参考宿主演示 (reference host demo)")
    out(f"  host (open this):      {s.base_url}/")
    out(f"  identity provider:     {system.idp_url}/  (every password: govsvc-demo)")
    for name, url in system.simulators.items():
        out(f"  {name:<6} legacy system: {url}/health")
    out(f"  citizen portal:        {s.base_url}/portal  (zhangwei; the SMS outbox "
        f"{s.base_url}/portal/sms as zhenghao)")
    out(f"  REST API / OpenAPI:    {s.base_url}/api/v1/items   {s.base_url}/openapi.json")
    out(f"  health / metrics:      {s.base_url}/healthz   {s.base_url}/metrics")
    out(f"  database:              {s.database_url}")
    out("")
    out("  Demo logins (or pick the person on the login page):")
    for user in system.directory.users:
        where = user.hall or user.org_name or user.label
        out(f"    {user.username:<22} {user.name:<4} {user.role.value:<16} {where}")
    out("")
    out(f"  Seeded {dt.date.today():%Y-%m-%d}: cases waiting at the window (wangfang), in review "
        "at 市场监管/卫健/公安/人社 (liming, zhaomin, gaojun, heyan). Ctrl-C stops everything.")
