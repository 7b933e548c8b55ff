"""Numbers as text, the way `evolve report` prints them (so the page and the terminal agree)."""

from __future__ import annotations


def number_text(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.6g}" if signed else f"{value:.6g}"
