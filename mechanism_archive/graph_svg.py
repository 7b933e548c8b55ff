"""The lineage graph as inline SVG: a layered layout by generation, nodes coloured by status, each a link.

No script and no external resource: the page must open offline and stay inert whatever a mechanism's
name says (every string is escaped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape

from bilevel_evolve.mechanism_archive.lineage import generations
from bilevel_evolve.mechanism_archive.models import STATUSES, MechanismSummary
from bilevel_evolve.mechanism_archive.terminal import visible

STATUS_HEX = {
    "accepted": "#2e7d32",
    "rejected-static": "#c62828",
    "rejected-smoke": "#ef6c00",
    "rolled-back": "#8e24aa",
    "dead": "#616161",
}
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 220, 46, 24, 54, 16
MAX_LABEL = 24


def short_name(name: str, limit: int = MAX_LABEL) -> str:
    text = visible(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layered_positions(summaries: Mapping[str, MechanismSummary]) -> dict[str, tuple[int, int]]:
    """(column, row) per mechanism: row = generation; within a row, ordered by and placed near the
    parents' mean column."""
    gen = generations(summaries)
    layers: dict[int, list[str]] = {}
    for mid in summaries:
        layers.setdefault(gen[mid], []).append(mid)
    column: dict[str, float] = {}
    out: dict[str, tuple[int, int]] = {}
    for row in sorted(layers):
        order = {mid: i for i, mid in enumerate(layers[row])}

        def key(mid: str, order: dict[str, int] = order) -> tuple[float, int]:
            cols = [column[p] for p in summaries[mid].parents if p in column]
            return (sum(cols) / len(cols) if cols else -1.0, order[mid])

        next_free = 0
        for mid in sorted(layers[row], key=key):
            # Sit under the parents where there is room, so a single child does not drift to the left.
            bary = key(mid)[0]
            col = max(next_free, round(bary)) if bary >= 0 else next_free
            column[mid], out[mid], next_free = col, (col, row), col + 1
    return out


def lineage_svg(summaries: Mapping[str, MechanismSummary], href: Callable[[str], str]) -> str:
    pos = layered_positions(summaries)
    cols = max((c for c, _ in pos.values()), default=0) + 1
    rows = max((r for _, r in pos.values()), default=0) + 1
    width, height = PAD * 2 + cols * NODE_W + (cols - 1) * GAP_X, PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y

    def xy(mid: str) -> tuple[int, int]:
        c, r = pos[mid]
        return PAD + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="mechanism lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9e9e9e"/></marker></defs>',
        '<g class="edges" fill="none" stroke="#9e9e9e" stroke-width="1.5">',
    ]
    for mid, summary in summaries.items():
        cx, cy = xy(mid)
        for parent in dict.fromkeys(summary.parents):
            if parent not in pos or parent == mid:
                continue
            px, py = xy(parent)
            x1, y1, x2, y2 = px + NODE_W // 2, py + NODE_H, cx + NODE_W // 2, cy
            mid_y = (y1 + y2) // 2
            parts.append(f'<path d="M{x1},{y1} C{x1},{mid_y} {x2},{mid_y} {x2},{y2}" marker-end="url(#arrow)"/>')
    parts.append('</g><g class="nodes" font-family="sans-serif" font-size="12">')
    for mid, summary in summaries.items():
        x, y = xy(mid)
        fill = STATUS_HEX.get(summary.status, "#424242")
        tip = f"{visible(summary.name)} — {summary.status} (run {visible(summary.status_run)})"
        parts.append(
            f'<a href="{escape(href(mid))}"><title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7" fill="{fill}"/>'
            f'<text x="{x + 10}" y="{y + 19}" fill="#fff" font-weight="bold">{escape(short_name(summary.name))}</text>'
            f'<text x="{x + 10}" y="{y + 36}" fill="#fff">{escape(summary.short_id)} · {escape(summary.status)}</text>'
            "</a>")
    parts.append("</g></svg>")
    return "".join(parts)


def legend_html() -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{STATUS_HEX[s]}"></span>{escape(s)}</li>' for s in STATUSES)
    return f'<ul class="legend">{items}</ul>'
