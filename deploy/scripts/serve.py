#!/usr/bin/env python3
"""Serve the site with several daphne processes sharing one listening socket.

Django runs sync code on one thread per process, so one daphne process uses about one
core. This launcher binds the port once and starts N daphne processes on it
(`daphne --fd`); the kernel hands each new connection to whichever process accepts it
first. A child that dies is started again (with a growing pause if it keeps dying at
once); SIGINT or SIGTERM stops them all.

It also prepares Prometheus' multiprocess mode: every child gets PROMETHEUS_MULTIPROC_DIR,
cleared of metric files here at start so that an earlier run's figures do not add up with
this one's, and /metrics in any child reports the sum over all of them.

    .venv/bin/python deploy/scripts/serve.py --port 8000 --workers 4 -- --proxy-headers
"""

import argparse
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import multiprocess

BASE_DIR = Path(__file__).resolve().parents[2]
APPLICATION = "blogsite.asgi:application"
STOP_TIMEOUT_SECONDS = 10
MAX_RESTART_DELAY_SECONDS = 10.0
QUICK_EXIT_SECONDS = 2.0

log = logging.getLogger("serve")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="IPv4 address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="0 picks a free port")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1),
        help="daphne processes (WEB_CONCURRENCY, else the number of cores)",
    )
    parser.add_argument("--app", default=APPLICATION, help="ASGI application path")
    parser.add_argument(
        "--metrics-dir",
        default=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(BASE_DIR / ".run" / "prometheus"),
        help="PROMETHEUS_MULTIPROC_DIR for the children; its metric files are removed at start",
    )
    parser.add_argument("daphne_args", nargs="*", help="extra daphne options, after --")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    return args


def bind_socket(host: str, port: int) -> socket.socket:
    """Bound once here so every child accepts on the same socket; children inherit the descriptor."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, a killed launcher takes its workers with it."""
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def reset_metrics_dir(path: Path) -> None:
    """Per-process files from an earlier run would otherwise be added to this run's figures.

    Only prometheus_client's own files go, so a folder given by mistake loses nothing else.
    """
    path.mkdir(parents=True, exist_ok=True)
    for metrics_file in path.glob("*.db"):
        metrics_file.unlink()


class Supervisor:
    """Keeps `workers` daphne processes running on one socket until told to stop."""

    def __init__(self, *, sock: socket.socket, workers: int, app: str, daphne_args: list[str], env: dict[str, str]):
        self.sock = sock
        self.workers = workers
        self.command = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), *daphne_args, app]
        self.env = env
        self.children: dict[int, tuple[subprocess.Popen, float]] = {}  # slot -> (process, started at)
        self.restart_delay = dict.fromkeys(range(workers), 0.0)
        self.stopping = False

    def start(self, slot: int) -> None:
        process = subprocess.Popen(
            self.command, pass_fds=(self.sock.fileno(),), env=self.env, cwd=BASE_DIR, preexec_fn=_die_with_parent
        )
        self.children[slot] = (process, time.monotonic())
        log.info("worker %d started (pid %d)", slot, process.pid)

    def request_stop(self, signum: int, frame) -> None:
        self.stopping = True

    def run(self) -> None:
        for slot in range(self.workers):
            self.start(slot)
        while not self.stopping:
            for slot, (process, started) in list(self.children.items()):
                if process.poll() is not None:
                    self.replace(slot, process, started)
            time.sleep(0.2)
        self.stop_all()

    def replace(self, slot: int, process: subprocess.Popen, started: float) -> None:
        """Start a dead child again; one that keeps dying at once is retried ever more slowly."""
        log.warning("worker %d (pid %d) exited with %s; starting it again", slot, process.pid, process.returncode)
        multiprocess.mark_process_dead(process.pid, self.env["PROMETHEUS_MULTIPROC_DIR"])
        quick = time.monotonic() - started < QUICK_EXIT_SECONDS
        delay = min(max(self.restart_delay[slot] * 2, 0.5), MAX_RESTART_DELAY_SECONDS) if quick else 0.0
        self.restart_delay[slot] = delay
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(0.1)
        if not self.stopping:
            self.start(slot)

    def stop_all(self) -> None:
        processes = [process for process, _ in self.children.values()]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in %d s; killing it", process.pid, STOP_TIMEOUT_SECONDS)
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s serve: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    metrics_dir = Path(args.metrics_dir).resolve()
    reset_metrics_dir(metrics_dir)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    supervisor = Supervisor(sock=sock, workers=args.workers, app=args.app, daphne_args=args.daphne_args, env=env)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    print(f"Serving on http://{host}:{port}/ with {args.workers} daphne processes", flush=True)
    try:
        supervisor.run()
    finally:
        sock.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
