"""Separates `<think>…</think>` reasoning from the answer in streamed text.

Engines that serve reasoning models without a field of their own for thinking (llama.cpp's
server and others, with Qwen or DeepSeek models) stream it inside the content, between these
tags. A tag may arrive split over several pieces, so a piece that ends with the start of a tag is
held back until the next one shows what it is.
"""

from .types import Chunk, Thinking

OPEN, CLOSE = "<think>", "</think>"


class ThinkTagSplitter:
    def __init__(self) -> None:
        self._thinking = False
        self._held = ""

    def feed(self, text: str) -> list[Chunk | Thinking]:
        """The pieces of `text` that are known now, as answer or thinking."""
        text, self._held = self._held + text, ""
        pieces: list[Chunk | Thinking] = []
        while text:
            tag = CLOSE if self._thinking else OPEN
            at = text.find(tag)
            if at >= 0:
                self._emit(pieces, text[:at])
                text = text[at + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_tag_at_end(text, tag)
            self._emit(pieces, text[: len(text) - keep])
            self._held = text[len(text) - keep :]
            break
        return pieces

    def finish(self) -> list[Chunk | Thinking]:
        """What was held back, once the stream has ended."""
        pieces: list[Chunk | Thinking] = []
        self._emit(pieces, self._held)
        self._held = ""
        return pieces

    def _emit(self, pieces: list[Chunk | Thinking], text: str) -> None:
        if text:
            pieces.append(Thinking(text) if self._thinking else Chunk(text))


def _partial_tag_at_end(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
