"""Shaping streamed model text into what the editor sees."""

import re

_WHITESPACE = re.compile(r"\s+")


class OutputShaper:
    """Drops the blank space models start with and, given a limit, cuts the text on a word boundary.

    Text already sent to the browser cannot be taken back, so with a limit the shaper holds back
    the last partial word until it knows whether the word fits. `full` turns true once the limit
    is reached; the caller then stops the model rather than paying for text nobody will see.
    """

    def __init__(self, *, limit: int | None = None) -> None:
        self.limit = limit
        self.full = False
        self._started = False
        self._sent = 0
        self._pending = ""

    def feed(self, text: str) -> str:
        """The part of `text` that can be shown now."""
        if self.full:
            return ""
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        if self.limit is None:
            return text
        self._pending += text
        room = self.limit - self._sent
        if len(self._pending) > room:
            return self._cut(room)
        return self._emit(_last_boundary(self._pending))

    def finish(self) -> str:
        """What was held back, once the model has finished."""
        if self.limit is None or self.full:
            return ""
        tail = self._pending.rstrip()
        room = self.limit - self._sent
        if len(tail) > room:
            return self._cut(room)
        return self._emit(len(tail))

    def _cut(self, room: int) -> str:
        """The longest run of whole words that fits in `room`; a single overlong word is cut hard."""
        self.full = True
        boundary = _last_boundary(self._pending[: room + 1])
        if boundary == 0 and self._sent == 0:
            boundary = room
        return self._emit(boundary).rstrip()

    def _emit(self, end: int) -> str:
        piece, self._pending = self._pending[:end], self._pending[end:]
        self._sent += len(piece)
        return piece


def _last_boundary(text: str) -> int:
    """Where the last whitespace run in `text` starts: everything before it is whole words."""
    boundary = 0
    for match in _WHITESPACE.finditer(text):
        boundary = match.start()
    return boundary
