"""Fixtures for the AI writer: simulated Ollama hosts on loopback (see tests/ollama_simulator.py)."""

from collections.abc import Callable, Iterator

import pytest
from channels.layers import channel_layers

from tests.ollama_simulator import OllamaSimulator


@pytest.fixture
def ollama_sim_factory() -> Iterator[Callable[..., OllamaSimulator]]:
    """Starts simulators on demand (for several hosts); each takes OllamaSimulator's keyword arguments."""
    simulators: list[OllamaSimulator] = []

    def start(**config) -> OllamaSimulator:
        simulator = OllamaSimulator(**config).start()
        simulators.append(simulator)
        return simulator

    yield start
    for simulator in simulators:
        simulator.stop()


@pytest.fixture
def ollama_sim(ollama_sim_factory) -> OllamaSimulator:
    """A fresh simulated Ollama host, stopped at teardown; `ollama_sim.url` is its base URL."""
    return ollama_sim_factory()


@pytest.fixture
def ollama_settings(settings, ollama_sim) -> OllamaSimulator:
    """Points the site's OLLAMA_URLS at the simulator for the duration of a test."""
    settings.OLLAMA_URLS = [ollama_sim.url]
    return ollama_sim


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
