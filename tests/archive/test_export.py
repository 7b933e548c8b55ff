from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from archive_support import add, mechanism_source

from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.dot_export import dot_string, lineage_dot
from bilevel_evolve.mechanism_archive.graph_svg import STATUS_HEX, layered_positions
from bilevel_evolve.mechanism_archive.html_export import export_html

HOSTILE = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>'


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [v for k, v in attrs if k == "href" and v]


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_html_export_escapes_hostile_names_sources_and_reports(archive: Archive, tmp_path: Path) -> None:
    parent = add(archive, "p", name=HOSTILE)
    child = add(archive, "c", name="child", parents=(parent.id,), status="rejected-static",
                source=mechanism_source("c") + f"# {HOSTILE}\n", reason=HOSTILE,
                gate_report={"ok": False, "violations": [{"message": HOSTILE}]}, session={"prompt": HOSTILE})
    archive.record_effect(child.id, run_id=HOSTILE, effect={"verdict": HOSTILE})
    out = tmp_path / "site"
    index = export_html(archive, out)
    pages = [index, *sorted((out / "mechanisms").glob("*.html"))]
    assert len(pages) == 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<\s*(script|img)", text, re.I), page
        assert "Content-Security-Policy" in text
        assert {"script", "img", "iframe"}.isdisjoint(_parse(page).tags)
    child_page = (out / "mechanisms" / f"{child.id}.html").read_text(encoding="utf-8")
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in child_page  # shown, as text
    assert "MECHANISM = Mc" in child_page


def test_html_export_links_all_resolve_to_written_files(archive: Archive, tmp_path: Path) -> None:
    root = add(archive, "r")
    a = add(archive, "a", parents=(root.id,))
    add(archive, "b", parents=(root.id, a.id), status="dead")
    index = export_html(archive, tmp_path / "site")
    pages = [index, *(tmp_path / "site" / "mechanisms").glob("*.html")]
    checked = 0
    for page in pages:
        for href in _parse(page).hrefs:
            assert (page.parent / href).resolve().is_file(), f"{page.name}: {href}"
            checked += 1
    assert checked >= 3 * 2 + 3  # graph node + table row per mechanism, back links and parent links
    svg = index.read_text()
    assert svg.count("<rect") == 3 and STATUS_HEX["dead"] in svg and svg.count("marker-end") == 3


def test_layout_puts_each_generation_on_its_own_row(archive: Archive) -> None:
    r1, r2 = add(archive, "r1"), add(archive, "r2")
    c = add(archive, "c", parents=(r2.id,))
    g = add(archive, "g", parents=(c.id, r1.id))
    pos = layered_positions({s.id: s for s in archive.list()})
    assert [pos[m.id][1] for m in (r1, r2, c, g)] == [0, 0, 1, 2]


def test_dot_export_escapes_quotes_and_backslashes(archive: Archive) -> None:
    rec = add(archive, "q", name='say "hi" \\ bye')
    text = lineage_dot(archive.list())
    assert 'say \\"hi\\" \\\\ bye' in text
    assert f'fillcolor="{STATUS_HEX["accepted"]}"' in text and rec.id in text
    assert dot_string('a"\n') == '"a\\"\\n"'
