"""`export --format dot`: the lineage as a Graphviz digraph (parent -> child, nodes coloured by status).

Node URLs point at the html export's pages (`mechanisms/<id>.html`), so a DOT file rendered to SVG
next to an html export clicks through to source and reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from bilevel_evolve.mechanism_archive.graph_svg import STATUS_HEX, short_name
from bilevel_evolve.mechanism_archive.html_export import page_href
from bilevel_evolve.mechanism_archive.models import STATUSES, MechanismSummary
from bilevel_evolve.mechanism_archive.terminal import visible


def dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, controls made visible."""
    return '"' + visible(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lineage_dot(summaries: Iterable[MechanismSummary]) -> str:
    items = list(summaries)
    known = {s.id for s in items}
    lines = [
        "digraph mechanism_lineage {",
        '  graph [rankdir=TB, fontname="Helvetica", label="mechanism lineage", labelloc=t];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontcolor=white];',
        "  edge [color=gray50];",
    ]
    for s in items:
        label = f"{short_name(s.name)}\n{s.short_id}\n{s.status}"
        tooltip = f"{visible(s.name)} — {s.status} (run {visible(s.status_run)})"
        lines.append(f"  {dot_string(s.id)} [label={dot_string(label)}, fillcolor={dot_string(STATUS_HEX[s.status])}, "
                     f"URL={dot_string(page_href(s.id))}, tooltip={dot_string(tooltip)}];")
    for s in items:
        for parent in dict.fromkeys(s.parents):
            if parent in known:
                lines.append(f"  {dot_string(parent)} -> {dot_string(s.id)};")
    lines.append('  subgraph cluster_legend { label="status"; fontname="Helvetica";')
    for status in STATUSES:
        lines.append(f"    {dot_string('legend:' + status)} [label={dot_string(status)}, "
                     f"fillcolor={dot_string(STATUS_HEX[status])}];")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
