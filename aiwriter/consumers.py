"""The AI writer's WebSocket: `/ws/aiwriter/`, speaking the message contract in DESIGN.md."""

import asyncio
import functools
import logging
from contextlib import aclosing

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import limits, protocol, services
from .auth import socket_user_current
from .jobs.services import user_group

logger = logging.getLogger(__name__)

# An application close code (RFC 6455 leaves 4000-4999 to applications, and daphne refuses
# to send 1008): 4401 mirrors HTTP 401, so the browser learns the socket was refused for
# want of a sign-in, not that it broke.
CLOSE_UNAUTHENTICATED = 4401
SIGNED_OUT = "Your session has ended. Sign in again to use the AI writer."
# How long a closing socket waits for its generations to stop and be recorded.
SHUTDOWN_SECONDS = 5


class AiwriterConsumer(AsyncJsonWebsocketConsumer):
    """Runs each `generate` as its own task, keyed by request_id, so several can stream at once.

    The consumer authenticates, parses and dispatches; the generation flow lives in
    `services.generation_events`. The user's batch-job progress arrives through their group as
    `aiwriter.job_progress` events, handled by `aiwriter_job_progress`.
    """

    @property
    def groups(self) -> list[str]:
        """Channels joins these at connect and leaves them at disconnect (none before the scope is known)."""
        user = getattr(self, "scope", {}).get("user")
        return [user_group(user.pk)] if user is not None and user.is_authenticated else []

    async def connect(self) -> None:
        self.generations: dict[str, asyncio.Task] = {}
        # Accept first so the browser receives the close code; a refused handshake carries none.
        await self.accept()
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="Sign in to use the AI writer.")

    async def disconnect(self, code: int) -> None:
        tasks = list(getattr(self, "generations", {}).values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)

    @classmethod
    async def encode_json(cls, content: dict) -> str:
        return orjson.dumps(content).decode()

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
                await self._cancel(protocol.request_id_of(content))
            else:
                raise protocol.RequestRefused(
                    "invalid", f"Unknown message type {str(kind)[:40]!r}: send generate or cancel."
                )
        except protocol.RequestRefused as error:
            error.request_id = error.request_id or protocol.safe_request_id(content)
            raise

    async def aiwriter_job_progress(self, event: dict) -> None:
        """A batch job of this user's moved on (sent to their group by the batch-job services)."""
        message = {"type": "job_progress", "job": event["job"]}
        for key in ("item", "items"):
            if key in event:
                message[key] = event[key]
        await self.send_json(message)

    async def _signed_in(self, request: protocol.GenerationRequest) -> bool:
        """Whether the socket still acts for a signed-in user; if not, it says so and closes.

        Checked as every generation starts, so a sign-out, a lost role, a deactivation or a new
        password applies to sockets already open (aiwriter/access.py). Checked in the generation's
        own task, so that reading the next message (a cancel) never waits for it.
        """
        user = await socket_user_current(self.scope)
        if user.is_authenticated:
            return True
        await self.send_json(protocol.error_event(request.request_id, code="unauthorized", message=SIGNED_OUT))
        await self.close(code=CLOSE_UNAUTHENTICATED, reason=SIGNED_OUT)
        return False

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
        task = asyncio.create_task(self._generate(request), name=f"aiwriter:{request.request_id}")
        task.add_done_callback(functools.partial(self._ended, request.request_id))
        self.generations[request.request_id] = task

    async def _cancel(self, request_id: str) -> None:
        """Stop a generation and say so at once; its task closes the upstream stream and records the
        generation as cancelled as it unwinds. Unknown ids have finished already."""
        task = self.generations.get(request_id)
        if task is not None and not task.done():
            task.cancel()
            await self.send_json(protocol.cancelled_event(request_id))

    async def _generate(self, request: protocol.GenerationRequest) -> None:
        signed_in = await self._signed_in(request)
        _stop_if_cancelled()
        if not signed_in:
            return
        events = services.generation_events(user=self.scope["user"], request=request)
        # aclosing: a cancel that lands while sending must still close the generation (and upstream) now.
        async with aclosing(events):
            async for event in events:
                _stop_if_cancelled()
                await self.send_json(event)

    def _ended(self, request_id: str, task: asyncio.Task) -> None:
        """Every generation's task ends here, also one cancelled before it ever ran: its request_id is freed."""
        if self.generations.get(request_id) is task:
            del self.generations[request_id]
        if not task.cancelled() and task.exception() is not None:
            logger.error("AI writer socket failed while streaming %s", request_id, exc_info=task.exception())


def _stop_if_cancelled() -> None:
    """Stop the generation's task if it was cancelled and a library swallowed the cancel.

    Python 3.11's asyncio.wait_for, which redis-py awaits to send each command, drops a cancel that
    lands just as the command is sent (the access check, the editor's slot, the response cache); the
    task would then run on after the editor was told it stopped.
    """
    if asyncio.current_task().cancelling():
        raise asyncio.CancelledError
