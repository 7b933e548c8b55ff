"""The gate policy is configurable (import allowlist, caps) from code or a JSON/TOML file, and the
report is a stable, serializable record with line numbers an LLM repair round can act on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.sandbox.gate import DEFAULT_ALLOWED_IMPORTS, GatePolicy, GateReport, Violation, check_source

JSON_MECHANISM = (
    "import json\n\n\n"
    'class Probe:\n    name = "probe"\n\n    def state_dict(self):\n        return json.loads("{}")\n\n'
    "    def load_state_dict(self, state):\n        self.raw = json.dumps(state)\n\n\nMECHANISM = Probe\n"
)


def test_default_allowlist_is_the_documented_one() -> None:
    assert set(GatePolicy.default().allowed_imports) == {
        "__future__", "bisect", "collections", "dataclasses", "functools", "heapq", "itertools",
        "math", "numpy", "random", "statistics", "torch", "typing",
    }  # fmt: skip
    assert set(DEFAULT_ALLOWED_IMPORTS) == set(GatePolicy.default().allowed_imports)


def test_json_is_rejected_by_default_and_accepted_once_allowed() -> None:
    rejected = check_source(JSON_MECHANISM)
    assert [(v.rule, v.line) for v in rejected.violations] == [("import", 1)]
    assert check_source(JSON_MECHANISM, policy=GatePolicy.default().allowing("json")).ok


def test_allowing_a_package_allows_its_public_submodules() -> None:
    policy = GatePolicy.default().allowing("json")
    source = JSON_MECHANISM.replace("import json\n", "import json.decoder\nimport json\n")
    assert check_source(source, policy=policy).ok


def test_replacing_the_allowlist_drops_the_defaults() -> None:
    policy = GatePolicy(allowed_imports=("math",))
    source = "import numpy as np\n\n\nclass Probe:\n    name = 'p'\n\n\nMECHANISM = Probe\n"
    report = check_source(source, policy=policy)
    assert [v.rule for v in report.violations] == ["import"]
    assert "(allowed: math)" in report.to_text()


@pytest.mark.parametrize("module", ["os", "subprocess", "os.path", "numpy.ctypeslib", "importlib.util"])
def test_modules_that_reach_the_host_cannot_be_allowlisted(module: str) -> None:
    with pytest.raises(ValidationError, match="cannot be allowed"):
        GatePolicy.default().allowing(module)


def test_policy_from_json_file_extends_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({"extra_allowed_imports": ["json"], "max_bytes": 32768}))
    policy = GatePolicy.from_file(path)
    assert "json" in policy.allowed_imports and "numpy" in policy.allowed_imports
    assert policy.max_bytes == 32768
    assert check_source(JSON_MECHANISM, policy=policy).ok


def test_policy_from_toml_file_with_a_gate_table(tmp_path: Path) -> None:
    path = tmp_path / "evolve.toml"
    path.write_text('[gate]\nallowed_imports = ["math", "json"]\nmax_depth = 50\n')
    policy = GatePolicy.from_file(path)
    assert policy.allowed_imports == ("json", "math")
    assert policy.max_depth == 50


@pytest.mark.parametrize(
    ("content", "suffix"),
    [
        ('{"allowed_imprts": ["json"]}', ".json"),
        ('{"extra_allowed_imports": ["os"]}', ".json"),
        ('{"max_bytes": -1}', ".json"),
        ("not json", ".json"),
        ("[1, 2]", ".json"),
        ("gate = [", ".toml"),
    ],
    ids=["unknown-key", "dangerous-module", "negative-cap", "not-json", "not-a-mapping", "bad-toml"],
)
def test_bad_policy_file_is_a_usage_error_with_a_fix(tmp_path: Path, content: str, suffix: str) -> None:
    path = tmp_path / f"gate{suffix}"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        GatePolicy.from_file(path)
    assert info.value.fix


def test_missing_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read gate policy"):
        GatePolicy.from_file(tmp_path / "absent.json")


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        GatePolicy.default().max_bytes = 1  # type: ignore[misc]


def test_byte_cap_comes_from_the_policy() -> None:
    source = (Path(__file__).parent / "mechanisms" / "tabu_search.py").read_text()
    report = check_source(source, policy=GatePolicy(max_bytes=1000))
    assert [v.rule for v in report.violations] == ["size"]
    assert "1000-byte limit" in report.to_text()


# -- the report ---------------------------------------------------------------------------------


def test_report_hashes_the_exact_bytes_for_str_and_bytes_input() -> None:
    source = "class Probe:\n    name = 'p'\n\n\nMECHANISM = Probe\n"
    expected = hashlib.sha256(source.encode()).hexdigest()
    assert check_source(source).sha256 == expected
    assert check_source(source.encode()).sha256 == expected
    crlf = source.replace("\n", "\r\n").encode()
    assert check_source(crlf).sha256 == hashlib.sha256(crlf).hexdigest()


def test_report_text_names_every_violation_line() -> None:
    source = (
        "import os\n"  # 1
        "import math\n"  # 2
        "\n\n"
        "class Probe:\n"  # 5
        "    name = 'p'\n"
        "\n"
        "    def propose(self, ctx):\n"  # 8
        "        return eval('1')\n"  # 9
        "\n\n"
        "MECHANISM = Probe\n"
    )
    report = check_source(source, filename="cand.py")
    lines = report.to_text().splitlines()
    assert lines[0].startswith("cand.py:1: import of 'os' is not allowed (")
    assert lines[1].startswith("cand.py:9: 'eval' is not allowed")
    assert len(lines) == 2


def test_report_round_trips_through_json() -> None:
    report = check_source("import os\n")
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["sha256"] == report.sha256
    assert {"line", "col", "rule", "message"} <= set(data["violations"][0])
    assert GateReport.model_validate_json(report.to_json()) == report


def test_report_cannot_claim_ok_with_violations() -> None:
    violation = Violation(line=1, col=0, rule="import", message="x")
    with pytest.raises(ValidationError):
        GateReport(ok=True, filename="m.py", sha256="0" * 64, violations=(violation,))
    with pytest.raises(ValidationError):
        GateReport(ok=False, filename="m.py", sha256="0" * 64)


def test_report_caps_the_number_of_violations() -> None:
    body = "".join(f"        x{i} = eval\n" for i in range(300))
    source = f"class Probe:\n    name = 'p'\n\n    def propose(self, ctx):\n{body}\n\nMECHANISM = Probe\n"
    report = check_source(source)
    assert len(report.violations) == 101
    assert report.violations[-1].rule == "truncated"
    assert "200 more" in report.violations[-1].message


def test_elapsed_time_is_recorded() -> None:
    assert check_source("import os\n").elapsed_ms > 0
