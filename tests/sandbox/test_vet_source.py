"""`check_mechanism` takes the typed source as it is and turns raw input into one only after the gate.

None of these reaches the box (the gate rejects, or the input cannot be a mechanism), so no Docker
engine is needed.
"""

from __future__ import annotations

from pathlib import Path

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, sha256_hex
from bilevel_evolve.sandbox.vet import check_mechanism

IMPORTS_OS = (
    "import os\n\nclass M:\n    name = 'm'\n\n    def guide(self, ctx):\n        return os.sep\n\n"
    "MECHANISM = M\n"
)
TOO_BIG = "x = 1\n" + "#" * MAX_SOURCE_BYTES + "\n"


def test_a_typed_source_keeps_its_hash_through_the_gate() -> None:
    source = MechanismSource.from_text(IMPORTS_OS)
    report = check_mechanism(source)
    assert report.status == "rejected-static"
    assert report.sha256 == source.sha256
    assert report.gate is not None and report.gate.sha256 == source.sha256


def test_an_oversized_file_is_a_gate_rejection_naming_the_size(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_text(TOO_BIG)
    report = check_mechanism(path)
    assert report.status == "rejected-static"
    assert report.gate is not None and [v.rule for v in report.gate.violations] == ["size"]
    assert report.sha256 == sha256_hex(TOO_BIG.encode())


def test_with_the_gate_off_an_oversized_source_fails_before_any_container() -> None:
    report = check_mechanism(TOO_BIG, gate=False)
    assert report.status == "rejected-smoke" and report.box is not None
    assert report.box.reasons == (f"the source is {len(TOO_BIG)} bytes; at most {MAX_SOURCE_BYTES}",)
    assert report.sha256 == report.box.sha256 == sha256_hex(TOO_BIG.encode())


def test_with_the_gate_off_a_source_that_is_not_utf8_fails_before_any_container() -> None:
    source = MechanismSource(b"x = '\xff'\n")
    report = check_mechanism(source, gate=False)
    assert report.status == "rejected-smoke" and report.box is not None
    assert report.box.reasons == ("the source is not valid UTF-8",)
    assert report.sha256 == source.sha256
