"""scripts/build-image.sh takes its Debian mirror from the host's apt sources, so the code names no host."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-image.sh"


def _mirrors(apt_root: Path) -> list[str]:
    text = SCRIPT.read_text()
    function = text[text.index("host_debian_mirror() {"):]
    function = function[: function.index("\n}\n") + 3]
    env = {"APT_ROOT": str(apt_root), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["bash", "-c", function + "host_debian_mirror"], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_one_line_and_deb822_sources_are_both_read_and_disabled_or_source_only_entries_skipped(tmp_path: Path) -> None:
    d = tmp_path / "etc" / "apt" / "sources.list.d"
    d.mkdir(parents=True)
    (tmp_path / "etc" / "apt" / "sources.list").write_text(
        "# a comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    (d / "extra.sources").write_text(
        "Types: deb-src\nURIs: http://only-src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb deb-src\nURIs: http://two.example/debian http://three.example/debian\nSuites: bookworm\n")
    assert _mirrors(tmp_path) == ["http://one.example/debian", "http://two.example/debian"]


def test_a_host_without_apt_sources_yields_nothing(tmp_path: Path) -> None:
    assert _mirrors(tmp_path) == []


def test_the_script_names_no_mirror_host_of_its_own() -> None:
    code = "\n".join(line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert "deb.debian.org" not in code
