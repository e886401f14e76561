"""Fixtures for the AI writer: simulated inference engines on loopback (see tests/engine_simulator.py).

`dialect` picks the API the simulated engines speak; it is "ollama" unless a test module asks
for both by importing `both_dialects` from tests/aiwriter/fixtures.py (the gateway's, the
engine clients', the consumer's and the alt-text tests do).
"""

from collections.abc import Callable, Iterator

import pytest
from channels.layers import channel_layers

from tests.engine_simulator import EngineSimulator

DIALECTS = ("ollama", "openai")
CHAT_PATHS = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}


def backend_of(simulator: EngineSimulator) -> dict[str, str]:
    """The AIWRITER_BACKENDS entry that points the site at `simulator`."""
    url = simulator.url + ("/v1" if simulator.dialect == "openai" else "")
    return {"dialect": simulator.dialect, "url": url, "api_key_env": ""}


def chat_requests(*simulators: EngineSimulator) -> list:
    """The chat requests the simulators received, whatever their dialect."""
    return [record for sim in simulators for record in sim.requests_to(CHAT_PATHS[sim.dialect])]


@pytest.fixture
def dialect() -> str:
    return "ollama"


@pytest.fixture
def engine_factory(dialect) -> Iterator[Callable[..., EngineSimulator]]:
    """Starts simulators on demand (for several hosts); each takes EngineSimulator's keyword arguments."""
    simulators: list[EngineSimulator] = []

    def start(**config) -> EngineSimulator:
        config.setdefault("dialect", dialect)
        simulator = EngineSimulator(**config).start()
        simulators.append(simulator)
        return simulator

    yield start
    for simulator in simulators:
        simulator.stop()


@pytest.fixture
def engine(engine_factory) -> EngineSimulator:
    """A fresh simulated engine, stopped at teardown; `engine.url` is its address."""
    return engine_factory()


@pytest.fixture
def engine_settings(settings, engine) -> EngineSimulator:
    """Points the site's AIWRITER_BACKENDS at the simulator for the duration of a test."""
    settings.AIWRITER_BACKENDS = [backend_of(engine)]
    return engine


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own channel layer.

    channels-redis binds its receive lock to the event loop that first receives on it, and
    a receive cancelled at a socket's disconnect leaves that lock held; tests run their own
    event loops, so a layer shared between them would fail in whichever test comes next.
    """
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}
