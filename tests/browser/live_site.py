"""The site as people use it, for the browser tests: deploy/scripts/serve.py's daphne on a free
loopback port, with its own SQLite database filled with the demo content, its own redis-server,
the engine simulator as its Ollama server and, when a test needs one, a Celery worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.engine_simulator import EngineSimulator
from tests.redis_server import start_redis, stop_redis

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60
PASSWORD = "browser-test-password"


@dataclass
class LiveSite:
    folder: Path
    engine: EngineSimulator
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    facts: dict = field(default_factory=dict)
    _processes: list[subprocess.Popen] = field(default_factory=list)
    _redis: subprocess.Popen | None = None
    _worker: subprocess.Popen | None = None

    def start(self) -> LiveSite:
        self._redis, redis_port = start_redis()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
            "DATABASE_URL": f"sqlite:///{self.folder / 'site.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "OLLAMA_URLS": self.engine.url,
            "AIWRITER_BACKENDS": "",
            "AIWRITER_LOCAL_ENGINE_URL": "",
            "DJANGO_LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(self.folder / "media"),
        }
        for name in ("PROMETHEUS_MULTIPROC_DIR", "TEST_REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            self.env.pop(name, None)
        prepared = subprocess.run(
            [sys.executable, "-m", "tests.browser.prepare_site", PASSWORD],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert prepared.returncode == 0, prepared.stderr[-3000:]
        self.facts = json.loads(prepared.stdout)
        command = [
            sys.executable, str(ROOT / "deploy" / "scripts" / "serve.py"), "--port", "0", "--workers", "1",
            "--metrics-dir", str(self.folder / "prometheus"), "--", "-v", "0",
        ]  # fmt: skip
        log = (self.folder / "server.log").open("ab")
        server = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
        self._processes.append(server)
        banner = server.stdout.readline()  # "Serving on http://127.0.0.1:PORT/ with 1 daphne processes"
        assert banner.startswith("Serving on http://"), banner + self.log("server.log")
        self.url = banner.split()[2].rstrip("/")
        # Whatever else it prints goes to the log, so that a full pipe never stops the server.
        threading.Thread(target=_copy_lines, args=(server.stdout, self.folder / "server.log"), daemon=True).start()
        self._wait(lambda: self._answers("/healthz"), what="the site's first answer", process=server)
        return self

    def start_worker(self) -> None:
        """A Celery worker on the site's queues, once for the session."""
        if self._worker is not None:
            return
        log_path = self.folder / "worker.log"
        command = [
            sys.executable, "-m", "celery", "-A", "blogsite", "worker", "-Q", "ai,default", "--pool", "threads",
            "--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            self._worker = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self._processes.append(self._worker)
        self._wait(lambda: b" ready." in log_path.read_bytes(), what="the Celery worker", process=self._worker)

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._redis is not None:
            stop_redis(self._redis)

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    @staticmethod
    def _wait(condition, *, what: str, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not condition():
            assert process.poll() is None, f"{what}: the process exited with {process.returncode}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


def _copy_lines(source, path: Path) -> None:
    with path.open("a") as log:
        for line in source:
            log.write(line)
            log.flush()
