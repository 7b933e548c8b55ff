"""Where each exchange comes from: recorded entries first, then the live endpoint.

One abstraction covers the three modes:
- live:   source = the run's own cassette (empty for a new run), live endpoint present;
- resume: the same, rewound to the checkpoint's exchange count k: entries after k that were recorded
          before the crash are served again while their request hash matches (no repeated paid call,
          identical decisions); at the first mismatch the cassette is truncated and the tape goes live;
- replay: source = another run's cassette, no live endpoint: every exchange must match, in order;
          served entries are copied into this run's own cassette, so a replay is itself replayable.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol

import structlog

from engine.errors import EvolveError
from engine.llm.cassette import Cassette, CassetteEntry, ChatRequest
from engine.llm.pricing import Price
from engine.llm.transport import LiveReply

Origin = Literal["live", "cassette"]

log = structlog.get_logger(__name__)


class LiveTransport(Protocol):
    def send(self, request: ChatRequest, purpose: str) -> LiveReply: ...


class Tape:
    def __init__(
        self,
        *,
        live: LiveTransport | None,
        recorder: Cassette | None,
        source: Cassette | None = None,
        price: Price | None = None,
    ) -> None:
        if live is None and source is None:
            raise ValueError("a tape needs a live transport, a recorded source, or both")
        self.live = live
        self.recorder = recorder
        self.source = source if source is not None else recorder
        self.price = price
        self._pending: list[CassetteEntry] = []
        self._recorded_total = 0
        self.rewind(0)

    @property
    def replaying(self) -> bool:
        return self.live is None

    @property
    def pending(self) -> int:
        """Recorded exchanges still to be served before the tape goes live."""
        return len(self._pending)

    def _source_is_recorder(self) -> bool:
        if self.source is None or self.recorder is None:
            return False
        return self.source.path.resolve() == self.recorder.path.resolve()

    def rewind(self, calls_made: int) -> None:
        """Position the tape after exchange `calls_made` (0 for a new run, k when resuming)."""
        own = self.recorder.drop_torn_tail() if self.recorder is not None else []
        if self._source_is_recorder():
            recorded = own
        else:
            recorded = self.source.read() if self.source is not None else []
            if self.recorder is not None and len(own) > calls_made:
                self.recorder.truncate(calls_made)
        if len(recorded) < calls_made:
            if self.replaying:
                raise EvolveError(
                    f"the recorded cassette holds {len(recorded)} exchanges but the checkpoint counts "
                    f"{calls_made}",
                    "replay from the run directory whose cassette this checkpoint belongs to",
                )
            log.warning("cassette_shorter_than_checkpoint", recorded=len(recorded), calls_made=calls_made)
        self._recorded_total = len(recorded)
        self._pending = recorded[calls_made:]
        if self._pending:
            log.info("cassette_pending", first=self._pending[0].seq, count=len(self._pending))

    def exchange(self, seq: int, purpose: str, request: ChatRequest) -> tuple[CassetteEntry, Origin]:
        digest = request.digest(purpose)
        if self._pending:
            entry = self._pending[0]
            if entry.seq == seq and entry.request_hash == digest:
                self._pending.pop(0)
                if self.recorder is not None and not self._source_is_recorder():
                    self.recorder.append(entry)
                return entry, "cassette"
            if self.replaying:
                raise EvolveError(
                    f"replay diverged at exchange {seq}: the run's inputs differ from the recorded one "
                    f"(recorded purpose {entry.purpose!r}, now {purpose!r})",
                    "replay with the same domain, seed, levels and options as the recorded run "
                    "(its config.json lists them)",
                )
            log.warning("cassette_diverged_going_live", seq=seq, dropped=len(self._pending))
            self._pending = []
            if self.recorder is not None:
                self.recorder.truncate(seq - 1)
        elif self.live is None:
            raise EvolveError(
                f"replay ran out of recorded exchanges: exchange {seq} was asked for, the cassette holds "
                f"{self._recorded_total}",
                "replay no further than the recorded run went (same or fewer --iterations), "
                "or run with --agent llm to continue live",
            )
        assert self.live is not None
        reply = self.live.send(request, purpose)
        entry = CassetteEntry(
            seq=seq,
            purpose=purpose,
            request_hash=digest,
            request=request,
            response=reply.text,
            finish_reason=reply.finish_reason,
            usage=reply.usage,
            cost_usd=self.price.cost_usd(reply.usage.prompt_tokens, reply.usage.completion_tokens)
            if self.price
            else 0.0,
            latency_s=round(reply.latency_s, 6),
            attempts=reply.attempts,
            recorded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if self.recorder is not None:
            self.recorder.append(entry)
        return entry, "live"
