"""The task brief of a train.py: the script's own words, its constants with their comments, the metric and
its contract, the time budget, the device, program.md when it sits beside the script, and the rest of
the source (shortened to the prompt's budget by the engine)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bilevel_evolve.domains.brief import BriefSection, TaskBrief
from bilevel_evolve.domains.train_opt import constants as C
from bilevel_evolve.domains.train_opt.metrics import METRIC
from bilevel_evolve.ground.errors import EvolveError

PROGRAM_MD = "program.md"  # autoresearch's instructions for the agent, beside train.py
_MAX_NOTES_BYTES = 256 * 1024  # program.md is read up to this size
_MAX_DOCSTRING_CHARS = 3000
_MERGE_GAP = 3  # constants this close (in lines of comments or blanks) form one block
_LEAD_COMMENTS = 6  # comment lines right above a constant that belong to it


@dataclass(frozen=True)
class ScriptFacts:
    """What the domain knows about one train.py when it writes the brief."""

    path: Path
    source: str
    constants: dict[str, C.Constant]
    tuned: tuple[str, ...]  # the constants the search space binds (tuple constants by their base name)
    elements: tuple[tuple[str, str, int], ...]  # (parameter, tuple constant, index), e.g. ADAM_BETA1
    budget_s: float | None
    timeout_s: float
    python: str
    num_threads: int | None


def train_opt_brief(facts: ScriptFacts) -> TaskBrief:
    lines = facts.source.splitlines()
    block = _constant_lines(lines, list(facts.constants.values()), keep=set(facts.tuned))
    imported = _imported_constants(facts)
    sections = [
        BriefSection(title="The metric", body=_metric_text()),
        BriefSection(title="Time budget", body=_budget_text(facts, imported)),
        BriefSection(title="Hardware", body=_device_text(facts)),
        BriefSection(title=f"The constants of {facts.path.name}, as the script defines them (with the author's "
                     "comments); a trial changes only the values", body=_excerpt(lines, block), fenced=True),
    ]
    if facts.elements:
        sections.append(BriefSection(title="Parameters that set one element of a tuple constant", body="\n".join(
            f"- {name} is {constant}[{index}]" for name, constant, index in facts.elements)))
    if imported:
        sections.append(BriefSection(
            title=f"Fixed constants {facts.path.name} imports from {imported.file.name} (not tunable)",
            body=imported.text, fenced=True))
    doc = ast.get_docstring(ast.parse(facts.source)) or ""
    if doc.strip():
        sections.insert(0, BriefSection(title=f"What {facts.path.name} says about itself",
                                        body=_capped(doc.strip(), _MAX_DOCSTRING_CHARS)))
    notes = _program_md(facts.path.parent / PROGRAM_MD)
    if notes is not None:
        sections.append(notes)
    rest = _without(lines, [(r, "# [... the constants shown above ...]") for r in block]
                    + [(r, '"""[... the docstring shown above ...]"""') for r in _docstring_lines(facts.source)])
    if rest.strip():
        sections.append(BriefSection(title=f"The rest of {facts.path.name}", body=rest, whole=False,
                                     shorten="head_tail", fenced=True))
    task = (f"Tune the hyperparameters of {facts.path} (a GPT pretraining script) for the lowest {METRIC}. "
            f"Each trial runs an edited copy of the script in a fresh directory (`python {facts.path.name}`) "
            "with the proposed values written over its upper-case constants; the script itself is never "
            "changed, and every other line runs exactly as written.")
    return TaskBrief(task=task, metric=METRIC, sections=tuple(sections))


def _metric_text() -> str:
    return (f"{METRIC}: validation bits per byte, lower is better. The contract: the script ends by printing "
            f"a line `---` and then `key: value` summary lines; the trial's value is the number on the "
            f"`{METRIC}: X` line (e.g. `{METRIC}: 0.997900`). A trial that exits with an error, never prints "
            f"that line, or prints a non-finite value counts as failed and is never kept; its one-line reason "
            "is shown with it. The other summary lines (e.g. training_seconds, peak_vram_mb) are recorded "
            "beside each trial.")


def _budget_text(facts: ScriptFacts, imported: _Imported | None) -> str:
    kill = (f"A trial still running after {facts.timeout_s:g} s is killed and counts as a timeout "
            "(its reason says so).")
    budget = facts.budget_s
    where = f"TIME_BUDGET = {budget:g} s in {facts.path.name}" if budget is not None else None
    if budget is None and imported is not None and imported.time_budget is not None:
        budget, where = imported.time_budget, f"TIME_BUDGET = {imported.time_budget:g} s, set in {imported.file.name}"
    if budget is None:
        return ("The engine found no TIME_BUDGET constant it can read, so how long a trial trains is up to "
                f"the script. {kill}")
    return (f"A fixed wall-clock budget: every trial trains for {budget:g} seconds ({where}), whatever the "
            "settings. Settings are compared at equal training time, not at equal steps: a configuration "
            "whose steps are cheaper (e.g. a smaller TOTAL_BATCH_SIZE or model) takes more optimizer steps "
            f"within the budget, a costlier one fewer. {kill}")


def _device_text(facts: ScriptFacts) -> str:
    threads = f"; each trial may use {facts.num_threads} CPU threads" if facts.num_threads else ""
    cores = f"{os.cpu_count() or 1} CPU cores"
    gpus = _nvidia_gpus()
    if gpus:
        return f"Trials run on this machine: {'; '.join(gpus)}, and {cores}{threads}."
    return (f"Trials run on this machine's CPU ({cores}{threads}): no NVIDIA GPU was found (nvidia-smi lists "
            "none), so a script that needs CUDA cannot train here.")


def _nvidia_gpus() -> list[str]:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        done = subprocess.run([tool, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [r.strip() for r in done.stdout.splitlines() if r.strip()] if done.returncode == 0 else []
    counts: dict[str, int] = {}
    for row in rows:
        counts[row] = counts.get(row, 0) + 1
    return [f"{n} x GPU {name}" for name, n in counts.items()]


@dataclass(frozen=True)
class _Imported:
    file: Path
    text: str
    time_budget: float | None  # its TIME_BUDGET, when the script imports that one


def _imported_constants(facts: ScriptFacts) -> _Imported | None:
    """Upper-case names the script imports from a sibling module (autoresearch's prepare.py), as that
    module defines them, when the sibling is there to read."""
    for stmt in ast.parse(facts.source).body:
        if not (isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level):
            continue
        sibling = facts.path.parent / f"{stmt.module.replace('.', '/')}.py"
        names = [a.name for a in stmt.names if a.name.isupper()]
        if not names or not sibling.is_file():
            continue
        try:
            text = sibling.read_text(encoding="utf-8")
            found = C.read_constants(text, str(sibling))
        except (OSError, UnicodeDecodeError, ValueError, EvolveError):
            continue
        wanted = [found[n] for n in names if n in found]
        if wanted:
            lines = text.splitlines()
            budget = found["TIME_BUDGET"].value if "TIME_BUDGET" in names and "TIME_BUDGET" in found else None
            return _Imported(sibling, _excerpt(lines, _constant_lines(lines, wanted)),
                             float(budget) if C.is_number(budget) else None)
    return None


def _constant_lines(lines: list[str], constants: list[C.Constant], keep: set[str] | None = None
                    ) -> list[tuple[int, int]]:
    """0-based [start, end) line ranges covering the constants, the comments right above each, and the
    comment or blank lines between constants that stand close together; with `keep`, only the ranges
    holding one of those names (the block the search tunes, not a stray constant elsewhere)."""
    ranges: list[tuple[int, int, set[str]]] = []
    for const in sorted(constants, key=lambda c: c.span[0]):
        start, end = const.span[0] - 1, const.span[2]
        while start > 0 and const.span[0] - 1 - start < _LEAD_COMMENTS and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        if ranges and start - ranges[-1][1] <= _MERGE_GAP and _only_comments(lines[ranges[-1][1]:start]):
            ranges[-1] = (ranges[-1][0], end, ranges[-1][2] | {const.name})
        else:
            ranges.append((start, end, {const.name}))
    return [(a, b) for a, b, names in ranges if keep is None or names & keep]


def _only_comments(lines: list[str]) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)


def _excerpt(lines: list[str], ranges: list[tuple[int, int]]) -> str:
    return "\n...\n".join("\n".join(lines[a:b]) for a, b in ranges)


def _without(lines: list[str], cuts: list[tuple[tuple[int, int], str]]) -> str:
    """The lines with each range replaced by its one-line marker."""
    out: list[str] = []
    cursor = 0
    for (a, b), marker in sorted(cuts):
        out += [*lines[cursor:a], marker]
        cursor = b
    return "\n".join([*out, *lines[cursor:]])


def _docstring_lines(source: str) -> list[tuple[int, int]]:
    body = ast.parse(source).body
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return [(first.lineno - 1, first.end_lineno or first.lineno)]
    return []


def _program_md(path: Path) -> BriefSection | None:
    if not path.is_file():
        return None
    title = f"{path.name} (beside the script: the instructions its author wrote for a research agent)"
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_NOTES_BYTES + 1)
    except OSError as exc:
        return BriefSection(title=path.name, body=f"({path} could not be read: {exc.strerror or exc}; left out)")
    if b"\0" in data:
        return BriefSection(title=path.name, body=f"({path} holds binary data, not text; left out)")
    cut = len(data) > _MAX_NOTES_BYTES
    data = data[:_MAX_NOTES_BYTES]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 3:  # the cut split a character: not the file's fault
            text = data[: exc.start].decode("utf-8", "replace")
        else:
            text = data.decode("utf-8", "replace")
            title += "; it is not valid UTF-8, so undecodable bytes show as \ufffd"
    if cut:
        text += f"\n[... {path.name} continues past {_MAX_NOTES_BYTES} bytes; the rest is not shown]"
    return BriefSection(title=title, body=text.strip(), whole=False)


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters]"
