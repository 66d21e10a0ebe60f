"""The reference host over HTTP: case-status look-ups and case creations, against bare FastAPI.

    .venv/bin/python bench/host_http.py                 # 10,000 cases, SQLite and PostgreSQL
    .venv/bin/python bench/host_http.py --db sqlite --seconds 5

1. Seeds a fresh database with ``--cases`` cases (through the SDK, as a window clerk), then
   serves the host (``create_app``) with uvicorn on loopback in a child process.
2. A load client in another process (``wrk`` when installed, else a small asyncio client of
   this file) keeps ``--concurrency`` connections busy for ``--seconds`` on the public
   progress look-up ``GET /api/v1/track?code=…&suffix=…`` (办件进度查询: a random stored case
   each time, the full path — session middleware, principal, policy, SQL, JSON) and reports
   requests/s and p99.
3. In the same run, the same client against a bare FastAPI app (``async def`` returning a
   constant) under the same uvicorn settings: the ceiling of the stack on this machine.
4. Case creations over HTTP (``POST /api/v1/applications`` as a clerk, browser session with
   its CSRF header) on SQLite and on PostgreSQL.

Prints each figure, and last ``ratio=<host look-ups/s ÷ bare/s>`` (target ≥ 0.3, p99 < 50 ms;
creations target ≥ 250/s on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SECRET = "bench-secret-0123456789abcdef"
CSRF = "bench-csrf-token-0123456789"
ITEM = "11230100003109212K3002005001000"  # 社会保障卡申领 (人社局)
APPLICANT = "230109198801150175"  # 刘洋
PG_URL = os.environ.get("GOVSVC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLERK_CLAIMS = {
    "sub": "bench-clerk", "name": "王芳", "acr": "L3", "govsvc_role": "clerk",
    "govsvc_staff_id": "c-0301", "govsvc_agency": "12230100MB1A03528R",
    "govsvc_serves": ["11230100003109212K"], "govsvc_hall": "哈尔滨市政务服务中心",
}


# --- the servers (child processes) -------------------------------------------------------------


def settings(url: str, schema: str | None, data: Path) -> Any:
    from govsvc_host.settings import Settings

    return Settings(database_url=url, database_schema=schema, session_secret=SECRET,
                    materials_dir=data / "materials", rate_lookup="100000000/second",
                    session_idle_minutes=600)


def serve(kind: str, port: int, url: str, schema: str | None, data: Path) -> None:
    import uvicorn

    if kind == "bare":
        from fastapi import FastAPI

        app: Any = FastAPI()

        @app.get("/c")
        async def constant() -> dict[str, str]:
            return {"state": "submitted", "state_label": "已提交"}
    else:
        from govsvc_host.app import create_app

        import govsvc

        platform = govsvc.Platform.open(url, schema=schema, load_entry_points=False,
                                        provisional_calendar=True, migrate_schema=False)
        app = create_app(platform, settings(url, schema, data))
    from govsvc_host.serving import UVICORN_OPTIONS

    # Both apps under the host's own uvicorn settings (httptools, asyncio's loop).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                **UVICORN_OPTIONS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, kind: str, url: str = "", schema: str | None = None,
                 data: Path = Path(".")) -> None:
        self.port = free_port()
        args = [sys.executable, str(HERE), "--serve", kind, "--port", str(self.port),
                "--url", url, "--data", str(data)] + (["--schema", schema] if schema else [])
        self.process = subprocess.Popen(args)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"the {kind} server exited while starting") from None
                time.sleep(0.1)
        raise SystemExit(f"the {kind} server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- seeding -----------------------------------------------------------------------------------


def seed(url: str, schema: str | None, cases: int) -> list[str]:
    import govsvc

    platform = govsvc.Platform.open(url, schema=schema, load_entry_points=False,
                                    provisional_calendar=True)
    try:
        platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
        from govsvc_host.store import HostStore

        HostStore(platform).create()
        login = govsvc.Authentication(provider="bench", assurance=govsvc.Assurance.L3)
        clerk = platform.session(govsvc.Principal.clerk(
            "c-0301", "王芳", agency="12230100MB1A03528R", serves=["11230100003109212K"],
            hall="哈尔滨市政务服务中心", auth=login), purpose="窗口受理")
        person = govsvc.Person(key=govsvc.PartyKey.of(APPLICANT), name="刘洋")
        material = [govsvc.ProvidedMaterial(code="M01", kind=govsvc.MaterialKind.ECERT,
                                            reference="居民身份证电子证照")]
        codes = []
        for _ in range(cases):
            codes.append(clerk.cases.apply(ITEM, person, materials=material).tracking_code)
        return codes
    finally:
        platform.close()


def clerk_cookie() -> str:
    import itsdangerous

    data = {"govsvc_auth": {"claims": CLERK_CLAIMS, "id_token": "", "provider": "hrb-idp"},
            "govsvc_host.seen": time.time(), "govsvc_host.csrf": CSRF}
    signer = itsdangerous.TimestampSigner(SECRET)
    return signer.sign(base64.b64encode(json.dumps(data).encode())).decode()


APPLICATION = json.dumps({
    "item_code": ITEM,
    "applicant": {"number": APPLICANT, "name": "刘洋"},
    "materials": [{"code": "M01", "kind": "ecert", "reference": "居民身份证电子证照"}],
}, ensure_ascii=False)


# --- load clients ------------------------------------------------------------------------------


def run_wrk(port: int, seconds: int, concurrency: int, script: str, env: dict[str, str]
            ) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", f.name,
         f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    ).stdout
    os.unlink(f.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {"rate": rate, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0,
            "non2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


LOOKUP_LUA = """
local codes = {}
for line in io.lines(os.getenv("CODES")) do codes[#codes + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/track?code=" .. codes[math.random(#codes)] .. "&suffix=0175")
end
"""
BARE_LUA = 'request = function() return wrk.format("GET", "/c") end\n'
CREATE_LUA = """
wrk.method = "POST"
wrk.path = "/api/v1/applications"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-CSRF-Token"] = os.getenv("CSRF")
wrk.headers["Cookie"] = "govsvc_host=" .. os.getenv("COOKIE")
"""


async def _python_client(port: int, seconds: float, concurrency: int,
                         make: Any) -> dict[str, float]:
    # A minimal keep-alive HTTP/1.1 client: enough to load a server without being the
    # bottleneck the way a full client library would be on a 2-core machine.
    latencies: list[float] = []
    bad = 0
    stop_at = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            writer.write(make())
            await writer.drain()
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status.split()[1].startswith((b"2", b"3")):
                bad += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rate": len(latencies) / elapsed,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
            "non2xx": float(bad), "socket_errors": 0.0}


def load(port: int, seconds: int, concurrency: int, kind: str, env: dict[str, str],
         client: str) -> dict[str, float]:
    if client == "wrk":
        script = {"lookup": LOOKUP_LUA, "bare": BARE_LUA, "create": CREATE_LUA}[kind]
        return run_wrk(port, seconds, concurrency, script, env)
    args = [sys.executable, str(HERE), "--client", kind, "--port", str(port),
            "--seconds", str(seconds), "--concurrency", str(concurrency)]
    out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env},
                         check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def client_main(kind: str, port: int, seconds: int, concurrency: int) -> None:
    host = f"Host: 127.0.0.1:{port}\r\n"
    if kind == "lookup":
        codes = Path(os.environ["CODES"]).read_text().split()

        def make() -> bytes:
            path = f"/api/v1/track?code={random.choice(codes)}&suffix=0175"
            return f"GET {path} HTTP/1.1\r\n{host}\r\n".encode()
    elif kind == "bare":
        def make() -> bytes:
            return f"GET /c HTTP/1.1\r\n{host}\r\n".encode()
    else:
        body = os.environ["BODY"].encode()
        head = (f"POST /api/v1/applications HTTP/1.1\r\n{host}Content-Type: application/json"
                f"\r\nX-CSRF-Token: {os.environ['CSRF']}\r\nCookie: govsvc_host="
                f"{os.environ['COOKIE']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()

        def make() -> bytes:
            return head + body
    print(json.dumps(asyncio.run(_python_client(port, seconds, concurrency, make))))


# --- the run -----------------------------------------------------------------------------------


def fresh_pg_schema() -> str:
    return f"bench_http_{secrets.token_hex(3)}"


def drop_pg_schema(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def show(label: str, r: dict[str, float]) -> None:
    extra = f"  non-2xx {int(r['non2xx'])}" if r["non2xx"] else ""
    print(f"{label:<44} {r['rate']:>9.0f} req/s   p99 {r['p99_ms']:>7.1f} ms{extra}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--load-client", choices=["wrk", "python"],
                        default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.url, args.schema, Path(args.data))
        return
    if args.client:
        client_main(args.client, args.port, args.seconds, args.concurrency)
        return

    client = args.load_client
    print(f"load client: {client}, {args.concurrency} connections, {args.seconds} s per run; "
          f"{os.cpu_count()} CPUs", flush=True)
    work = Path(tempfile.mkdtemp(prefix="govsvc-bench-http-"))
    url = f"sqlite:///{work / 'bench.db'}"
    started = time.perf_counter()
    codes = seed(url, None, args.cases)
    print(f"seeded {len(codes)} cases on SQLite in {time.perf_counter() - started:.1f} s",
          flush=True)
    (work / "codes.txt").write_text("\n".join(codes))
    env = {"CODES": str(work / "codes.txt"), "BODY": APPLICATION, "CSRF": CSRF,
           "COOKIE": clerk_cookie()}

    host = Server("host", url, None, work)
    try:
        load(host.port, 2, args.concurrency, "lookup", env, client)  # warm-up
        lookups = load(host.port, args.seconds, args.concurrency, "lookup", env, client)
    finally:
        host.stop()
    bare = Server("bare", data=work)
    try:
        load(bare.port, 2, args.concurrency, "bare", env, client)
        constant = load(bare.port, args.seconds, args.concurrency, "bare", env, client)
    finally:
        bare.stop()

    creations: dict[str, dict[str, float]] = {}
    if args.db in ("sqlite", "both"):
        host = Server("host", url, None, work)
        try:
            creations["SQLite"] = load(host.port, args.seconds, args.concurrency, "create", env,
                                       client)
        finally:
            host.stop()
    if args.db in ("postgres", "both"):
        schema = fresh_pg_schema()
        try:
            seed(PG_URL, schema, 10)
            host = Server("host", PG_URL, schema, work)
            try:
                creations["PostgreSQL"] = load(host.port, args.seconds, args.concurrency,
                                               "create", env, client)
            finally:
                host.stop()
        finally:
            drop_pg_schema(schema)
    shutil.rmtree(work, ignore_errors=True)

    print()
    show(f"host  GET /api/v1/track ({len(codes)} cases)", lookups)
    show("bare  FastAPI constant (async def)", constant)
    for name, result in creations.items():
        show(f"host  POST /api/v1/applications, {name}", result)
    print(f"ratio={lookups['rate'] / constant['rate']:.2f}")


if __name__ == "__main__":
    main()
