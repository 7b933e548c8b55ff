"""A mechanism's source as one value: its exact bytes, their SHA-256 and the size cap, checked once.

It is made where a source enters (a scientist writes it, a user's file is read, the archive reads
it back) and travels unchanged through gate -> box -> archive -> host; its `sha256` is the archive
id. Standard library only (the mechanism host's server inside the container checks the same cap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES


class SourceTooLarge(ValueError):
    """A source over MAX_SOURCE_BYTES: not a mechanism (the message is a rejection reason)."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"the source is {size} bytes; at most {MAX_SOURCE_BYTES}")


def sha256_hex(data: bytes) -> str:
    """The content address of a source (the archive's id for it)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True, repr=False)
class MechanismSource:
    """`MechanismSource(data)`; raises SourceTooLarge past the cap. UTF-8 is the gate's to check."""

    data: bytes
    sha256: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"a mechanism source is bytes, not {type(self.data).__name__}")
        if len(self.data) > MAX_SOURCE_BYTES:
            raise SourceTooLarge(len(self.data))
        object.__setattr__(self, "sha256", sha256_hex(self.data))

    @classmethod
    def from_text(cls, text: str) -> MechanismSource:
        """The UTF-8 bytes of text; lone surrogates are kept, so the gate rejects them as not UTF-8."""
        return cls(text.encode("utf-8", "surrogatepass"))

    @property
    def size(self) -> int:
        return len(self.data)

    def text(self) -> str:
        """The source as text; raises UnicodeDecodeError when it is not UTF-8."""
        return self.data.decode("utf-8")

    def __repr__(self) -> str:
        return f"MechanismSource({self.sha256[:12]}, {self.size} bytes)"
