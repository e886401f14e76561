"""The audit records' writer: batches on a thread of its own, one connection while records keep coming."""

import asyncio
import threading

import pytest
from django.db import IntegrityError, connection
from django.db.backends.signals import connection_created

from aiwriter import records
from aiwriter.models import Generation, Outcome
from tests.aiwriter.fixtures import transactional

pytestmark = transactional


def audit_row(request_id: str, **fields) -> Generation:
    values = {
        "action": "draft",
        "model": "llama3.2:1b",
        "input_hash": "0" * 64,
        "duration_ms": 5,
        "outcome": Outcome.DONE,
    }
    return Generation(request_id=request_id, **{**values, **fields})


async def on_writer_thread(function) -> None:
    await asyncio.get_running_loop().run_in_executor(records._thread, function)


@pytest.fixture
async def connections_opened():
    """The writer starts without a connection; counts the connections its thread opens."""
    await on_writer_thread(records._connection_close)
    opened: list[str] = []

    def note(**kwargs) -> None:
        if threading.current_thread().name.startswith("aiwriter-records"):
            opened.append(threading.current_thread().name)

    connection_created.connect(note)
    yield opened
    connection_created.disconnect(note)
    await on_writer_thread(records._connection_close)


async def test_records_ending_together_are_written_before_their_generations_end(connections_opened):
    writer = records.GenerationRecordWriter()

    await asyncio.gather(*(writer.write(audit_row(f"r{n}")) for n in range(5)))

    assert await Generation.objects.filter(request_id__startswith="r").acount() == 5
    assert len(connections_opened) == 1


async def test_batches_share_the_writer_connection_until_it_is_idle(connections_opened, monkeypatch):
    monkeypatch.setattr(records, "RECORD_CONNECTION_IDLE_SECONDS", 0.2)
    writer = records.GenerationRecordWriter()

    await writer.write(audit_row("first"))
    await writer.write(audit_row("second"))
    assert len(connections_opened) == 1

    await asyncio.sleep(0.4)
    await writer.write(audit_row("after a pause"))
    assert len(connections_opened) == 2
    assert await Generation.objects.acount() == 3


async def test_a_stale_connection_is_replaced_without_losing_the_batch(connections_opened):
    writer = records.GenerationRecordWriter()
    await writer.write(audit_row("before"))

    # The database went away behind Django's back (a server restart drops every session).
    await on_writer_thread(lambda: connection.connection.close())
    await writer.write(audit_row("after"))

    assert [row async for row in Generation.objects.order_by("pk").values_list("request_id", flat=True)] == [
        "before",
        "after",
    ]
    assert len(connections_opened) == 2


async def test_a_batch_the_database_refuses_is_reported_to_its_generations(connections_opened):
    writer = records.GenerationRecordWriter()

    with pytest.raises(IntegrityError):
        await writer.write(audit_row("broken", outcome=None))

    await writer.write(audit_row("next"))
    assert [row async for row in Generation.objects.values_list("request_id", flat=True)] == ["next"]
