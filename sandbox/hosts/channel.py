"""The channel to a mechanism's container: JSON lines over the Docker attach socket.

`Channel` writes the container's stdin and reads its stdout, undoing Docker's stream framing;
`parse_envelope` checks the server's reply header and `llm_request_in` finds a hook's ctx.llm
request the server passes up in the middle of a call. Any failure is a `ChannelFault`: after one, the
channel is no longer trustworthy and the container is discarded. The server is the container's
init and cannot be reached from the mechanism's processes, but the header is decoded as untrusted
all the same (sandbox/hosts/replies.py): whatever arrives, the engine only ever sees a fault.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from bilevel_evolve.ground.untrusted import UntrustedValueError, clean_text
from bilevel_evolve.sandbox.guest.worker_link import MAX_REPLY_BYTES
from bilevel_evolve.sandbox.hosts.outcomes import MAX_REASON_CHARS
from bilevel_evolve.sandbox.hosts.replies import decode_json

MAX_HEADER_BYTES = 64 * 1024  # the server's reply header: an id, ok, and at most a short reason
MAX_CHANNEL_LINE = MAX_REPLY_BYTES + MAX_HEADER_BYTES  # a capped worker reply plus its header
SERVER_FAULTS = ("timeout", "died", "garbage", "over-budget")


class ChannelFault(Exception):
    """The channel to the container itself failed: the container must be replaced."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class Channel:
    """JSON lines over a Docker attach socket: writes the container's stdin, reads its stdout.

    Without a TTY, Docker frames the output stream: an 8-byte header (stream 0/1/2, three zero
    bytes, big-endian payload size) before each payload. Anything else means the framing is lost."""

    def __init__(self, sock: Any, max_line: int = MAX_CHANNEL_LINE) -> None:
        self._wrapper = sock  # keep the docker-py wrapper alive with its socket
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._max_line = max_line
        self._raw = bytearray()
        self._lines = bytearray()

    def send(self, data: bytes, deadline: float) -> None:
        self._sock.settimeout(_remaining(deadline))
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise ChannelFault("timeout", "the mechanism's container did not take the request in time") from None
        except OSError as exc:
            raise ChannelFault("died", f"the channel to the mechanism's container broke ({exc})") from None

    def read_line(self, deadline: float) -> bytes:
        while True:
            newline = self._lines.find(b"\n")
            if newline >= 0:
                line = bytes(self._lines[:newline])
                del self._lines[: newline + 1]
                return line
            if len(self._lines) > self._max_line:
                raise ChannelFault("garbage", f"an answer larger than {self._max_line} bytes")
            self._sock.settimeout(_remaining(deadline))
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise ChannelFault("timeout", "the mechanism's container did not answer in time") from None
            except OSError as exc:
                raise ChannelFault("died", f"the channel to the mechanism's container broke ({exc})") from None
            if not chunk:
                raise ChannelFault("died", "the mechanism's container stopped")
            self._raw += chunk
            self._demultiplex()

    def _demultiplex(self) -> None:
        raw = self._raw
        while len(raw) >= 8:
            stream, size = raw[0], int.from_bytes(raw[4:8], "big")
            if stream > 2 or raw[1:4] != b"\0\0\0" or size > self._max_line:
                raise ChannelFault("garbage", "the container's output lost Docker's stream framing")
            if len(raw) < 8 + size:
                return
            if stream == 1:
                self._lines += raw[8 : 8 + size]
            del raw[: 8 + size]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self._wrapper.close()


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ChannelFault("timeout", "the mechanism's container did not answer in time")
    return remaining


def parse_envelope(line: bytes, request_id: int) -> tuple[dict[str, Any], bytes]:
    """The server's reply header to request `request_id`, shape-checked, and the worker's answer
    after it; ChannelFault when the line is not that."""
    head, tab, answer = line.partition(b"\t")
    try:
        envelope = decode_json(head, MAX_HEADER_BYTES)
    except UntrustedValueError as exc:
        raise ChannelFault("garbage", f"the mechanism's container answered {exc}") from None
    if not isinstance(envelope, dict) or envelope.get("id") != request_id or type(envelope.get("id")) is not int:
        raise ChannelFault("garbage", "the mechanism's container answered out of turn")
    if envelope.get("ok") is True and tab:
        return envelope, answer
    if (envelope.get("ok") is False and envelope.get("kind") in SERVER_FAULTS
            and isinstance(envelope.get("reason"), str) and not tab):
        return {**envelope, "reason": clean_text(envelope["reason"], MAX_REASON_CHARS, one_line=True)}, b""
    raise ChannelFault("garbage", "the mechanism's container sent a malformed answer")


def llm_request_in(line: bytes, request_id: int) -> bytes | None:
    """The ctx.llm request in a line the server sent during request `request_id` ({"id": N, "llm": true}
    TAB the worker's request bytes, undecoded), or None when the line is the reply to it."""
    head, tab, request = line.partition(b"\t")
    try:
        header = decode_json(head, MAX_HEADER_BYTES)
    except UntrustedValueError as exc:
        raise ChannelFault("garbage", f"the mechanism's container answered {exc}") from None
    if not isinstance(header, dict) or "llm" not in header:
        return None
    if header.get("llm") is not True or header.get("id") != request_id or type(header.get("id")) is not int or not tab:
        raise ChannelFault("garbage", "the mechanism's container passed up a ctx.llm request out of turn")
    return request
