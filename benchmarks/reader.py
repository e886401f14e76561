#!/usr/bin/env python3
"""Reader benchmark: requests per second and latency of the public pages under daphne.

    .venv/bin/python benchmarks/reader.py              # about two minutes
    .venv/bin/python benchmarks/reader.py --quick      # 64 connections only, under a minute
    .venv/bin/python benchmarks/reader.py --workers 2  # also the site on 2 daphne processes

It builds everything it measures in a temporary folder: a migrated SQLite database with
the demo content of `manage.py seed_demo`, its own redis-server, the site started with
deploy/scripts/serve.py (one daphne process, as on one core) and, as the ceiling, a bare
ASGI app (benchmarks/bare_app.py) under the same launcher. Then it drives the index and a
post page, cached (warmed, answered by the page cache) and uncached (an anonymous reader whose
URL carries a query parameter the page cache does not key on, so Django renders the page each
time, as on a miss), and the post page for a signed-in reader (a session, whom the page cache
never answers), with wrk at 64 connections and a sweep over 1 to 256, and prints requests/s,
p50/p95/p99 latency and the server's CPU time per request.

wrk is installed with apt-get when missing; without it a small asyncio driver stands in
(slower than wrk, so its figures understate the servers). Each point runs a few seconds and
every process it starts is stopped at the end.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
REPORT_LUA = BASE_DIR / "benchmarks" / "report.lua"
SWEEP = (1, 4, 16, 64, 256)
MAIN_CONNECTIONS = 64
MAX_POINT_SECONDS = 10
RUN_LIMIT_SECONDS = 240  # a hard stop for the whole run, whatever happens
# The page cache keys pages by known parameters only; a URL with another one goes to Django.
UNCACHED = "?benchmark-uncached=1"


@dataclass
class Result:
    target: str
    connections: int
    seconds: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int = 0
    non_2xx: int = 0
    cpu_us: float | None = None  # server CPU time per request, microseconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, *, timeout: float, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fetch(url, headers=headers)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.1)


def fetch(url: str, *, headers: dict | None = None) -> tuple[dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {name.lower(): value for name, value in response.headers.items()}, response.read()


class Processes:
    """Every process the benchmark starts, stopped in reverse order at the end."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], *, env: dict, cwd: Path = BASE_DIR) -> subprocess.Popen:
        """Output goes to a log file in the work folder: a full pipe would stall the server."""
        log = open(self.workdir / f"process-{len(self.started)}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child holds its own copy
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def start_redis(processes: Processes, workdir: Path) -> str:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    processes.start([*command, "--dir", str(workdir)], env=os.environ.copy())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def site_env(workdir: Path, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="blogsite.settings.base",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        REDIS_URL=redis_url,
    )
    return env


def manage(*args: str, env: dict, timeout: float = 120, cwd: Path = BASE_DIR) -> subprocess.CompletedProcess:
    """manage.py of the project at `cwd` (another checkout of it, for a side-by-side benchmark)."""
    return subprocess.run(
        [PYTHON, "manage.py", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def prepare_database(env: dict, *, cwd: Path = BASE_DIR) -> None:
    """A migrated database with the demo content (the same on every run)."""
    for step in (("migrate", "--noinput"), ("seed_demo",)):
        result = manage(*step, env=env, cwd=cwd)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {step[0]} failed:\n{result.stderr[-2000:]}")


@dataclass
class Server:
    url: str
    launcher_pid: int

    def pids(self) -> list[int]:
        """The daphne processes: the launcher's children (Linux /proc)."""
        children = []
        for task in Path(f"/proc/{self.launcher_pid}/task").iterdir():
            children += [int(pid) for pid in (task / "children").read_text().split()]
        return children

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the daphne processes (Linux /proc; None elsewhere)."""
        try:
            ticks = 0
            for pid in self.pids():
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            return None
        return ticks / os.sysconf("SC_CLK_TCK")


def start_server(processes: Processes, *, app: str, workers: int, env: dict, workdir: Path) -> Server:
    """The app under deploy/scripts/serve.py (daphne, access log off), as production runs it."""
    port = free_port()
    command = [PYTHON, "deploy/scripts/serve.py", "--port", str(port), "--workers", str(workers), "--app", app]
    metrics_dir = workdir / f"prometheus-{port}"
    launcher = processes.start([*command, "--metrics-dir", str(metrics_dir), "--", "-v", "0"], env=env)
    return Server(f"http://127.0.0.1:{port}", launcher.pid)


def sign_in_cookie(env: dict) -> str:
    """A real session for the seeded reader: the page cache never answers signed-in readers."""
    script = (
        "from django.contrib.auth import get_user_model; from django.test import Client; c = Client();"
        "u = get_user_model().objects.filter(groups__name='Reader').order_by('pk').first()"
        " or get_user_model().objects.order_by('pk').first();"
        "c.force_login(u); print(c.cookies['sessionid'].value)"
    )
    result = manage("shell", "-c", script, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"could not sign a reader in:\n{result.stderr[-2000:]}")
    return f"sessionid={result.stdout.strip().splitlines()[-1]}"


def first_post_path(base_url: str) -> str:
    _, body = fetch(base_url + "/")
    match = re.search(rb'href="(/posts/[^"/]+/)"', body)
    if not match:
        raise RuntimeError("the index lists no post; was the demo content seeded?")
    return match[1].decode()


def cache_state(url: str, *, headers: dict | None = None) -> str:
    response_headers, _ = fetch(url, headers=headers)
    return response_headers.get("x-cache", "none")


def ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("Installing wrk with apt-get…", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 180}
        subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        subprocess.run(install, check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, **quiet)
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, *, connections: int, seconds: float, headers: dict) -> dict:
    threads = max(1, min(connections, os.cpu_count() or 1))
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, "-s", str(REPORT_LUA), url], capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    return json.loads(line.removeprefix("WRK_RESULT "))


async def _asyncio_driver(url: str, *, connections: int, seconds: float, headers: dict) -> dict:
    """Keep-alive HTTP/1.1 GETs over `connections` sockets; stands in for wrk where it is missing."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(.*)", url).groups()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path or '/'} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    failures = [0, 0]  # errors, non-2xx
    stop_at = time.monotonic() + seconds

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                failures[1] += not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))
        except (OSError, asyncio.IncompleteReadError, TypeError):
            failures[0] += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "errors": failures[0],
        "non_2xx": failures[1],
    }


