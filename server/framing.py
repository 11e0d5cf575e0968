"""Splitting the client's byte stream into JSON-RPC messages, and recovering from bad framing.

A message is `Content-Length: N\\r\\n` (other headers allowed), a blank line, and N
bytes of JSON. pygls's loop trusts every header: one malformed `Content-Length`
leaves it waiting for a header that has already gone by, and the server never
answers again, without a word. Here each framing problem is logged on one line
and the reader resynchronises on the next `Content-Length` header:

- a malformed or missing length: the bytes up to the next header are skipped;
- bytes that are no header (junk, the tail of a body whose length was too short):
  skipped, and counted in one log line once the next header is found;
- a length that is too long: when the body stalls, or swallowed the next message,
  the JSON value it starts with is taken and the rest read again as new input;
- a body that is not JSON, or JSON that is not a message object: logged and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

HEADER = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
NEXT_HEADER = re.compile(rb"\s*content-length[ \t]*:", re.IGNORECASE)
MAX_CONTENT_LENGTH = 2**28
"""Largest body accepted (256 MiB); a larger length is treated as malformed."""
STALL_SECONDS = 2.0
"""A body that stops arriving for this long is checked for a shorter, complete message."""
CHUNK = 2**16


class FrameReader:
    """Reads framed message bodies from a `StreamReader`, with room to read bytes again."""

    def __init__(
        self, stream: asyncio.StreamReader, line_limit: int, stall_seconds: float = STALL_SECONDS
    ) -> None:
        self.stream = stream
        self.line_limit = line_limit
        self.stall_seconds = stall_seconds
        self.pushed = bytearray()
        """Bytes read too far ahead, to be read again before the stream."""
        self.skipped = 0
        """Bytes skipped since the last good header (reported once the next one is found)."""

    def push_back(self, data: bytes) -> None:
        """Read `data` again, before anything else."""
        self.pushed[:0] = data

    async def readline(self) -> bytes:
        """One line including its newline; what is left at end of input; b"" after that."""
        if self.pushed:
            end = self.pushed.find(b"\n")
            if end != -1:
                line = bytes(self.pushed[: end + 1])
                del self.pushed[: end + 1]
                return line
            head = bytes(self.pushed)
            self.pushed.clear()
            return head + await self._stream_line()
        return await self._stream_line()

    async def _stream_line(self) -> bytes:
        try:
            return await self.stream.readline()
        except ValueError:  # A "line" longer than the stream's limit: asyncio dropped it.
            self.skipped += self.line_limit
            return b"\n"

    async def read_chunk(self, most: int) -> bytes:
        """Up to `most` bytes (pushed-back ones first); b"" at end of input."""
        if self.pushed:
            chunk = bytes(self.pushed[:most])
            del self.pushed[:most]
            return chunk
        return await self.stream.read(most)

    async def next_body(self) -> bytes | None:
        """The body of the next well-framed message; None at end of input."""
        while True:
            length = await self.read_headers()
            if length is None:
                return None
            body = await self.read_body(length)
            if body is not None:
                return body

    async def read_headers(self) -> int | None:
        """Read up to the blank line after a valid `Content-Length`; its value, None at end of input."""
        length: int | None = None
        while True:
            line = await self.readline()
            if not line:
                if self.skipped:
                    logger.error("skipped %d bytes at the end of input that were no message", self.skipped)
                return None
            if not line.strip():
                if length is not None:
                    return length
                continue
            matches = list(HEADER.finditer(line))
            if not matches:
                if length is None:
                    self.skipped += len(line)
                continue  # Another header (Content-Type), or junk while resynchronising.
            header = matches[-1]
            self.skipped += header.start()
            if self.skipped:
                logger.error("skipped %d bytes that were no JSON-RPC message", self.skipped)
                self.skipped = 0
            value = header.group(1).strip()
            if value.isdigit() and 0 < int(value) <= MAX_CONTENT_LENGTH:
                length = int(value)
            else:
                shown = value[:40].decode("ascii", "replace")
                logger.error("malformed Content-Length header %r: skipping to the next message", shown)
                length = None

    async def read_body(self, length: int) -> bytes | None:
        """`length` bytes; a shorter complete message when the body stalls; None at end of input."""
        body = bytearray()
        while len(body) < length:
            try:
                wanted = min(CHUNK, length - len(body))
                chunk = await asyncio.wait_for(self.read_chunk(wanted), self.stall_seconds)
            except TimeoutError:
                if (found := self.complete_prefix(bytes(body), stalled=True)) is not None:
                    return found
                continue
            if not chunk:
                if body:
                    logger.error("input ended inside a message (%d of %d bytes)", len(body), length)
                return None
            body += chunk
        return self.complete_prefix(bytes(body), stalled=False)

    def complete_prefix(self, body: bytes, *, stalled: bool) -> bytes | None:
        """The body to deliver: all of it, or the JSON value it starts with when the length was too long.

        A body that is one JSON value is delivered whole (its text is checked later).
        One that holds a JSON value followed by the next message's header (or, when
        `stalled`, by nothing more) had a length that was too long: that value is
        delivered and the rest read again. A stalled body that is not yet a JSON
        value gives None (keep waiting); so does a complete one that is not JSON.
        """
        text = body.decode("utf-8", "replace")
        try:
            value_end = json.JSONDecoder().raw_decode(text.lstrip())[1] + (len(text) - len(text.lstrip()))
        except ValueError:
            if stalled:
                return None
            # Not JSON: perhaps a length too short for this body. Resynchronise on what follows.
            logger.error("a %d-byte message was not valid JSON; skipped", len(body))
            self.rescan(body)
            return None
        consumed = len(text[:value_end].encode("utf-8", "replace"))
        rest = body[consumed:]
        if not rest.strip():
            if stalled:
                logger.error("Content-Length was larger than its %d-byte message", consumed)
            return body[:consumed] if stalled else body
        if NEXT_HEADER.match(rest):
            logger.error("Content-Length was larger than its %d-byte message", consumed)
            self.push_back(rest)
            return body[:consumed]
        if stalled:
            return None
        logger.error("a %d-byte message had extra bytes after its JSON; skipped", len(body))
        self.rescan(body)
        return None

    def rescan(self, body: bytes) -> None:
        """Read again whatever in a skipped body looks like the start of the next message."""
        found = [match.start() for match in HEADER.finditer(body)]
        if found:
            self.push_back(body[found[0] :])


def decode_message(body: bytes) -> dict[str, Any] | None:
    """A body's JSON object; None (logged on one line) when it is not JSON or not an object."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        logger.error("a message was not valid JSON: %s", str(error).splitlines()[0] if str(error) else error)
        return None
    if not isinstance(data, dict):
        logger.error("a message was JSON but not an object (%s); skipped", type(data).__name__)
        return None
    return data
