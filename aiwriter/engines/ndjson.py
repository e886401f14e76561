"""Splitting an NDJSON byte stream into lines.

Lines are split on b"\\n" only, in bytes. httpx's `aiter_lines()` splits decoded text with
`str.splitlines()`, which also breaks on U+0085, U+2028 and U+2029; JSON encoders may leave those
unescaped inside strings, so a model that writes one would otherwise produce a broken line.
"""

# Far beyond any real line (one token plus statistics); a bound keeps a broken server from
# filling memory with a line that never ends.
MAX_LINE_BYTES = 8 * 1024 * 1024


class LineTooLong(ValueError):
    pass


class NDJSONLineBuffer:
    """Collects bytes as they arrive and hands back whole lines; one read may hold any part of a line."""

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._max_line_bytes = max_line_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Adds `data` and returns the complete, non-blank lines it finished, without line endings."""
        self._buffer += data
        if b"\n" not in data:
            # Still inside one line: skip re-splitting the whole buffer on every small read.
            if len(self._buffer) > self._max_line_bytes:
                raise LineTooLong(f"a line is longer than {self._max_line_bytes} bytes")
            return []
        *lines, rest = self._buffer.split(b"\n")
        if len(rest) > self._max_line_bytes:
            raise LineTooLong(f"a line is longer than {self._max_line_bytes} bytes")
        self._buffer = bytearray(rest)
        return [line for line in (_strip(line) for line in lines) if line]

    def flush(self) -> bytes | None:
        """The last line when the stream ended without a final newline."""
        rest = _strip(self._buffer)
        self._buffer = bytearray()
        return rest or None


def _strip(line: bytes | bytearray) -> bytes:
    return bytes(line).strip(b" \t\r")
