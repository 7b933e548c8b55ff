"""`export --format html`: a static, self-contained site a person can open from disk.

index.html holds the lineage graph (inline SVG) and a table; mechanisms/<id>.html shows one
mechanism's source, reports, session, status history, and its effect per run and across runs (mean and
95 % interval per domain and space, mechanism_archive/effects.py). Pages carry a Content-Security-
Policy that forbids scripts, and every string from the archive is HTML-escaped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.untrusted import for_html
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.graph_svg import STATUS_HEX, legend_html, lineage_svg
from bilevel_evolve.mechanism_archive.lineage import children_map
from bilevel_evolve.mechanism_archive.models import PROVEN_RUNS, EffectEstimate, MechanismRecord, MechanismSummary
from bilevel_evolve.mechanism_archive.terminal import report_line, visible

PAGES_DIR = "mechanisms"
_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#212121;max-width:1200px}
.graph{overflow:auto;border:1px solid #ddd;padding:4px;background:#fafafa}
.legend{list-style:none;padding:0;display:flex;gap:1.2em;flex-wrap:wrap}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.35em;vertical-align:middle}
.status{color:#fff;padding:1px 6px;border-radius:3px;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}pre{background:#f5f5f5;padding:.8em;overflow:auto;font-size:.85em;line-height:1.35}
code{font-family:monospace}.problem{color:#b71c1c}.ok{color:#1b5e20}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"


def page_href(mechanism_id: str, *, from_index: bool = True) -> str:
    return f"{PAGES_DIR}/{mechanism_id}.html" if from_index else f"{mechanism_id}.html"


def export_html(archive: Archive, out_dir: Path) -> Path:
    """Write the site under out_dir; return the path of index.html."""
    summaries = {s.id: s for s in archive.list()}
    (out_dir / PAGES_DIR).mkdir(parents=True, exist_ok=True)
    report = archive.verify()
    children = children_map(summaries)
    for mid, summary in summaries.items():
        try:
            body = _mechanism_body(archive.get(mid), summaries, children)
        except EvolveError as exc:
            body = f'<h1>{_t(summary.name)}</h1><p class="problem">this record cannot be read: {_t(exc.render())}</p>'
        _write(out_dir / PAGES_DIR / f"{mid}.html", _page(f"{visible(summary.name)} · {mid[:12]}", body))
    verdict = (f'<p class="ok">verify: OK ({report.mechanisms} mechanisms, {report.events} events)</p>' if report.ok
               else f'<p class="problem">verify: {len(report.problems)} problems</p><ul>'
               + "".join(f"<li>{_t(p.render())}</li>" for p in report.problems[:50]) + "</ul>")
    body = (f"<h1>Mechanism lineage</h1><p>archive <code>{_t(archive.root)}</code></p>{verdict}{legend_html()}"
            f'<div class="graph">{lineage_svg(summaries, page_href)}</div>'
            f"<h2>All mechanisms (archive order)</h2>{_summary_table(summaries.values(), from_index=True)}")
    index = out_dir / "index.html"
    _write(index, _page("Mechanism lineage", body))
    return index


def _mechanism_body(rec: MechanismRecord, summaries: dict[str, MechanismSummary],
                    children: dict[str, tuple[str, ...]]) -> str:
    s, r = rec.summary, rec.record

    def links(ids: tuple[str, ...]) -> str:
        return ", ".join(_link(i, summaries, from_index=False) for i in ids) or "-"

    fields = [("id", f"<code>{s.id}</code>"), ("class", _t(s.class_name)), ("origin", _t(s.origin)),
              ("status", f"{_badge(s.status)} latest, run {_t(s.status_run)}" + (f" — {_t(s.reason)}" if s.reason
                                                                                  else "")),
              ("parents", links(s.parents)), ("children", links(children.get(s.id, ()))),
              ("generation", str(s.generation)),
              ("created", _t(s.created)), ("first run", _t(s.first_run)),
              ("gate", _t(report_line(rec.gate_report, "gate"))), ("box", _t(report_line(rec.box_report, "box")))]
    by_run = "".join(f"<tr><td>{_t(run)}</td><td>{_badge(st)}</td></tr>" for run, st in rec.status_by_run.items())
    history = "".join(
        f"<tr><td>{ev.seq}</td><td>{_t(ev.ts[:19])}</td><td>{_t(ev.run_id)}</td><td>{_t(ev.kind)}</td>"
        f"<td>{_badge(ev.status) if ev.status else '-'}</td><td>{_t(ev.reason)}</td>"
        f"<td>{_json_block(ev.payload) if ev.kind in {'effect', 'hook_stats'} else ''}</td></tr>"
        for ev in rec.history)
    return (
        f'<p><a href="../index.html">← lineage</a></p><h1>{_t(s.name)}</h1>'
        + "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in fields) + "</table>"
        + f"<h2>Effect across runs</h2>{_estimates_table(s.estimates)}"
        + f"<h2>Status by run</h2><table><tr><th>run</th><th>status</th></tr>{by_run}</table>"
        + "<h2>History</h2><table><tr><th>#</th><th>time (UTC)</th><th>run</th><th>event</th><th>status</th>"
        + f"<th>reason</th><th>details</th></tr>{history}</table>"
        + f"<h2>Source</h2><p>{r.source_bytes} bytes, SHA-256 <code>{s.id}</code></p>"
        + f"<pre><code>{_t(rec.source)}</code></pre>"
        + f"<h2>Gate report</h2>{_json_block(rec.gate_report)}<h2>Box report</h2>{_json_block(rec.box_report)}"
        + f"<h2>Research session</h2><details><summary>{len(r.session)} fields</summary>"
        + f"{_json_block(r.session)}</details>")


def _summary_table(summaries: Iterable[MechanismSummary], *, from_index: bool) -> str:
    rows = "".join(
        f"<tr><td>{_link(s.id, {s.id: s}, from_index=from_index, label=s.short_id)}</td><td>{_t(s.name)}</td>"
        f"<td>{_badge(s.status)}</td><td>{', '.join(p[:12] for p in s.parents) or '-'}</td><td>{s.generation}</td>"
        f"<td>{'-' if s.effect_delta is None else f'{s.effect_delta:+.4g}'}</td>"
        f"<td>{'-' if s.estimate is None else _t(s.estimate.describe())}</td><td>{_t(s.status_run)}</td></tr>"
        for s in summaries)
    return ("<table><tr><th>id</th><th>name</th><th>status</th><th>parent</th><th>generation</th><th>effect</th>"
            f"<th>effect over runs (mean [95% CI])</th><th>run</th></tr>{rows}</table>")


def _estimates_table(estimates: tuple[EffectEstimate, ...]) -> str:
    """Per domain and space: runs, mean score and its 95 % t interval, and whether that proves anything."""
    if not estimates:
        return "<p>(not measured in a run with a scope yet)</p>"
    rows = "".join(
        f"<tr><td>{_t(e.domain or '-')}</td><td><code>{_t(e.space_label)}</code></td><td>{e.runs}</td>"
        f"<td>{e.mean:+.3g}</td><td>{'-' if e.low is None or e.high is None else f'[{e.low:+.3g}, {e.high:+.3g}]'}"
        f"</td><td>{_t(f'proven {e.sign}' if e.sign else 'not proven')}</td></tr>" for e in estimates)
    return ("<p>score: the median trial's move over the window after injection, in units of the spread of the "
            f"values the run had seen; positive helps. Proven: at least {PROVEN_RUNS} runs and a 95 % interval "
            "without 0.</p>"
            "<table><tr><th>domain</th><th>space</th><th>runs</th><th>mean</th><th>95% CI</th><th>verdict</th></tr>"
            f"{rows}</table>")


def _link(mid: str, summaries: dict[str, MechanismSummary], *, from_index: bool, label: str | None = None) -> str:
    if mid not in summaries:
        return f'<span class="problem">{_t(mid[:12])} (missing)</span>'
    text = label or f"{mid[:12]} {visible(summaries[mid].name)}"
    return f'<a href="{escape(page_href(mid, from_index=from_index))}">{_t(text)}</a>'


def _badge(status: str) -> str:
    return f'<span class="status" style="background:{STATUS_HEX.get(status, "#424242")}">{_t(status)}</span>'


def _json_block(data: dict[str, Any] | None) -> str:
    if data is None:
        return "<p>(none)</p>"
    return f"<pre><code>{_t(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))}</code></pre>"


def _t(value: Any) -> str:
    return for_html(value, sys.maxsize)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n")


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=False)
