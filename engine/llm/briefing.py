"""The run's task brief: the domain's (domains.brief), extended or replaced by the user's --brief file,
frozen in the run directory, and rendered into prompts within a token budget.

Freezing it (RUN_DIR/brief.json, written when the run starts) makes the prompts a function of the run
alone: a resume, or a replay on another machine (another GPU, another path), asks the same questions
the cassette recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import structlog
from pydantic import ValidationError

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.brief import BriefSection, TaskBrief
from bilevel_evolve.engine.llm.budget import CHARS_PER_TOKEN, PromptBudget, estimate_tokens
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import RunDirError, UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes

log = structlog.get_logger(__name__)

BRIEF_FILE = "brief.json"
BriefMode = Literal["extend", "replace", "off"]
MAX_USER_BRIEF_BYTES = 64 * 1024  # a --brief file is read up to this size; the rest is cut, with a note
USER_TITLE = "From the user (--brief)"
_MIN_SECTION_TOKENS = 40  # an optional section that would get less than this is left out, with a note
_BINARY_SAMPLE = 8192


def read_user_brief(path: Path) -> str:
    """The text of a --brief file. UsageError for a file that is missing, empty, binary or not UTF-8; a
    file past MAX_USER_BRIEF_BYTES is cut there, and the text says so."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_USER_BRIEF_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"brief file {path} does not exist", "pass --brief with the path of a text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read the brief file {path}: {exc.strerror or exc}",
                         "pass --brief with a readable text file") from None
    if b"\0" in data[:_BINARY_SAMPLE]:
        raise UsageError(f"brief file {path} is binary, not text",
                         "pass a UTF-8 text file (markdown or plain text) describing the task")
    cut = len(data) > MAX_USER_BRIEF_BYTES
    data = data[:MAX_USER_BRIEF_BYTES]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not (cut and exc.start >= len(data) - 3):  # a cut that split the last character is not the file's fault
            raise UsageError(f"brief file {path} is not UTF-8 text (byte {exc.start} is invalid)",
                             "save it as UTF-8") from None
        text = data[: exc.start].decode("utf-8")
    if not text.strip():
        raise UsageError(f"brief file {path} is empty", "write what the task is, or leave out --brief")
    if cut:  # said first, so that it survives a prompt budget that shortens the text
        size = path.stat().st_size
        log.warning("brief_file_cut", path=str(path), bytes=size, kept=MAX_USER_BRIEF_BYTES)
        return f"[the brief file is {size} bytes; only its first {MAX_USER_BRIEF_BYTES} are used]\n{text.strip()}"
    return text.strip()


def compose_brief(domain_brief: TaskBrief, mode: BriefMode, user_text: str | None) -> TaskBrief | None:
    """The brief a run's prompts carry (None for mode "off")."""
    if mode == "off":
        return None
    if user_text is None:
        return domain_brief
    section = BriefSection(title=USER_TITLE, body=user_text, whole=False)
    if mode == "replace":
        return TaskBrief(task="The user describes the task (their --brief replaces the domain's own brief):",
                         metric=domain_brief.metric, sections=(section,))
    return domain_brief.extended(section)


def run_brief(run_dir: Path, compose: Callable[[], TaskBrief | None], replay_from: Path | None = None
              ) -> TaskBrief | None:
    """The run's brief: the one frozen in run_dir (a resumed run), else the recorded run's (a replay), else
    compose(). Writes nothing: freeze_brief does, once the run directory exists."""
    sources = [run_dir / BRIEF_FILE, *([] if replay_from is None else [_run_dir_of(replay_from) / BRIEF_FILE])]
    for source in sources:
        if source.is_file():
            return _load(source)
    return compose()


def freeze_brief(run_dir: Path, brief: TaskBrief | None) -> None:
    """Write the brief into the run directory (once: a resumed run keeps the one it started with)."""
    path = run_dir / BRIEF_FILE
    if brief is not None and not path.is_file():
        atomic_write_bytes(path, brief.model_dump_json(indent=2).encode())


