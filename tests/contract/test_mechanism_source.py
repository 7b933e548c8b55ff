"""A mechanism source is one value: its bytes, their SHA-256 computed once, and the size cap checked once."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, SourceTooLarge
from bilevel_evolve.sandbox.gate import check_source

CODE = b"class M:\n    name = 'm'\n\n    def guide(self, ctx):\n        return None\n\nMECHANISM = M\n"


def test_the_hash_is_the_sha256_of_the_exact_bytes() -> None:
    source = MechanismSource(CODE)
    assert source.sha256 == hashlib.sha256(CODE).hexdigest()
    assert source.size == len(CODE) and source.text() == CODE.decode()
    assert source == MechanismSource(CODE) and source != MechanismSource(CODE + b"\n")


def test_a_source_cannot_be_changed_after_it_was_hashed() -> None:
    source = MechanismSource(CODE)
    for name in ("data", "sha256"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(source, name, b"x = 1\n")


def test_the_cap_is_checked_when_the_value_is_made() -> None:
    assert MechanismSource(b"#" * MAX_SOURCE_BYTES).size == MAX_SOURCE_BYTES
    with pytest.raises(SourceTooLarge, match=f"the source is {MAX_SOURCE_BYTES + 1} bytes; at most {MAX_SOURCE_BYTES}"):
        MechanismSource(b"#" * (MAX_SOURCE_BYTES + 1))


def test_only_bytes_make_a_source() -> None:
    with pytest.raises(TypeError, match="bytes, not bytearray"):
        MechanismSource(bytearray(CODE))


def test_text_with_lone_surrogates_becomes_a_source_the_gate_rejects_as_not_utf8() -> None:
    source = MechanismSource.from_text("x = '\ud800'\n")
    report = check_source(source)
    assert [v.rule for v in report.violations] == ["encoding"]
    assert report.sha256 == source.sha256


def test_the_gate_reports_the_hash_the_source_brought() -> None:
    source = MechanismSource(CODE)
    report = check_source(source)
    assert report.ok and report.sha256 == source.sha256 == check_source(CODE).sha256


def test_its_repr_names_the_hash_and_size_not_the_code() -> None:
    assert repr(MechanismSource(CODE)) == f"MechanismSource({hashlib.sha256(CODE).hexdigest()[:12]}, {len(CODE)} bytes)"
