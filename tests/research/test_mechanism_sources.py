"""Where a mechanism source enters the research side it becomes one MechanismSource, within the cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bilevel_evolve.engine.outer.research.llm_scientist import CodeAnswer
from bilevel_evolve.engine.outer.research.user_mechanisms import read_mechanism_file
from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import sha256_hex
from bilevel_evolve.ground.errors import UsageError


def test_a_users_file_becomes_a_source_carrying_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_bytes(b"#" * MAX_SOURCE_BYTES)
    source = read_mechanism_file(path)
    assert source.data == path.read_bytes() and source.sha256 == sha256_hex(path.read_bytes())


def test_a_users_file_past_the_cap_is_a_usage_error_naming_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    with pytest.raises(UsageError) as err:
        read_mechanism_file(path)
    assert f"{MAX_SOURCE_BYTES + 1} bytes; a mechanism is at most {MAX_SOURCE_BYTES // 1024} KiB" in err.value.problem


def test_code_an_llm_writes_is_measured_in_utf8_bytes() -> None:
    assert CodeAnswer(code="#" * MAX_SOURCE_BYTES).code
    wide = "# " + "é" * (MAX_SOURCE_BYTES // 2)  # fewer characters than the cap, more bytes
    assert len(wide) <= MAX_SOURCE_BYTES < len(wide.encode())
    with pytest.raises(ValidationError, match=f"at most {MAX_SOURCE_BYTES}"):
        CodeAnswer(code=wide)