def render_brief(brief: TaskBrief, max_tokens: int) -> str:
    """The brief as prompt text within max_tokens: the task and every whole section as they are, then the
    optional sections in order, each given what is left (shortened with a note, or left out with one)."""
    parts = [brief.task]
    optional: list[BriefSection] = []
    for section in brief.sections:
        if section.whole:
            parts.append(_section_text(section.title, section.body, section.fenced))
        else:
            optional.append(section)
    left = max_tokens - estimate_tokens("\n\n".join(parts))
    for section in optional:
        head = _section_text(section.title, "", section.fenced)
        room = left - estimate_tokens(head) - 20  # 20: the note of what was cut
        if room < _MIN_SECTION_TOKENS:
            parts.append(f"({section.title}: left out, the prompt's token budget is spent)")
            left -= 20
            continue
        body = _shortened(section, room * CHARS_PER_TOKEN)
        text = _section_text(section.title, body, section.fenced)
        parts.append(text)
        left -= estimate_tokens(text) + 1
    text = "\n\n".join(parts)
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) > limit:  # the whole sections alone are larger than the budget
        text = text[:limit] + "\n[... the rest of the brief does not fit the prompt's token budget]"
    return text


def _section_text(title: str, body: str, fenced: bool) -> str:
    if fenced:
        body = f"```\n{body.replace('```', '` ` `')}\n```"
    return f"### {title}\n{body}"


def _shortened(section: BriefSection, chars: int) -> str:
    body = section.body
    if len(body) <= chars:
        return body
    lines = body.splitlines()
    if section.shorten == "head_tail":
        head = _lines_within(lines, int(chars * 0.6))
        tail = _lines_within(lines[::-1], chars - sum(len(line) + 1 for line in head))[::-1]
        left_out = len(lines) - len(head) - len(tail)
        return "\n".join([*head, f"[... {left_out} lines left out: the prompt's token budget ...]", *tail])
    head = _lines_within(lines, chars)
    return "\n".join([*head, f"[... {len(lines) - len(head)} more lines left out: the prompt's token budget]"])


def _lines_within(lines: list[str], chars: int) -> list[str]:
    out: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > chars:
            break
        out.append(line)
        used += len(line) + 1
    return out


def _run_dir_of(replay_from: Path) -> Path:
    path = Path(replay_from)
    return path if path.is_dir() else path.parent  # a run directory, or its cassette file


def _load(path: Path) -> TaskBrief:
    try:
        return TaskBrief.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, ValidationError) as exc:
        raise RunDirError(f"{path} is not a task brief ({type(exc).__name__})",
                          "restore it, or delete it to have the run's brief composed again") from None


class Briefing:
    """What every LLM level is given besides its own inputs: the run's brief and the prompt budget."""

    def __init__(self, brief: TaskBrief | None = None, budget: PromptBudget | None = None) -> None:
        self.brief = brief
        self.budget = budget or PromptBudget()

    def brief_text(self, share: float = 1.0) -> str:
        """The brief within `share` of its part of the budget (0: the task paragraph alone)."""
        if self.brief is None:
            return "(no task brief: work from the parameters and the trials below)"
        if share <= 0:
            return self.brief.task
        return render_brief(self.brief, int(self.budget.brief_tokens * share))

    @property
    def metric(self) -> str:
        """' (val_bpb)' after 'the metric' in a prompt, or '' when the brief names none."""
        return f" ({self.brief.metric})" if self.brief is not None and self.brief.metric else ""


def run_briefing(config: RunConfig, run_dir: Path, domain: Domain) -> Briefing:
    """The briefing of a run with an LLM: its brief (frozen, or composed now; a bad --brief file fails here,
    before the run directory is touched) and its prompt budget."""
    budget = PromptBudget(config.prompt_tokens)
    if config.brief_mode == "off":
        return Briefing(None, budget)
    replay_from = Path(config.agent.split(":", 1)[1]) if config.agent.startswith("replay:") else None

    def compose() -> TaskBrief | None:
        user = read_user_brief(Path(config.brief)) if config.brief else None
        return compose_brief(domain.brief(), config.brief_mode, user)

    return Briefing(run_brief(run_dir, compose, replay_from), budget)
