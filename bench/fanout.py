"""Department fan-out: ``Platform.identify()`` across simulated departments over loopback HTTP.

A child process serves ``--departments`` (5) simulated legacy systems on free 127.0.0.1 ports
(one uvicorn server, one socket per department, a bare ASGI app that waits ``--delay`` (50 ms)
and answers a JSON profile). The servers live in their own process so their CPU does not
compete with the platform for this process's GIL. The platform is opened on a temporary
SQLite file with one plugin object that registers a :class:`govsvc.Department` per server,
each with an httpx adapter (one ``AsyncClient`` per adapter, created on first use on the
platform's department loop).

1. Sequential: ``--calls`` (50) ``identify()`` calls one after another, after ``--warmup`` (5).
   Printed: mean identify time, the slowest department's mean latency as the adapters measured
   it (the max over departments of the mean time spent inside the adapter call), and
   ``ratio = mean identify / that``: a perfect fan-out gives ~1, calling departments one after
   another would give ~5. Target ≤ 1.3.
2. Concurrent: ``--concurrent`` (200) ``identify()`` calls released at once from a thread pool.
   Printed: completed, errors (an exception, or a Profile with any unavailable department),
   wall time, calls/s, latency percentiles, CPU of this process, the servers and the whole
   machine (other processes on a shared machine starve the loop thread), the loop thread's
   CPU and lag, and the exchange-log write times. Target 0 errors.

Adapter settings (defaults): 10 connections per department, as many kept alive, and at most 10
requests handed to httpx at once (the rest wait on an ``asyncio.Semaphore``). With httpx's
own defaults (``--httpx-defaults``: 100 connections, 20 kept alive, no cap) httpcore 1.0.9
closes idle connections whenever more than 20 exist (it compares the keep-alive limit with
*all* connections), reconnects for almost every request, and rescans every connection and
queued request on every request start and finish; the burst then outlives the 5 s department
timeout, retries add load and the circuits open.

    python bench/fanout.py
    python bench/fanout.py --calls 200 --concurrent 500 --max-connections 15
    python bench/fanout.py --httpx-defaults  # plain httpx limits: shows the collapse
    python bench/fanout.py --profile         # cProfile of the loop thread (and the caller)

3. The same calls from a bare aiohttp client (one session per department, as many
   connections as an adapter's pool, one loop), ``--concurrent`` fan-outs at once, alternating
   with the concurrent phase for ``--rounds`` (2) rounds each (ABBA).

Printed last: ``ratio=<mean identify ms ÷ slowest department's mean ms>``, ``errors=`` (both
sides, target 0) and ``concurrency_ratio=<govsvc identify()/s ÷ aiohttp fan-outs/s>``
(target ≥ 0.5).
"""

from __future__ import annotations

import os
import sys

# bench/http.py is named like the standard library's http package, and Python puts the
# script's directory first on sys.path: take it off while the standard library's http (which
# httpx, urllib and so govsvc import) is imported, then put it back for _common.
_HERE_DIR = os.path.dirname(os.path.abspath(__file__))
_PATH = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE_DIR]
import http.client  # noqa: F401

sys.path[:] = _PATH

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import select
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import citizen_number, machine_note

import govsvc

# --------------------------------------------------------------------------------------------
# The simulated departments: what each one is and what it answers.

DIVISION = "230100"  # 哈尔滨市
DEPARTMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("哈尔滨市公安局（模拟）", ("name", "sex", "birth_date", "address", "ethnicity")),
    ("哈尔滨市人力资源和社会保障局（模拟）", ("social_security_card", "insured_status")),
    ("哈尔滨市市场监督管理局（模拟）", ("enterprises",)),
    ("哈尔滨市卫生健康委员会（模拟）", ("birth_certificate",)),
    ("哈尔滨市民政局（模拟）", ("marital_status",)),
)


def department_code(index: int) -> str:
    """A valid, distinct credit code (统一社会信用代码) for simulated department ``index``.

    "11" (机构编制, 机关) + the division + an organisation code with its own check character.
    """
    organisation = f"0131{index:04d}"
    first17 = (
        "11" + DIVISION + organisation + govsvc.CreditCode.organisation_check_char(organisation)
    )
    return first17 + govsvc.CreditCode.check_char(first17)


