"""The AI writer's WebSocket: `/ws/aiwriter/`, speaking the message contract in DESIGN.md."""

import asyncio
import contextlib
import functools
import logging
from contextlib import aclosing

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from . import jobs, limits, protocol, services

logger = logging.getLogger(__name__)

# An application close code (RFC 6455 leaves 4000-4999 to applications, and daphne refuses
# to send 1008): 4401 mirrors HTTP 401, so the browser learns the socket was refused for
# want of a sign-in, not that it broke.
CLOSE_UNAUTHENTICATED = 4401
# How long a closing socket waits for its generations to stop and be recorded.
SHUTDOWN_SECONDS = 5
# Pauses before the batch-job progress relay subscribes again after a channel-layer failure.
RELAY_RETRY_FIRST_SECONDS = 1.0
RELAY_RETRY_LONGEST_SECONDS = 30.0


class AiwriterConsumer(AsyncJsonWebsocketConsumer):
    """Runs each `generate` as its own task, keyed by request_id, so several can stream at once.

    The consumer only authenticates, parses and dispatches; the generation flow lives in
    `services.generation_events`. Generation events go straight to this socket, not through the
    channel layer, so the AI writer keeps working even while the channel layer's Redis is away;
    only the progress of the user's batch jobs comes through it, relayed by a task of its own.
    """

    channel_layer_alias = None

    async def connect(self) -> None:
        self.generations: dict[str, asyncio.Task] = {}
        self.cancelled: set[str] = set()
        self.notices: set[asyncio.Task] = set()
        # Accept first so the browser receives the close code; a refused handshake carries none.
        await self.accept()
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="Sign in to use the AI writer.")
            return
        self.job_progress = asyncio.create_task(self._relay_job_progress(), name="aiwriter:job-progress")

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer entry point, reading the socket's messages directly.

        This consumer has no channel of its own on the channel layer (the batch-job progress comes
        through the user's group, read by a task of its own), so the socket is its only source of
        messages. Channels' `await_many_dispatch` passes each message through a task and
        `asyncio.wait` first: two more event-loop turns before a generate is even read.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, without its hop to the sync thread before every message.

        Channels closes stale database connections before each message, on Django's one sync
        thread per process, so every generate waited there behind the other editors' queries before
        it was even read. This consumer makes no query on the event loop: its queries run through
        database_sync_to_async, which closes stale connections around each of them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    @classmethod
    async def encode_json(cls, content: dict) -> str:
        """orjson, not json: every frame is encoded (3.0 against 0.2 µs), thousands a second under load."""
        return orjson.dumps(content).decode()

    async def disconnect(self, code: int) -> None:
        tasks = list(getattr(self, "generations", {}).values())
        if getattr(self, "job_progress", None) is not None:
            tasks.append(self.job_progress)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if not self.scope["user"].is_authenticated:
            return
        try:
            message = protocol.message_decode(text_data if text_data is not None else bytes_data)
            await self.receive_json(message)
        except protocol.RequestRefused as error:
            await self.send_json(protocol.error_event(error.request_id, code=error.code, message=error.message))

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        try:
            if kind == "generate":
                self._start(protocol.generation_request_parse(content))
            elif kind == "cancel":
                self._cancel(protocol.request_id_of(content))
            else:
                raise protocol.RequestRefused(
                    "invalid", f"Unknown message type {str(kind)[:40]!r}: send generate or cancel."
                )
        except protocol.RequestRefused as error:
            error.request_id = error.request_id or protocol.safe_request_id(content)
            raise

    def _start(self, request: protocol.GenerationRequest) -> None:
        if request.request_id in self.generations:
            raise protocol.RequestRefused(
                "invalid", "A generation with this request_id is still running.", request_id=request.request_id
            )
        if len(self.generations) >= settings.AIWRITER_MAX_CONCURRENT_PER_USER:
            # Refused here, before any database or Redis work, so one socket cannot pile up tasks.
            raise protocol.RequestRefused(
                "rate_limited", limits.too_many_running_message(), request_id=request.request_id
            )
        # Begun here, in this message's turn: the generation's task first runs a turn later.
        early = services.generation_begin(user=self.scope["user"], request=request)
        task = asyncio.create_task(self._generate(request, early), name=f"aiwriter:{request.request_id}")
        task.add_done_callback(functools.partial(self._ended, request.request_id, early))
        self.generations[request.request_id] = task

    def _cancel(self, request_id: str) -> None:
        """Stop a generation; cancelling its task closes the upstream stream. Unknown ids have finished already."""
        task = self.generations.get(request_id)
        if task is not None and not task.done():
            self.cancelled.add(request_id)
            task.cancel()

    async def _generate(self, request: protocol.GenerationRequest, early: services.EarlyStart) -> None:
        events = services.generation_events(user=self.scope["user"], request=request, early=early)
        try:
            # aclosing: a cancel that lands while sending must still close the generation (and upstream) now.
            async with aclosing(events):
                async for event in events:
                    await self.send_json(event)
        except asyncio.CancelledError:
            if request.request_id in self.cancelled:
                await self.send_json(protocol.cancelled_event(request.request_id))
            raise
        except Exception:
            logger.exception("AI writer socket failed while streaming %s", request.request_id)
        finally:
            self.cancelled.discard(request.request_id)

    def _ended(self, request_id: str, early: services.EarlyStart, task: asyncio.Task) -> None:
        """Every generation's task ends here, also one cancelled before it ever ran.

        A task cancelled before its first step never runs its coroutine, so none of `_generate`'s
        own handling happens: that is the case when a cancel arrives in the same read as its
        generate. Here its slot is given back, its request_id freed and the editor told.
        """
        early.abandon()
        if self.generations.get(request_id) is task:
            del self.generations[request_id]
        if request_id in self.cancelled:
            self.cancelled.discard(request_id)
            notice = asyncio.get_running_loop().create_task(self.send_json(protocol.cancelled_event(request_id)))
            self.notices.add(notice)
            notice.add_done_callback(self.notices.discard)

    async def _relay_job_progress(self) -> None:
        """Pass the user's batch-job progress (sent to their group by aiwriter/jobs.py) to this socket.

        A channel-layer failure (Redis away or slow) pauses the relay, which subscribes again after a
        growing pause, instead of leaving the socket without progress for the rest of its life.
        """
        pause = RELAY_RETRY_FIRST_SECONDS
        while True:
            try:
                await self._relay_job_progress_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Batch job progress paused on this socket; retrying in %g s", pause, exc_info=True)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RELAY_RETRY_LONGEST_SECONDS)

    async def _relay_job_progress_once(self) -> None:
        layer, group = get_channel_layer(), jobs.user_group(self.scope["user"].pk)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == "aiwriter.job_progress":
                    await self.aiwriter_job_progress(message)
        finally:
            with contextlib.suppress(Exception):
                await layer.group_discard(group, channel)

    async def aiwriter_job_progress(self, event: dict) -> None:
        message = {"type": "job_progress", "job": event["job"]}
        if "item" in event:
            message["item"] = event["item"]
        await self.send_json(message)
