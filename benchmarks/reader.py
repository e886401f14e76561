#!/usr/bin/env python3
"""Reader benchmark: requests per second and latency of the public pages under daphne.

    .venv/bin/python benchmarks/reader.py              # about three minutes
    .venv/bin/python benchmarks/reader.py --quick      # 64 connections only, about a minute
    .venv/bin/python benchmarks/reader.py --workers 2  # also the site on 2 daphne processes
    .venv/bin/python benchmarks/reader.py --wagtail http://127.0.0.1:8900   # beside a Wagtail blog
    .venv/bin/python benchmarks/reader.py --database postgresql://user@127.0.0.1:5432/empty_db
    .venv/bin/python benchmarks/reader.py --quick --soak 10   # then 10 minutes of mixed uncached load

It builds everything it measures in a temporary folder: a migrated database (SQLite there, or
the empty PostgreSQL database given) with the demo content of `manage.py seed_demo`, its own
redis-server, the site started with deploy/scripts/serve.py (one daphne process, as on one
core) and, as the ceiling, a bare ASGI app (benchmarks/bare_app.py) under the same launcher.
Then it drives, with wrk at 64 connections (and a sweep over 1 to 256 for some rows):

- the index and a post page, cached (answered by the page cache);
- the post page for a signed-in reader (a session: the page cache answers them too) and the
  reader fragment their page then asks for (Django, per reader);
- uncached pages (an anonymous reader whose URL carries a query parameter the page cache does
  not key on, so Django renders the page each time, as on a miss, with the low-level caches);
- a cold render: the post page with the post's cache version removed, so every request reads
  the database and renders the whole page, as the first request after a change does;
- search, uncached (the page cache passed by; the results cache of the query applies);
- with --wagtail, the same post, the index and the same search on a Wagtail blog with the same
  content (benchmarks/wagtail_peer.py sets one up), which caches nothing;

and prints requests/s, p50/p95/p99 latency, the server's CPU time per request, and the daphne
process's resident memory before and after. --soak then drives a mix of uncached pages (cold
post pages, list pages, searches, reader fragments) for that many minutes, sampling the
process's memory.

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
RUN_LIMIT_SECONDS = 420  # a hard stop for the whole run, whatever happens (plus the soak's minutes)
# The page cache keys pages by known parameters only; a URL with another one goes to Django.
UNCACHED = "?benchmark-uncached=1"
SEARCH_WORDS = "python"  # in several demo posts' titles and bodies
MIXED_LUA = BASE_DIR / "benchmarks" / "mixed.lua"
RSS_SAMPLE_SECONDS = 15


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


def site_env(workdir: Path, redis_url: str, database: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="blogsite.settings.base",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}" if database == "sqlite" else database,
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

    def rss_mib(self) -> float | None:
        """Resident memory of the largest daphne process, MiB (Linux /proc; None elsewhere)."""
        try:
            sizes = [_status_kib(pid, "VmRSS") for pid in self.pids()]
        except OSError:
            return None
        return max(sizes) / 1024 if sizes else None

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


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"no {field} for process {pid}")


def start_server(processes: Processes, *, app: str, workers: int, env: dict, workdir: Path) -> Server:
    """The app under deploy/scripts/serve.py (daphne, access log off), as production runs it."""
    port = free_port()
    command = [PYTHON, "deploy/scripts/serve.py", "--port", str(port), "--workers", str(workers), "--app", app]
    metrics_dir = workdir / f"prometheus-{port}"
    launcher = processes.start([*command, "--metrics-dir", str(metrics_dir), "--", "-v", "0"], env=env)
    return Server(f"http://127.0.0.1:{port}", launcher.pid)


def sign_in_cookie(env: dict) -> str:
    """A real session for the seeded reader."""
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


def remove_post_version(env: dict, post: str) -> None:
    """Every request for the post renders it from the database, as the first one after a change does.

    The post's version is removed; only the page cache creates it again, when it stores the page,
    which it never does for the benchmark's uncached URLs.
    """
    slug = post.strip("/").split("/")[-1]
    script = (
        "from django_redis import get_redis_connection; from posts import cache_keys;"
        f"get_redis_connection(cache_keys.CACHE_ALIAS).delete(cache_keys.version_key(cache_keys.post_dep({slug!r})))"
    )
    result = manage("shell", "-c", script, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"could not remove the post's version:\n{result.stderr[-2000:]}")


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


def soak(server: Server, env: dict, *, minutes: float, post_paths: list[str], cookie: str, wrk: str | None) -> dict:
    """A mix of uncached pages for `minutes` at 64 connections, the process's memory sampled meanwhile."""
    if wrk is None:
        raise RuntimeError("--soak needs wrk")
    for path in post_paths:
        remove_post_version(env, path)
    paths = [f"{path}{UNCACHED}" for path in post_paths]  # cold renders
    paths += [f"/?page={page}&benchmark-uncached=1" for page in (1, 2, 3)]
    words = ("python", "cache", "django", "tests", "docker", "writing", "deploy", "async")
    paths += [f"/search/?q={word}&benchmark-uncached=1" for word in words]
    fragments = [f"/reader/?post={path.strip('/').split('/')[-1]}" for path in post_paths[:4]]
    env_lua = {**os.environ, "MIXED_PATHS": " ".join(paths), "MIXED_SIGNED_IN": " ".join(fragments)}
    env_lua["MIXED_COOKIE"] = cookie
    seconds = minutes * 60
    command = [wrk, "-t", "2", "-c", str(MAIN_CONNECTIONS), "-d", f"{seconds:.0f}s", "--timeout", "10s"]
    command += ["-s", str(MIXED_LUA), server.url]
    samples = [(0.0, server.rss_mib())]
    started = time.monotonic()
    load = subprocess.Popen(command, env=env_lua, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while load.poll() is None:
        time.sleep(RSS_SAMPLE_SECONDS)
        samples.append((time.monotonic() - started, server.rss_mib()))
    output = load.stdout.read()
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    figures = json.loads(line.removeprefix("WRK_RESULT ")) if line else {}
    sizes = [size for _, size in samples if size is not None]
    report = {
        "minutes": minutes,
        "requests": figures.get("requests"),
        "rps": figures.get("rps"),
        "errors": figures.get("errors"),
        "non_2xx": figures.get("non_2xx"),
        "rss_start_mib": sizes[0] if sizes else None,
        "rss_max_mib": max(sizes) if sizes else None,
        "rss_end_mib": sizes[-1] if sizes else None,
        "samples": samples,
    }
    print(
        f"Soak: {minutes:g} min of mixed uncached pages, {report['rps'] or 0:.0f} req/s, "
        f"errors {report['errors']}, non-2xx {report['non_2xx']}; daphne RSS "
        f"{report['rss_start_mib']:.0f} MiB at the start, {report['rss_max_mib']:.0f} at most, "
        f"{report['rss_end_mib']:.0f} at the end (sampled every {RSS_SAMPLE_SECONDS} s)",
        flush=True,
    )
    return report


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

    def row(target: str) -> Result | None:
        return at.get((target, MAIN_CONNECTIONS))

    names = ("bare ASGI", "post, cached", "post, uncached", "post, signed in")
    bare, cached, uncached, signed_in = (row(name) for name in names)
    lines = []
    if bare and cached:
        share, p99 = cached.rps / bare.rps, cached.p99_ms / bare.p99_ms
        lines.append(f"cached post: {share:.0%} of the bare app's req/s (target 50%): {_met(share >= 0.5)}")
        lines.append(f"cached post: p99 {p99:.1f}x the bare app's (target 2x or less): {_met(p99 <= 2)}")
    if bare and signed_in:
        share = signed_in.rps / bare.rps
        lines.append(f"signed-in post: {share:.0%} of the bare app's req/s (target 50%): {_met(share >= 0.5)}")
    if uncached:
        lines.append(f"uncached post: {uncached.rps:.0f} req/s (target 100): {_met(uncached.rps >= 100)}")
    for ours, theirs, name in (
        ("post, cold render", "wagtail post, uncached", "cold render"),
        ("search, uncached", "wagtail search, uncached", "search"),
        ("post, cached", "wagtail post, uncached", "cached post"),
    ):
        if row(ours) and row(theirs):
            times = row(ours).rps / row(theirs).rps
            target = " (target 3x or more)" if name != "cached post" else ""
            verdict = f": {_met(times >= 3)}" if target else ""
            lines.append(f"{name}: {times:.1f}x Wagtail uncached{target}{verdict}")
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def run(args: argparse.Namespace, processes: Processes, workdir: Path) -> dict:
    driver = Driver(None if args.asyncio_driver else ensure_wrk(), args.seconds)
    env = site_env(workdir, start_redis(processes, workdir), args.database)
    print("Migrating and seeding the demo content…", flush=True)
    prepare_database(env)
    site = start_server(processes, app="blogsite.asgi:application", workers=1, env=env, workdir=workdir)
    wait_for(site.url + "/healthz", timeout=60)
    post = first_post_path(site.url)
    slug = post.strip("/").split("/")[-1]
    cookie = sign_in_cookie(env)
    signed_in = {"Cookie": cookie}
    _, page = fetch(site.url + post)
    bare_env = {**env, "BARE_BODY_BYTES": str(len(page))}
    bare = start_server(processes, app="benchmarks.bare_app:application", workers=1, env=bare_env, workdir=workdir)
    wait_for(bare.url + "/", timeout=60)
    search = f"/search/?q={SEARCH_WORDS}&{UNCACHED[1:]}"
    fragment = f"/reader/?post={slug}"
    rss_before = site.rss_mib()

    states = {}
    for path in ("/", post):
        url = site.url + path
        states[path] = (cache_state(url), cache_state(url + UNCACHED), cache_state(url, headers=signed_in))
    print(f"Cores: {os.cpu_count()}   driver: {driver.name}   {args.seconds:g} s per point after a 1 s warm-up")
    print(f"Database: {'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}   load average: {os.getloadavg()}")
    print(f"Post page: {post} ({len(page):,} bytes)")
    print(f"X-Cache (cached / uncached / signed in): {states}")
    if any(state != ("HIT", "MISS", "HIT") for state in states.values()):
        print("Note: not every row is served the way its name says; read the X-Cache states above.")
    peer = None
    if args.wagtail:
        peer = Server(args.wagtail.rstrip("/"), launcher_pid=args.wagtail_pid or 0)
        peer_post = f"/{slug}/"
        fetch(peer.url + peer_post)  # the peer has the same content, so the same slugs
    print()
    print(HEADER)
    targets = [
        ("bare ASGI", bare, "/", None),
        ("index, cached", site, "/", None),
        ("post, cached", site, post, None),
        ("post, signed in", site, post, signed_in),
        ("reader fragment, signed in", site, fragment, signed_in),
        ("index, uncached", site, "/" + UNCACHED, None),
        ("post, uncached", site, post + UNCACHED, None),
        ("search, uncached", site, search, None),
    ]
    results = [driver.measure(*target[:3], connections=MAIN_CONNECTIONS, headers=target[3]) for target in targets]
    remove_post_version(env, post)
    results.append(driver.measure("post, cold render", site, post + UNCACHED, connections=MAIN_CONNECTIONS))
    if peer is not None:
        for name, path in (
            ("wagtail post, uncached", peer_post),
            ("wagtail index, uncached", "/"),
            ("wagtail search, uncached", f"/search/?q={SEARCH_WORDS}"),
        ):
            results.append(driver.measure(name, peer, path, connections=MAIN_CONNECTIONS))
    if not args.quick:
        print()
        for name, server, path, headers in (targets[0], targets[2], targets[6]):  # bare, post cached, uncached
            for connections in (c for c in SWEEP if c != MAIN_CONNECTIONS):
                results.append(driver.measure(name, server, path, connections=connections, headers=headers))
    if args.workers > 1:
        print()
        many = start_server(processes, app="blogsite.asgi:application", workers=args.workers, env=env, workdir=workdir)
        wait_for(many.url + "/healthz", timeout=60)
        for name, path in (("post, cached", post), ("post, uncached", post + UNCACHED)):
            name = f"{name}, {args.workers} procs"
            results.append(driver.measure(name, many, path, connections=MAIN_CONNECTIONS))
    rss_after = site.rss_mib()
    print()
    if rss_before is not None and rss_after is not None:
        print(f"daphne RSS: {rss_before:.0f} MiB before the rows, {rss_after:.0f} MiB after them")
    for line in verdicts(results):
        print(line)
    soaked = None
    if args.soak:
        print()
        posts = post_paths(site.url)
        soaked = soak(site, env, minutes=args.soak, post_paths=posts, cookie=cookie, wrk=driver.wrk)
        print(f"RSS under 250 MiB through the soak (target): {_met(soaked['rss_max_mib'] < 250)}")
    return {"results": results, "rss_before_mib": rss_before, "rss_after_mib": rss_after, "soak": soaked}


def post_paths(base_url: str) -> list[str]:
    """The post pages linked from the first pages of the index."""
    paths: list[str] = []
    for page in (1, 2, 3):
        _, body = fetch(f"{base_url}/?page={page}")
        found = [match.decode() for match in re.findall(rb'href="(/posts/[^"/]+/)"', body)]
        paths += [path for path in found if path not in paths]
    return paths


def _run_limit_reached(signum, frame) -> None:
    raise TimeoutError(f"the benchmark ran past its {RUN_LIMIT_SECONDS} s limit; every process is being stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point (default 3)")
    parser.add_argument("--quick", action="store_true", help="64 connections only, no sweep")
    parser.add_argument("--workers", type=int, default=1, help="also measure the site on this many processes")
    parser.add_argument("--asyncio-driver", action="store_true", help="use the asyncio driver even if wrk is there")
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a new file, the default) or the URL of an empty PostgreSQL database to migrate and seed",
    )
    parser.add_argument("--wagtail", help="base URL of the Wagtail peer (benchmarks/wagtail_peer.py serve)")
    parser.add_argument("--wagtail-pid", type=int, help="the peer's gunicorn master, for its CPU time per request")
    parser.add_argument("--soak", type=float, default=0, help="minutes of mixed uncached load after the rows")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.database != "sqlite" and not args.database.startswith(("postgres://", "postgresql://")):
        parser.error("--database is sqlite or a postgresql:// URL")

    signal.signal(signal.SIGALRM, _run_limit_reached)
    signal.alarm(RUN_LIMIT_SECONDS + int(args.soak * 60))
    workdir = Path(tempfile.mkdtemp(prefix="blogsite-bench-"))
    processes = Processes(workdir)
    try:
        figures = run(args, processes, workdir)
    finally:
        signal.alarm(0)
        processes.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        figures = {**figures, "cores": os.cpu_count(), "results": [vars(result) for result in figures["results"]]}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
