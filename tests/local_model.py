"""The local model for end-to-end tests: a real inference engine, not a simulator.

llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct, started once per test
session on a free loopback port the way run-dev.sh starts it (deploy/scripts/local_engine.py).
Test modules import the fixtures they use from here (`from tests.local_model import ...`).
"""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.redis_server import free_port

BASE_DIR = Path(__file__).resolve().parents[1]
LOCAL_ENGINE = BASE_DIR / "deploy" / "scripts" / "local_engine.py"
MODEL_ALIAS = "smollm2-135m"
START_TIMEOUT = 60
STOP_TIMEOUT = 10


@dataclass(frozen=True)
class LocalEngine:
    process: subprocess.Popen
    url: str  # the API's base URL, http://127.0.0.1:<port>/v1
    log: Path

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far: it rises only while the model generates."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def local_engine_server() -> Iterator[LocalEngine]:
    """The running server, stopped at the end of the session.

    The model is part of the install (bootstrap.sh), so a missing one fails the tests rather than
    skipping them.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="local-engine-") as folder:
        log = Path(folder) / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, str(LOCAL_ENGINE), "serve", "--port", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        engine = LocalEngine(process=process, url=f"http://127.0.0.1:{port}/v1", log=log)
        try:
            _wait_until_serving(engine)
            yield engine
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def local_engine(local_engine_server: LocalEngine) -> str:
    """The local engine's base URL, http://127.0.0.1:<port>/v1."""
    return local_engine_server.url


def _wait_until_serving(engine: LocalEngine) -> None:
    """The server has no /health; it lists its model once the model is loaded."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            pytest.fail(
                f"The local model's server exited with status {engine.process.returncode}; install it with "
                f"`bash deploy/scripts/bootstrap.sh`. Its output:\n{engine.log_tail()}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{engine.url}/models", timeout=1).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"The local model did not answer within {START_TIMEOUT} s. Its output:\n{engine.log_tail()}")