class Driver:
    def __init__(self, wrk: str | None, seconds: float):
        self.wrk = wrk
        self.seconds = seconds
        self.name = f"wrk ({wrk})" if wrk else "asyncio driver (wrk not available)"

    def measure(
        self, target: str, server: Server, path: str, *, connections: int, headers: dict | None = None
    ) -> Result:
        url, headers = server.url + path, headers or {}
        warm = self._run(url, connections=min(connections, 16), seconds=1, headers=headers)  # not kept
        fetch(url, headers=headers)  # answered once the warm-up's queue has drained
        # A slow page under many connections needs longer than connections / rate to finish any.
        seconds = min(max(self.seconds, 2 * connections / max(warm["rps"], 1)), MAX_POINT_SECONDS)
        cpu_before = server.cpu_seconds()
        figures = self._run(url, connections=connections, seconds=seconds, headers=headers)
        cpu_after = server.cpu_seconds()
        fields = ("rps", "p50_ms", "p95_ms", "p99_ms", "errors", "non_2xx")
        result = Result(target, connections, round(seconds), **{field: figures[field] for field in fields})
        if cpu_before is not None and cpu_after is not None and figures["requests"]:
            result.cpu_us = (cpu_after - cpu_before) / figures["requests"] * 1e6
        print(format_row(result), flush=True)
        return result

    def _run(self, url: str, *, connections: int, seconds: float, headers: dict) -> dict:
        if self.wrk:
            return run_wrk(self.wrk, url, connections=connections, seconds=seconds, headers=headers)
        return asyncio.run(_asyncio_driver(url, connections=connections, seconds=seconds, headers=headers))


def format_row(result: Result) -> str:
    problems = f"  errors={result.errors} non-2xx={result.non_2xx}" if result.errors or result.non_2xx else ""
    return (
        f"{result.target:<28} {result.connections:>5} {result.seconds:>3} {result.rps:>10.0f} "
        f"{result.p50_ms:>9.2f} {result.p95_ms:>9.2f} {result.p99_ms:>9.2f} "
        f"{'' if result.cpu_us is None else f'{result.cpu_us:,.0f}':>11}{problems}"
    )


HEADER = (
    f"{'target':<28} {'conns':>5} {'s':>3} {'req/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'CPU us/req':>11}"
)


