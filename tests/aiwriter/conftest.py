"""Fixtures for the AI writer: simulated Ollama hosts on loopback (see tests/ollama_simulator.py)."""

from collections.abc import Callable, Iterator

import pytest

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
