"""One line on why a subprocess trial did not succeed, drawn from its output.

What a person reads first in a failed run's log: the out-of-memory line, the exception that ended a
Python traceback (with the failing line when the exception has no message, as a bare `assert` does),
a loss that diverged. TrialResult cleans and caps whatever is returned here.
"""

from __future__ import annotations

import re

_OUT_OF_MEMORY = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|MemoryError", re.I)
# The last line of a Python traceback: "ModuleNotFoundError: No module named 'kernels'", "AssertionError".
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure)\b(?::.*)?$")
_TRACEBACK = "Traceback (most recent call last):"
_SCAN_LINES = 400  # the tail that is searched: failures are reported at the end


def reason_from_output(output: str) -> str | None:
    """The line that says why, or None when the output names nothing recognisable."""
    lines = [line.rstrip() for line in output.splitlines()[-_SCAN_LINES:]]
    memory = next((line.strip() for line in reversed(lines) if _OUT_OF_MEMORY.search(line)), None)
    if memory is not None:
        return memory
    exception = _exception_line(lines)
    if exception is not None:
        return exception
    if any(line.strip().startswith("FAIL") for line in lines[-50:]):
        return "the loss diverged (the script printed FAIL)"
    return None


def last_line(output: str) -> str:
    """The last non-empty line of the output ("" when there is none)."""
    return next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")


def _exception_line(lines: list[str]) -> str | None:
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if not starts:
        return None
    for i in range(len(lines) - 1, starts[-1], -1):
        text = lines[i].strip()
        if lines[i][:1].isspace() or not _EXCEPTION.match(text):
            continue
        if ":" not in text:  # a bare exception (an assert): show the failing line, above Python's ^^^ markers
            code = next((line.strip() for line in reversed(lines[starts[-1]:i])
                         if line[:1].isspace() and line.strip().strip("^~ ")), None)
            if code is not None and not code.startswith("File "):
                return f"{text} at: {code}"
        return text
    return None