def verdicts(results: list[Result]) -> list[str]:
    """The targets for one daphne process, checked against what was measured."""
    at = {(r.target, r.connections): r for r in results}
    bare, cached, uncached = (at.get((t, MAIN_CONNECTIONS)) for t in ("bare ASGI", "post, cached", "post, uncached"))
    lines = []
    if bare and cached:
        share, p99 = cached.rps / bare.rps, cached.p99_ms / bare.p99_ms
        lines.append(f"cached post: {share:.0%} of the bare app's req/s (target 50%): {_met(share >= 0.5)}")
        lines.append(f"cached post: p99 {p99:.1f}x the bare app's (target 2x or less): {_met(p99 <= 2)}")
    if uncached:
        lines.append(f"uncached post: {uncached.rps:.0f} req/s (target 100): {_met(uncached.rps >= 100)}")
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def run(args: argparse.Namespace, processes: Processes, workdir: Path) -> list[Result]:
    driver = Driver(None if args.asyncio_driver else ensure_wrk(), args.seconds)
    env = site_env(workdir, start_redis(processes, workdir))
    print("Migrating and seeding the demo content…", flush=True)
    prepare_database(env)
    site = start_server(processes, app="blogsite.asgi:application", workers=1, env=env, workdir=workdir)
    wait_for(site.url + "/healthz", timeout=60)
    post = first_post_path(site.url)
    signed_in = {"Cookie": sign_in_cookie(env)}
    _, page = fetch(site.url + post)
    bare_env = {**env, "BARE_BODY_BYTES": str(len(page))}
    bare = start_server(processes, app="benchmarks.bare_app:application", workers=1, env=bare_env, workdir=workdir)
    wait_for(bare.url + "/", timeout=60)

    states = {}
    for path in ("/", post):
        url = site.url + path
        states[path] = (cache_state(url), cache_state(url + UNCACHED), cache_state(url, headers=signed_in))
    print(f"Cores: {os.cpu_count()}   driver: {driver.name}   {args.seconds:g} s per point after a 1 s warm-up")
    print(f"Post page: {post} ({len(page):,} bytes)")
    print(f"X-Cache (cached / uncached / signed in): {states}")
    if any(state != ("HIT", "MISS", "MISS") for state in states.values()):
        print("Note: not every row is served the way its name says; read the X-Cache states above.")
    print()
    print(HEADER)
    targets = [
        ("bare ASGI", bare, "/", None),
        ("index, cached", site, "/", None),
        ("post, cached", site, post, None),
        ("index, uncached", site, "/" + UNCACHED, None),
        ("post, uncached", site, post + UNCACHED, None),
        ("post, signed in", site, post, signed_in),
    ]
    results = [driver.measure(*target[:3], connections=MAIN_CONNECTIONS, headers=target[3]) for target in targets]
    if not args.quick:
        print()
        for name, server, path, headers in (targets[0], targets[2], targets[4]):  # bare, post cached, uncached
            for connections in (c for c in SWEEP if c != MAIN_CONNECTIONS):
                results.append(driver.measure(name, server, path, connections=connections, headers=headers))
    if args.workers > 1:
        print()
        many = start_server(processes, app="blogsite.asgi:application", workers=args.workers, env=env, workdir=workdir)
        wait_for(many.url + "/healthz", timeout=60)
        for name, path in (("post, cached", post), ("post, uncached", post + UNCACHED)):
            name = f"{name}, {args.workers} procs"
            results.append(driver.measure(name, many, path, connections=MAIN_CONNECTIONS))
    print()
    for line in verdicts(results):
        print(line)
    return results


def _run_limit_reached(signum, frame) -> None:
    raise TimeoutError(f"the benchmark ran past its {RUN_LIMIT_SECONDS} s limit; every process is being stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point (default 3)")
    parser.add_argument("--quick", action="store_true", help="64 connections only, no sweep")
    parser.add_argument("--workers", type=int, default=1, help="also measure the site on this many processes")
    parser.add_argument("--asyncio-driver", action="store_true", help="use the asyncio driver even if wrk is there")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    signal.signal(signal.SIGALRM, _run_limit_reached)
    signal.alarm(RUN_LIMIT_SECONDS)
    workdir = Path(tempfile.mkdtemp(prefix="blogsite-bench-"))
    processes = Processes(workdir)
    try:
        results = run(args, processes, workdir)
    finally:
        signal.alarm(0)
        processes.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        figures = {"cores": os.cpu_count(), "results": [vars(result) for result in results]}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
