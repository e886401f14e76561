"""deploy/scripts/serve.py: several daphne processes on one socket, as production runs them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

BASE_DIR = Path(__file__).resolve().parents[2]
SERVE = BASE_DIR / "deploy" / "scripts" / "serve.py"
START_TIMEOUT = 30

pytestmark = pytest.mark.integration


class Launcher:
    """A running serve.py; `requests` counts every request sent through `get`."""

    def __init__(self, process: subprocess.Popen, base_url: str, metrics_dir: Path):
        self.process = process
        self.base_url = base_url
        self.metrics_dir = metrics_dir
        self.requests = 0

    def get(self, path: str) -> httpx.Response:
        # A new connection each time, so the kernel may hand it to any of the processes.
        self.requests += 1
        return httpx.get(self.base_url + path, timeout=10)

    def children(self) -> set[int]:
        pids = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        return pids

    def requests_by_process(self) -> dict[int, float]:
        """Each process's own count, read from its file in the multiprocess directory."""
        shares = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            shares[int(path.stem.rsplit("_", 1)[1])] = _requests_counted(MultiProcessCollector.merge([str(path)]))
        return shares

    def wait_until(self, condition, *, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"serve.py exited with {self.process.returncode}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def ready(self) -> bool:
        try:
            return self.get("/healthz").status_code == 200
        except httpx.TransportError:
            self.requests -= 1  # refused before reaching Django: not counted there either
            return False


def start_launcher(tmp_path: Path, *, workers: int) -> Launcher:
    metrics_dir = tmp_path / "prometheus"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogsite.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, str(SERVE), "--port", "0", "--workers", str(workers), "--metrics-dir", str(metrics_dir)]
    process = subprocess.Popen(
        [*command, "--", "-v", "0"], env=env, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    banner = process.stdout.readline()  # "Serving on http://127.0.0.1:PORT/ with N daphne processes"
    assert banner.startswith("Serving on http://"), banner
    launcher = Launcher(process, banner.split()[2].rstrip("/"), metrics_dir)
    launcher.wait_until(launcher.ready, what="the first response")
    return launcher


def stop(launcher: Launcher) -> None:
    if launcher.process.poll() is None:
        launcher.process.send_signal(signal.SIGTERM)
        try:
            launcher.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            launcher.process.kill()
            launcher.process.wait()


@pytest.fixture
def two_workers(tmp_path):
    launcher = start_launcher(tmp_path, workers=2)
    yield launcher
    stop(launcher)


def _requests_counted(families) -> float:
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "django_http_requests_before_middlewares_total"
    )


def test_metrics_add_up_the_requests_of_every_process(two_workers):
    assert len(two_workers.children()) == 2
    for pid in two_workers.children():
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"daphne"]

    def both_have_served() -> bool:
        shares = two_workers.requests_by_process()
        return len(shares) == 2 and min(shares.values()) > 0

    two_workers.wait_until(
        lambda: two_workers.get("/healthz").status_code == 200 and both_have_served(),
        what="both processes to answer requests",
        timeout=20,
    )
    scrape = two_workers.get("/metrics")
    # Whichever process answers the scrape, it reports every request, its own scrape included.
    assert _requests_counted(text_string_to_metric_families(scrape.text)) == two_workers.requests
    shares = two_workers.requests_by_process()
    assert all(0 < share < two_workers.requests for share in shares.values())
    assert sum(shares.values()) == two_workers.requests


def test_a_crashed_worker_is_replaced(two_workers):
    victim = min(two_workers.children())
    os.kill(victim, signal.SIGKILL)
    two_workers.wait_until(
        lambda: len(two_workers.children()) == 2 and victim not in two_workers.children(),
        what="a replacement worker",
    )
    two_workers.wait_until(
        lambda: all(two_workers.get("/healthz").status_code == 200 for _ in range(6)), what="steady answers"
    )


def test_sigterm_stops_every_worker(tmp_path):
    launcher = start_launcher(tmp_path, workers=2)
    children = launcher.children()
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(timeout=15) == 0
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists() and _is_running(pid)]
    with pytest.raises(httpx.TransportError):
        httpx.get(launcher.base_url + "/healthz", timeout=2)


def _is_running(pid: int) -> bool:
    """A pid whose process has not exited (a zombie awaiting its parent counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
