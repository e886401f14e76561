"""The audit records of generations: gathered in batches and written on a thread of their own.

Every generation ends with a `Generation` row. One INSERT each, through Django's one sync thread
per process, kept that thread from preparing the next editors' requests when hundreds of
generations ended together, and every hop there opened and closed a database connection:
measured on SQLite with this project's settings, 3.8 ms of CPU for a batch of five rows, of
which 2.6 ms was connecting. The thread's Python work also holds the interpreter lock the event
loop needs. So a batch gathers the records that end within `RECORD_GATHER_SECONDS` of its
first, and is written on the writer's own thread, which keeps its connection while records keep
coming and closes it after `RECORD_CONNECTION_IDLE_SECONDS` without any.
"""

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, connection

from blogsite.per_loop import PerLoop

from .models import Generation

logger = logging.getLogger(__name__)

RECORD_BATCH_SIZE = 500
RECORD_GATHER_SECONDS = 0.05
RECORD_CONNECTION_IDLE_SECONDS = 5.0

# One thread for the whole process: batches are written one after another on one connection.
_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiwriter-records")


class GenerationRecordWriter:
    """Writes the audit records of one event loop; `write` returns once its batch is committed,
    so a generation still ends only after its record exists."""

    def __init__(self) -> None:
        self.pending: list[tuple[Generation, asyncio.Future]] = []
        self.flushing: asyncio.Task | None = None
        self.idle_close: asyncio.TimerHandle | None = None

    async def write(self, row: Generation) -> None:
        loop = asyncio.get_running_loop()
        written = loop.create_future()
        self.pending.append((row, written))
        if self.flushing is None or self.flushing.done():
            # A task of its own: a cancelled generation must not stop the other records in its batch.
            self.flushing = loop.create_task(self._flush(), name="aiwriter:generation-records")
        await written

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        if self.idle_close is not None:
            self.idle_close.cancel()
        await asyncio.sleep(RECORD_GATHER_SECONDS)
        while self.pending:
            batch, self.pending = self.pending[:RECORD_BATCH_SIZE], self.pending[RECORD_BATCH_SIZE:]
            try:
                await loop.run_in_executor(_thread, generation_records_save, [row for row, _ in batch])
            except Exception as error:
                logger.exception("%d AI generation records were not written", len(batch))
                _settle(batch, error)
            else:
                _settle(batch, None)
        self.idle_close = loop.call_later(RECORD_CONNECTION_IDLE_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.flushing is None or self.flushing.done():
            asyncio.get_running_loop().run_in_executor(_thread, _connection_close)


def _connection_close() -> None:
    # Looked up on the writer's thread: Django's connections are per thread. Nobody awaits the close,
    # and a connection already broken has nothing left to close.
    with contextlib.suppress(DatabaseError):
        connection.close()


def _settle(batch: list[tuple[Generation, asyncio.Future]], error: Exception | None) -> None:
    for _, written in batch:
        if written.done():
            continue
        if error is None:
            written.set_result(None)
        else:
            written.set_exception(error)


def generation_records_save(rows: list[Generation]) -> None:
    """Insert the rows in one statement, on this thread's connection.

    A connection kept from an earlier batch may have gone stale meanwhile (the database server
    restarted, or dropped an idle session): the batch is tried once more on a new one.
    """
    reused = connection.connection is not None
    try:
        Generation.objects.bulk_create(rows)
    except DatabaseError:
        connection.close()
        if not reused:
            raise
        Generation.objects.bulk_create(rows)


_writers: PerLoop[GenerationRecordWriter] = PerLoop()


def record_writer() -> GenerationRecordWriter:
    """The running loop's writer (a future belongs to the loop that made it)."""
    return _writers.get(GenerationRecordWriter)
