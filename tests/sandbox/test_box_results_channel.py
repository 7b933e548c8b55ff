"""Case 19: hostile result payloads are rejected by the host; nothing lands outside the report dir."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from bilevel_evolve.sandbox.verdict import MAX_VERDICT_BYTES, VERDICT_MARKER, find_verdict, parse_verdict_line

NONCE = "a" * 64


def _verdict(**changes: object) -> dict:
    base = {
        "schema": 1, "nonce": NONCE, "status": "PASSED", "reasons": [], "warnings": [],
        "mechanism": {"name": "m", "class": "M", "hooks": ["propose"]}, "hooks": {}, "iterations": 12,
        "output": {"bytes": 0, "head": "", "tail": ""}, "duration_s": 0.1,
    }
    return {**base, **changes}


def _line(payload: object) -> bytes:
    return f"{VERDICT_MARKER} {json.dumps(payload)}\n".encode()


def test_valid_verdict_with_the_nonce_is_accepted() -> None:
    verdict, ignored = find_verdict(b"noise\n" + _line(_verdict()), NONCE)
    assert verdict is not None and verdict.status == "PASSED"
    assert ignored == []


def test_verdict_with_another_nonce_is_ignored() -> None:
    verdict, ignored = find_verdict(_line(_verdict(nonce="b" * 64)), NONCE)
    assert verdict is None
    assert ignored == ["verdict does not carry this run's nonce"]


def test_huge_verdict_is_rejected() -> None:
    payload = _verdict(reasons=["r" * (MAX_VERDICT_BYTES + 10)])
    assert "larger than" in str(parse_verdict_line(json.dumps(payload), NONCE))


def test_deeply_nested_verdict_is_rejected_without_crashing_the_host() -> None:
    deep = "[" * 30_000 + "]" * 30_000
    assert isinstance(parse_verdict_line(f'{{"nonce": "{NONCE}", "x": {deep}}}', NONCE), str)
    result = parse_verdict_line("[" * 50 + "]" * 50, NONCE)
    assert isinstance(result, str) and "nested" in result
    nested_value = _verdict(hooks={"propose": {"calls": 1, "max_ms": 1, "mean_ms": 1, "x": [[[[[[[[[1]]]]]]]]]}})
    assert isinstance(parse_verdict_line(json.dumps(nested_value), NONCE), str)


def test_pickle_bytes_are_not_a_verdict() -> None:
    blob = pickle.dumps(_verdict())
    verdict, _ = find_verdict(VERDICT_MARKER.encode() + b" " + blob + b"\n", NONCE)
    assert verdict is None


def test_nan_and_extra_fields_are_rejected() -> None:
    assert isinstance(parse_verdict_line(json.dumps(_verdict()).replace("0.1", "NaN"), NONCE), str)
    assert isinstance(parse_verdict_line(json.dumps(_verdict(files={"../../etc/cron.d/x": "pwn"})), NONCE), str)


def test_two_different_verdicts_with_the_nonce_count_as_none() -> None:
    output = _line(_verdict()) + _line(_verdict(status="FAILED", reasons=["x"]))
    verdict, ignored = find_verdict(output, NONCE)
    assert verdict is None
    assert "several different verdicts" in ignored[-1]


@pytest.mark.docker
def test_path_traversal_in_mechanism_name_writes_nothing_outside_the_report_dir(
        docker_client, sandbox_image, tmp_path: Path) -> None:
    from bilevel_evolve.sandbox.vet import check_mechanism

    target = tmp_path / "pwned"
    source = (
        "class Evil:\n"
        f"    name = {str(target)!r} + '/../../' + '../../../tmp/pwned'\n"
        "    def observe(self, trial, ctx):\n"
        "        return None\n"
        "MECHANISM = Evil\n"
    )
    report_dir = tmp_path / "report"
    report = check_mechanism(source, gate=False, report_dir=report_dir, client=docker_client)
    assert report.box is not None and report.box.status == "PASSED"
    assert sorted(p.name for p in report_dir.iterdir()) == ["box.json", "report.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    assert not target.exists()
