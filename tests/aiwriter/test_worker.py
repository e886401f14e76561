"""A worker process's one event loop and gateway (aiwriter/worker.py)."""

import asyncio
import os
import threading

import pytest
from celery import signals

from aiwriter import gateway, worker
from aiwriter.gateway import Gateway


@pytest.fixture(autouse=True)
def _loop_stopped():
    yield
    worker.loop_stop()


@pytest.fixture
def closed_gateways(monkeypatch) -> list[Gateway]:
    closed = []
    aclose = Gateway.aclose

    async def recording(self):
        closed.append(self)
        await aclose(self)

    monkeypatch.setattr(Gateway, "aclose", recording)
    return closed


async def gateway_and_loop() -> tuple[Gateway, asyncio.AbstractEventLoop]:
    return gateway.get_gateway(), asyncio.get_running_loop()


def test_every_run_in_a_process_uses_the_same_loop_and_gateway():
    first = worker.run(gateway_and_loop(), timeout=5)
    second = worker.run(gateway_and_loop(), timeout=5)
    assert first[0] is second[0]
    assert first[1] is second[1]


def test_stopping_closes_the_gateway_and_a_later_run_starts_afresh(closed_gateways):
    used, loop = worker.run(gateway_and_loop(), timeout=5)

    worker.loop_stop()

    assert closed_gateways == [used]
    assert loop.is_closed()
    assert worker.run(gateway_and_loop(), timeout=5)[0] is not used


def test_errors_reach_the_caller():
    async def refused():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        worker.run(refused(), timeout=5)


def test_a_run_past_its_timeout_is_cancelled_before_the_caller_goes_on():
    cleaned_up = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        finally:
            cleaned_up.set()

    with pytest.raises(TimeoutError):
        worker.run(slow(), timeout=0.1)
    assert cleaned_up.is_set()
    assert worker.run(gateway_and_loop(), timeout=5)  # the loop goes on serving


@pytest.mark.parametrize(
    "shutdown",
    [
        pytest.param(
            lambda: signals.worker_process_shutdown.send(sender="w", pid=os.getpid(), exitcode=0), id="prefork"
        ),
        pytest.param(lambda: signals.worker_shutdown.send(sender="w"), id="solo-or-threads"),
    ],
)
def test_the_loop_lives_from_the_worker_process_start_to_its_end(shutdown, closed_gateways):
    signals.worker_process_init.send(sender="w")
    used, loop = worker.run(gateway_and_loop(), timeout=5)
    assert loop.is_running()

    shutdown()

    assert closed_gateways == [used]
    assert loop.is_closed()