def simulated_profile(index: int, number: str) -> dict[str, Any]:
    """What department ``index`` holds about the person with citizen ID ``number``."""
    if index % len(DEPARTMENTS) == 0:
        return {
            "name": "张三",
            "sex": "male" if int(number[16]) % 2 else "female",
            "birth_date": f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
            "address": "黑龙江省哈尔滨市南岗区中山路 1 号",
            "ethnicity": "汉族",
            "household_number": f"HH{number[-6:]}",
        }
    if index % len(DEPARTMENTS) == 1:
        return {"name": "张三", "social_security_card": f"S{number}", "insured_status": "paying"}
    if index % len(DEPARTMENTS) == 2:
        return {"enterprises": [{"name": "哈尔滨张三餐饮有限公司", "role": "法定代表人"}]}
    if index % len(DEPARTMENTS) == 3:
        return {"birth_certificate": f"Q{number[8:17]}"}  # the canonical form: edition + 9 digits
    return {"marital_status": "married"}


# --------------------------------------------------------------------------------------------
# Server side (child process): one uvicorn server, one listening socket per department.


def make_app(ports: Sequence[int], delay: float) -> Callable[..., Awaitable[None]]:
    """A bare ASGI app: ``GET /profile/<number>`` answers after ``delay`` seconds.

    The department is told apart by the local port the request came in on.
    """
    index_of = {port: i for i, port in enumerate(ports)}

    async def app(
        scope: Mapping[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(delay)
        path = str(scope["path"])
        if not path.startswith("/profile/"):
            status, body = 404, b'{"error":"not found"}'
        else:
            number = path.removeprefix("/profile/")
            answer = simulated_profile(index_of[scope["server"][1]], number)
            status, body = 200, json.dumps(answer, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def serve(count: int, delay: float) -> None:
    """Bind ``count`` free loopback ports, print them as one JSON line, serve until killed."""
    import uvicorn

    sockets = []
    for _ in range(count):
        # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is
        # IPPROTO_TCP, and with proto 0 uvicorn's separate header and body writes meet Nagle
        # plus the client's delayed ACK: +40 ms on every keep-alive request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    config = uvicorn.Config(
        make_app(ports, delay),
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_keep_alive=60,
    )
    print(json.dumps(ports), flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=sockets))


@contextmanager
def department_servers(count: int, delay: float) -> Iterator[tuple[list[int], int]]:
    """Start the server process; yield ``(ports, pid)``; stop it afterwards."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if ready else ""
        if not line:
            raise SystemExit("the department servers did not start within 30 s")
        ports = [int(p) for p in json.loads(line)]
        for port in ports:  # each answers before anything is timed
            httpx.get(f"http://127.0.0.1:{port}/profile/{citizen_number(0)}", timeout=10)
        yield ports, child.pid
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far (Linux ``/proc/stat``; NaN elsewhere).

    Other processes (a colleague's test run) take CPU from the department loop thread; the
    concurrent phase prints how busy the machine was so such runs can be recognised.
    """
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan"), float("nan")
    idle = ticks[3] + ticks[4]  # idle + iowait
    return float(sum(ticks) - idle), float(sum(ticks))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Platform side: the adapter and the plugin.


class HttpProfileAdapter:
    """An httpx adapter to one simulated department; offers ``profile`` only.

    The ``AsyncClient`` is created on first use, on the loop that runs the call (the
    platform's department loop): an httpx client must be created and used on one loop.
    ``max_in_flight`` (0: no limit) caps the requests handed to httpx at once; the rest wait
    on a semaphore instead of in httpcore's pool queue, which httpcore rescans on every
    request start and finish. ``latencies`` collects the seconds spent inside each
    ``profile`` call (semaphore wait included).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float,
        limits: httpx.Limits,
        max_in_flight: int = 0,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.timeout = timeout
        self.limits = limits
        self.max_in_flight = max_in_flight
        self._gate: asyncio.Semaphore | None = None
        self.latencies: list[float] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._loop = asyncio.get_running_loop()
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, limits=self.limits
            )
            if self.max_in_flight:
                self._gate = asyncio.Semaphore(self.max_in_flight)
        return self._client

    async def _get(self, client: httpx.AsyncClient, path: str) -> httpx.Response:
        if self._gate is None:
            return await client.get(path)
        async with self._gate:
            return await client.get(path)

    async def profile(self, key: govsvc.PartyKey) -> Mapping[str, Any] | None:
        client = self._http()
        started = time.perf_counter()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response = await self._get(client, f"/profile/{key.number}")
        except httpx.TimeoutException as exc:
            raise govsvc.AdapterUnavailable(
                f"{self.name} did not answer within {self.timeout:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise govsvc.AdapterUnavailable(
                f"{self.name} cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self.in_flight -= 1
            self.latencies.append(time.perf_counter() - started)
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise govsvc.AdapterUnavailable(f"{self.name} failed with HTTP {response.status_code}")
        if response.status_code != 200:
            raise govsvc.AdapterProtocolError(
                f"{self.name} answered HTTP {response.status_code} to a profile query"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise govsvc.AdapterProtocolError(f"{self.name} answered non-JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise govsvc.AdapterProtocolError(
                f"{self.name} answered a JSON {type(body).__name__}, expected an object"
            )
        return body

    def close(self) -> None:
        """Close the client on the loop that made it (call before ``Platform.close``)."""
        client, loop, self._client = self._client, self._loop, None
        if client is not None and loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(10)


class FanoutPlugin:
    """A plugin object registering one department per simulated server."""

    def __init__(self, departments: Sequence[govsvc.Department]) -> None:
        self.departments = list(departments)

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return self.departments


def build_departments(
    ports: Sequence[int], *, timeout: float, limits: httpx.Limits, max_in_flight: int
) -> list[govsvc.Department]:
    departments = []
    for i, port in enumerate(ports):
        name, authoritative = DEPARTMENTS[i % len(DEPARTMENTS)]
        if i >= len(DEPARTMENTS):
            name, authoritative = f"{name} {i}", ()
        departments.append(
            govsvc.Department(
                code=department_code(i),
                name=name,
                division=DIVISION,
                adapter=HttpProfileAdapter(
                    name,
                    f"http://127.0.0.1:{port}",
                    timeout=timeout,
                    limits=limits,
                    max_in_flight=max_in_flight,
                ),
                authoritative_for=authoritative,
                timeout=timeout,
            )
        )
    return departments


# --------------------------------------------------------------------------------------------
# The two phases.

PURPOSE = "基准测试：一数一源身份核验"


def adapters_of(departments: Sequence[govsvc.Department]) -> list[HttpProfileAdapter]:
    return [d.adapter for d in departments]


def reset(adapters: Sequence[HttpProfileAdapter]) -> None:
    for adapter in adapters:
        adapter.latencies.clear()
        adapter.peak_in_flight = adapter.in_flight


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def check_profile(profile: govsvc.Profile, count: int) -> None:
    if profile.unavailable:
        raise SystemExit(f"a department was unavailable in the sequential phase: {profile}")
    sources = {a.source for a in profile.attributes.values()}
    if len(sources) != count:
        raise SystemExit(f"expected attributes from {count} departments, got {sorted(sources)}")


@contextmanager
def loop_profiler(
    platform: govsvc.Platform, enabled: bool, *, caller: bool, phase: str
) -> Iterator[None]:
    """cProfile the platform's department loop thread (and, with ``caller``, this thread)."""
    if not enabled:
        yield
        return
    # The loop is private to the platform; the bench reaches in to profile the thread it runs
    # on (a cProfile.Profile only sees the thread that enabled it).
    loop: asyncio.AbstractEventLoop = platform._runtime.loop.loop
    on_loop, here = cProfile.Profile(), cProfile.Profile()
    loop.call_soon_threadsafe(on_loop.enable)
    if caller:
        here.enable()
    try:
        yield
    finally:
        here.disable()
        done = threading.Event()

        def stop_on_loop() -> None:
            on_loop.disable()
            done.set()

        loop.call_soon_threadsafe(stop_on_loop)
        done.wait(10)
        for title, prof in (("department loop thread", on_loop), ("caller thread", here)):
            if prof is here and not caller:
                continue
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(22)
            stats.sort_stats("tottime").print_stats(15)
            print(f"\n--- cProfile, {phase} phase: {title} ---")
            print(out.getvalue())


class Probe:
    """Timing instrumentation around one phase (no profiler, so the timings stay honest).

    Wraps the platform's exchange-log write to time it, watches the department loop's lag
    (how late a 10 ms sleep wakes up: the loop was busy or waiting for the GIL) and reads the
    loop thread's CPU time. The loop and ``_log_exchanges`` are private to the platform; a
    benchmark may reach in to split the time.
    """

    def __init__(self, platform: govsvc.Platform) -> None:
        self.platform = platform
        self.loop: asyncio.AbstractEventLoop = platform._runtime.loop.loop
        self.log_seconds: list[float] = []
        self.lags: list[float] = []
        self.loop_cpu = 0.0
        self._stop = threading.Event()

    def _on_loop(self, fn: Callable[[], float]) -> float:
        async def call() -> float:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(30)

    async def _watch(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - started - 0.01)

    def __enter__(self) -> Probe:
        runtime = self.platform._runtime
        original = runtime.log_exchanges

        def timed_log(records: Any) -> Any:
            started = time.perf_counter()
            written = original(records)
            self.log_seconds.append(time.perf_counter() - started)
            return written

        runtime.log_exchanges = timed_log  # type: ignore[method-assign]
        self.loop_cpu = -self._on_loop(time.thread_time)
        self._watcher = asyncio.run_coroutine_threadsafe(self._watch(), self.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watcher.result(30)
        self.loop_cpu += self._on_loop(time.thread_time)
        del self.platform._runtime.log_exchanges

    def summary(self, wall: float) -> str:
        lag = f"p50 {ms(percentile(self.lags, 0.5))} max {ms(max(self.lags))}" if self.lags else ""
        log = (
            f"mean {ms(statistics.fmean(self.log_seconds))} max {ms(max(self.log_seconds))}"
            if self.log_seconds
            else "none"
        )
        return (
            f"department loop thread CPU {self.loop_cpu:.2f} s ({self.loop_cpu / wall:.0%} of "
            f"wall); loop lag ms {lag}; exchange-log write ms {log}"
        )


def sequential(
    platform: govsvc.Platform,
    departments: Sequence[govsvc.Department],
    calls: int,
    warmup: int,
    profile: bool,
) -> float:
    """Run the sequential phase, print its numbers; return the ratio."""
    adapters = adapters_of(departments)
    for i in range(warmup):
        check_profile(
            platform.system().parties.identify(citizen_number(i), purpose=PURPOSE), len(departments)
        )
    reset(adapters)
    durations: list[float] = []
    with (
        Probe(platform) as probe,
        loop_profiler(platform, profile, caller=True, phase="sequential"),
    ):
        began = time.perf_counter()
        for i in range(warmup, warmup + calls):
            started = time.perf_counter()
            answer = platform.system().parties.identify(citizen_number(i), purpose=PURPOSE)
            durations.append(time.perf_counter() - started)
            check_profile(answer, len(departments))
        wall = time.perf_counter() - began
    log_seconds = probe.log_seconds
    per_department = {
        d.name: statistics.fmean(a.latencies) for d, a in zip(departments, adapters, strict=True)
    }
    per_call_max = [max(lats) for lats in zip(*(a.latencies for a in adapters), strict=True)]
    mean_total = statistics.fmean(durations)
    slowest_name, slowest = max(per_department.items(), key=lambda kv: kv[1])
    print(f"\n== sequential: {calls} identify() calls after {warmup} warm-up ==")
    for name, mean in per_department.items():
        print(f"  adapter mean {ms(mean):>7} ms  {name}")
    print(f"mean identify        {ms(mean_total)} ms (median {ms(statistics.median(durations))})")
    print(f"slowest department   {ms(slowest)} ms (mean, {slowest_name})")
    print(f"slowest per call     {ms(statistics.fmean(per_call_max))} ms (mean of per-call max)")
    print(f"exchange-log write   {ms(statistics.fmean(log_seconds))} ms (mean, in identify)")
    print(
        "other overhead       "
        f"{ms(mean_total - statistics.fmean(per_call_max) - statistics.fmean(log_seconds))} ms "
        "(identify − per-call max − log write: validation, loop hand-off, merge)"
    )
    print(probe.summary(wall))
    return mean_total / slowest


def concurrent(
    platform: govsvc.Platform,
    departments: Sequence[govsvc.Department],
    count: int,
    server_pid: int,
    profile: bool,
    base: int = 100_000,
) -> tuple[float, int]:
    """Release ``count`` identify() calls at once from a thread pool; print what happened;
    return (calls/s, errors)."""
    adapters = adapters_of(departments)
    reset(adapters)
    barrier = threading.Barrier(count + 1)

    def one(i: int) -> tuple[float, str | None]:
        barrier.wait()
        started = time.perf_counter()
        try:
            answer = platform.system().parties.identify(citizen_number(base + i), purpose=PURPOSE)
        except Exception as exc:
            return time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
        took = time.perf_counter() - started
        if answer.unavailable:
            return took, "; ".join(answer.unavailable.values())
        return took, None

    with (
        Probe(platform) as probe,
        loop_profiler(platform, profile, caller=False, phase="concurrent"),
        ThreadPoolExecutor(max_workers=count) as pool,
    ):
        futures = [pool.submit(one, i) for i in range(count)]
        barrier.wait()
        started, cpu, server_cpu = (
            time.perf_counter(),
            time.process_time(),
            process_cpu_seconds(server_pid),
        )
        busy, total = machine_busy()
        results = [f.result() for f in futures]
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = process_cpu_seconds(server_pid) - server_cpu
        busy_after, total_after = machine_busy()
        machine = (busy_after - busy) / (total_after - total) if total_after > total else 0.0
    others = max(0.0, machine * (os.cpu_count() or 1) - (cpu + server_cpu) / wall)
    errors = [e for _, e in results if e is not None]
    took = [t for t, _ in results]
    adapter_lat = [x for a in adapters for x in a.latencies]
    print(f"\n== concurrent: {count} identify() calls released at once from {count} threads ==")
    print(f"completed {len(results) - len(errors)}/{count}  errors {len(errors)}")
    print(f"wall {wall:.3f} s  {count / wall:.1f} calls/s")
    print(
        f"identify latency ms: p50 {ms(percentile(took, 0.5))}  p90 {ms(percentile(took, 0.9))}"
        f"  max {ms(max(took))}"
    )
    if adapter_lat:
        print(
            f"adapter latency ms: p50 {ms(percentile(adapter_lat, 0.5))}  "
            f"p99 {ms(percentile(adapter_lat, 0.99))}  max {ms(max(adapter_lat))}  "
            f"(peak in flight per department {max(a.peak_in_flight for a in adapters)})"
        )
    print(
        f"CPU: platform process {cpu:.2f} s ({cpu / wall:.0%} of one core), "
        f"servers {server_cpu:.2f} s; machine {machine:.0%} busy over {os.cpu_count()} CPUs "
        f"(other processes ≈ {others:.1f} CPUs)"
    )
    print(probe.summary(wall))
    if errors:
        kinds: dict[str, int] = {}
        for error in errors:
            kinds[error[:160]] = kinds.get(error[:160], 0) + 1
        for text, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {n:4d}× {text}")
    return count / wall, len(errors)


# --------------------------------------------------------------------------------------------
# The same calls made by a bare aiohttp client (PERF_FACTS: the fastest asyncio client here).


def aiohttp_concurrent(
    ports: Sequence[int], count: int, *, timeout: float, connections: int, base: int
) -> tuple[float, int]:
    """``count`` fan-outs at once, each the same GETs identify() makes (one per department,
    in parallel, JSON decoded), from one aiohttp session per department with as many
    connections as an adapter's pool, on a loop of its own; returns (fan-outs/s, errors).
    Sessions are made and warmed before the clock starts, as the platform's adapters are."""
    import aiohttp

    async def run() -> tuple[float, int]:
        sessions = [
            aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}",
                connector=aiohttp.TCPConnector(limit=connections),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )
            for port in ports
        ]
        try:

            async def get(session: aiohttp.ClientSession, number: str) -> Any:
                async with session.get(f"/profile/{number}") as response:
                    response.raise_for_status()
                    return await response.json()

            async def fan_out(number: str) -> int:
                answers = await asyncio.gather(
                    *(get(s, number) for s in sessions), return_exceptions=True
                )
                return sum(isinstance(a, BaseException) or not isinstance(a, dict) for a in answers)

            await asyncio.gather(  # warm: each session opens its connections
                *(fan_out(citizen_number(i)) for i in range(connections))
            )
            started = time.perf_counter()
            failed = await asyncio.gather(
                *(fan_out(citizen_number(base + i)) for i in range(count)), return_exceptions=True
            )
            wall = time.perf_counter() - started
        finally:
            for session in sessions:
                await session.close()
        errors = sum(1 for f in failed if isinstance(f, BaseException) or f)
        return count / wall, errors

    rate, errors = asyncio.run(run())
    print(
        f"aiohttp {aiohttp.__version__}: {count} fan-outs at once, {rate:.1f} fan-outs/s, "
        f"errors {errors}"
    )
    return rate, errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50, help="sequential identify() calls")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--concurrent", type=int, default=200, help="identify() calls at once")
    parser.add_argument("--departments", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.05, help="server answer delay (s)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="Department.timeout and httpx timeout (s)"
    )
    parser.add_argument(
        "--max-connections", type=int, default=10, help="httpx pool size per adapter"
    )
    parser.add_argument(
        "--keepalive",
        type=int,
        default=None,
        help="httpx keep-alive connections per adapter (default: --max-connections)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="requests handed to httpx at once per adapter, 0: no limit "
        "(default: --max-connections)",
    )
    parser.add_argument(
        "--httpx-defaults",
        action="store_true",
        help="plain httpx.AsyncClient limits (100 connections, 20 keep-alive), no in-flight cap",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="concurrent rounds per side (govsvc, aiohttp)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile both phases")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.delay)
        return 0

    if args.httpx_defaults:
        limits, max_in_flight = httpx.Limits(max_connections=100, max_keepalive_connections=20), 0
    else:
        limits = httpx.Limits(
            max_connections=args.max_connections,
            max_keepalive_connections=(
                args.max_connections if args.keepalive is None else args.keepalive
            ),
        )
        max_in_flight = args.max_connections if args.max_in_flight is None else args.max_in_flight
    print(f"fan-out bench: {machine_note()}, httpx {httpx.__version__}")
    print(
        f"{args.departments} departments answering after {args.delay * 1000:g} ms; "
        f"timeout {args.timeout:g} s; httpx max_connections={limits.max_connections} "
        f"keepalive={limits.max_keepalive_connections} max_in_flight={max_in_flight or 'no limit'}"
    )
    with (
        department_servers(args.departments, args.delay) as (ports, server_pid),
        tempfile.TemporaryDirectory(prefix="govsvc-fanout-") as tmp,
    ):
        departments = build_departments(
            ports, timeout=args.timeout, limits=limits, max_in_flight=max_in_flight
        )
        platform = govsvc.Platform.open(
            f"sqlite:///{tmp}/fanout.db",
            plugins=[FanoutPlugin(departments)],
            load_entry_points=False,
        )
        try:
            ratio = sequential(platform, departments, args.calls, args.warmup, args.profile)
            rates: dict[str, list[float]] = {"govsvc": [], "aiohttp": []}
            errors = 0
            for r in range(args.rounds if args.concurrent else 0):
                # ABBA: the CPU speed changes of a shared machine hit both sides alike.
                sides = ("govsvc", "aiohttp") if r % 2 == 0 else ("aiohttp", "govsvc")
                for side in sides:
                    base = 100_000 + 10_000 * (2 * r + (side == "aiohttp"))
                    if side == "govsvc":
                        rate, failed = concurrent(
                            platform, departments, args.concurrent, server_pid, args.profile, base
                        )
                    else:
                        rate, failed = aiohttp_concurrent(
                            ports,
                            args.concurrent,
                            timeout=args.timeout,
                            connections=limits.max_connections or 10,
                            base=base,
                        )
                    rates[side].append(rate)
                    errors += failed
            report = platform.system().departments.verify_exchange_log()
            print(f"\nexchange log: {report.checked} records, chain ok={report.ok}")
        finally:
            for adapter in adapters_of(departments):
                adapter.close()
            platform.close()
    print(f"ratio={ratio:.3f}")
    if rates["govsvc"]:
        ours, theirs = statistics.median(rates["govsvc"]), statistics.median(rates["aiohttp"])
        print(
            f"concurrent: govsvc {ours:.1f} identify()/s, aiohttp {theirs:.1f} fan-outs/s "
            f"(medians of {args.rounds} rounds each); errors {errors}"
        )
        print(f"errors={errors}")
        print(f"concurrency_ratio={ours / theirs:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
