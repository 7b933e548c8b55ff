"""Reading the files a text run starts from: the article and its rubric, as UTF-8 text.

Both are the user's input, so every way they can be unusable (missing, empty, binary, not UTF-8, too
large) is a UsageError that names the file and the fix, raised before a run directory is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bilevel_evolve.ground.contract.interface import MAX_DRAFT_BYTES as MAX_DRAFT_BYTES
from bilevel_evolve.ground.errors import UsageError

# The longest article a run takes (UTF-8 bytes, about 5,000 words). A revision may grow it, up to the
# contract's MAX_DRAFT_BYTES (64 KiB, what a generated stage may return too).
MAX_ARTICLE_BYTES = 32 * 1024
MAX_RUBRIC_BYTES = 16 * 1024
_BINARY_SAMPLE = 8192


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def read_text_file(path: Path, what: str, max_bytes: int) -> TextFile:
    """The text of an article or rubric file; UsageError for anything that is not usable UTF-8 text."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UsageError(f"{what} {path} is not a file", f"pass the path of a markdown file as the {what}")
        if size > max_bytes:
            raise UsageError(f"{what} {path} is {size:,} bytes; at most {max_bytes:,} are taken",
                             f"shorten it, or split it and optimize each part as its own {what}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist", f"pass the path of a markdown file as the {what}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror or exc}",
                         f"pass a readable markdown file as the {what}") from None
    if b"\0" in data[:_BINARY_SAMPLE]:
        raise UsageError(f"{what} {path} is binary, not text", f"pass a UTF-8 markdown file as the {what}")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text (byte {exc.start} is invalid)", "save it as UTF-8") from None
    if not text.strip():
        raise UsageError(f"{what} {path} is empty", f"write the {what}, or pass another file")
    return TextFile(path=path, text=normalize_newlines(text))


def normalize_newlines(text: str) -> str:
    """One newline convention, and exactly one newline at the end: drafts compare and diff cleanly."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"
