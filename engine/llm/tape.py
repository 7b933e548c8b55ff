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

from bilevel_evolve.engine.llm.cassette import Cassette, CassetteEntry, ChatRequest
from bilevel_evolve.engine.llm.pricing import Price
from bilevel_evolve.engine.llm.transport import LiveReply
from bilevel_evolve.ground.errors import EvolveError

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
        self._recorder_len = 0
        self.rewind(0)

    @property
    def replaying(self) -> bool:
        return self.live is None

    def _source_is_recorder(self) -> bool:
        if self.source is None or self.recorder is None:
            return False
        return self.source.path.resolve() == self.recorder.path.resolve()

    def rewind(self, calls_made: int) -> None:
        """Position the tape after exchange `calls_made` (0 for a new run, k when resuming).

        Nothing is deleted here: a recorded future is dropped only when this run records a different
        exchange in its place (see _record), so rewinding twice, or to 0 first, is harmless.
        """
        own = self.recorder.drop_torn_tail() if self.recorder is not None else []
        self._recorder_len = len(own)
        recorded = own if self._source_is_recorder() else self.source.read() if self.source else []
        if len(recorded) < calls_made:
            if self.replaying:
                raise EvolveError(
                    f"the recorded cassette holds {len(recorded)} exchanges but the checkpoint counts {calls_made}",
                    "replay from the run directory whose cassette this checkpoint belongs to",
                )
            log.warning("cassette_shorter_than_checkpoint", recorded=len(recorded), calls_made=calls_made)
        self._recorded_total = len(recorded)
        self._pending = recorded[calls_made:]
        if self._pending:
            log.info("cassette_pending", first=self._pending[0].seq, count=len(self._pending))

    def _record(self, entry: CassetteEntry) -> None:
        if self.recorder is None:
            return
        if self._recorder_len >= entry.seq:
            # The cassette holds exchanges from before a crash that this run does not repeat.
            log.warning("cassette_truncated", kept=entry.seq - 1, dropped=self._recorder_len - entry.seq + 1)
            self.recorder.truncate(entry.seq - 1)
        self.recorder.append(entry)
        self._recorder_len = entry.seq

    def exchange(self, seq: int, purpose: str, request: ChatRequest) -> tuple[CassetteEntry, Origin]:
        digest = request.digest(purpose)
        if self._pending:
            entry = self._pending[0]
            if entry.seq == seq and entry.request_hash == digest:
                self._pending.pop(0)
                if not self._source_is_recorder():
                    self._record(entry)
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
        self._record(entry)
        return entry, "live"
