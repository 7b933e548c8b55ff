"""SANDBOX_TESTS case 8 (module-level side effects: nothing runs on the host) and the module shape
the engine relies on: one `MECHANISM = ClassName`, a `name`, hooks with the documented signatures."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from bilevel_evolve.sandbox.gate import check_source

CLASS = 'class Probe:\n    name = "probe"\n\n    def propose(self, ctx):\n        return None\n'


def module(top: str, tail: str = "MECHANISM = Probe\n") -> str:
    return f"{textwrap.dedent(top).strip()}\n\n\n{CLASS}\n\n{tail}"


def rules_on(report_source: str, line: int) -> set[str]:
    report = check_source(report_source)
    assert not report.ok
    return {v.rule for v in report.violations if v.line == line}


SIDE_EFFECTS = {
    "print": "print('hello from import time')",
    "open-and-write": "open('/tmp/gate-side-effect', 'w').write('x')",
    "os-system": "import math\nmath.floor(1)\nos.system('touch /tmp/pwned')",
    "numpy-seed": "import numpy as np\nnp.random.seed(0)",
    "assignment-from-call": "import random\nSEED = random.random()",
    "assignment-from-comprehension": "SQUARES = [i * i for i in range(10)]",
    "for-loop": "for i in range(3):\n    pass",
    "while-loop": "while False:\n    pass",
    "if-main": "if __name__ == '__main__':\n    print('run')",
    "try-import": "try:\n    import math\nexcept ImportError:\n    math = None",
    "with-block": "with open('/etc/passwd') as fh:\n    DATA = fh.read()",
    "module-attribute-assignment": "import math\nmath.pi = 3",
    "augmented-assignment": "COUNT = 0\nCOUNT += 1",
    "delete": "X = 1\ndel X",
    "decorator-call": "@print\ndef helper():\n    return 1",
    "custom-decorator": "def deco(f):\n    return f\n\n\n@deco\ndef helper():\n    return 1",
    "default-argument-call": "def helper(x=print('at def time')):\n    return x",
    "class-keyword": "class Meta(type, metaclass=type):\n    pass",
    "class-body-call": "class Helper:\n    print('at class creation')",
    "class-body-loop": "class Helper:\n    for i in range(3):\n        pass",
    "class-attribute-from-call": "import random\n\n\nclass Helper:\n    SEED = random.random()",
    "expression-statement": "1 + 1",
    "global-statement": "global X",
    "raise": "raise SystemExit(0)",
    "assert": "assert True",
}


@pytest.mark.parametrize("top", SIDE_EFFECTS.values(), ids=SIDE_EFFECTS.keys())
def test_module_level_side_effect_is_rejected(top: str) -> None:
    source = module(top)
    report = check_source(source)
    assert not report.ok
    assert {"module-level", "restricted", "syntax"} & {v.rule for v in report.violations}, report.to_text()


def test_side_effect_message_names_the_line_and_the_fix() -> None:
    source = module("import math\n\nX = 1\nprint(X)")
    report = check_source(source)
    assert "mechanism.py:4: the call print(...) runs at import time" in report.to_text()
    assert "move it into a method" in report.to_text()


def test_gating_never_runs_or_imports_the_source(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    payload = f"open({str(marker)!r}, 'w').write('ran')"
    top = f"{payload}\n\n\nclass Helper:\n    {payload}\n\n\ndef helper(x={payload}):\n    return x"
    source = module(top)
    modules_before = set(sys.modules)
    report = check_source(source, filename="side_effect_probe.py")
    assert not report.ok
    assert not marker.exists()
    assert not any("side_effect_probe" in name for name in set(sys.modules) - modules_before)


def test_side_effect_code_in_a_hook_is_not_run_by_the_gate(tmp_path: Path) -> None:
    # Even a passing mechanism is only parsed: its hooks never execute on the host.
    marker = tmp_path / "ran.txt"
    source = module("import math", tail="MECHANISM = Probe\n").replace(
        "        return None", f"        self.path = {str(marker)!r}\n        return None"
    )
    assert check_source(source).ok
    assert not marker.exists()


# -- MECHANISM ----------------------------------------------------------------------------------

BAD_MECHANISM = {
    "missing": ("", "no `MECHANISM = ClassName`"),
    "points-at-function": ("def make():\n    return Probe\n\n\nMECHANISM = make\n", "is a function, not a class"),
    "points-at-import": ("MECHANISM = math\n", "is an imported name, not a class"),
    "points-at-undefined": ("MECHANISM = TabuSearch\n", "no class 'TabuSearch' is defined"),
    "string": ("MECHANISM = 'Probe'\n", "bare name of a class"),
    "call": ("MECHANISM = Probe()\n", "bare name of a class"),
    "assigned-twice": ("MECHANISM = Probe\nMECHANISM = Probe\n", "bound more than once"),
    "also-bound-in-a-function": (
        "MECHANISM = Probe\n\n\ndef swap():\n    global MECHANISM\n    MECHANISM = None\n",
        "bound more than once",
    ),
}


@pytest.mark.parametrize(("tail", "fix"), BAD_MECHANISM.values(), ids=BAD_MECHANISM.keys())
def test_bad_mechanism_binding_is_rejected_with_the_fix(tail: str, fix: str) -> None:
    report = check_source(module("import math", tail=tail))
    assert not report.ok
    assert "mechanism" in {v.rule for v in report.violations}
    assert fix in report.to_text()


def test_mechanism_assigned_before_its_class_is_rejected() -> None:
    source = "MECHANISM = Probe\n\n\n" + CLASS
    report = check_source(source)
    assert "defined after the assignment" in report.to_text()


def test_mechanism_without_name_attribute_is_rejected() -> None:
    source = "class Probe:\n    def propose(self, ctx):\n        return None\n\n\nMECHANISM = Probe\n"
    report = check_source(source)
    assert [v.rule for v in report.violations] == ["mechanism"]
    assert 'name = "short-kebab-name"' in report.to_text()


def test_name_and_hooks_inherited_from_a_module_level_base_count() -> None:
    source = (
        'class Base:\n    name = "base"\n\n    def observe(self, trial, ctx):\n        return None\n\n\n'
        "class Child(Base):\n    def propose(self, ctx):\n        return None\n\n\nMECHANISM = Child\n"
    )
    report = check_source(source)
    assert report.ok, report.to_text()
    assert report.hooks == ("propose", "observe")


def test_hooks_are_reported_in_engine_call_order() -> None:
    methods = "".join(
        f"\n    def {hook}({args}):\n        return None\n"
        for hook, args in [
            ("load_state_dict", "self, state"),
            ("state_dict", "self"),
            ("accept", "self, trial, incumbent, ctx"),
            ("observe", "self, trial, ctx"),
            ("review", "self, proposal, ctx"),
            ("guide", "self, ctx"),
        ]
    )
    report = check_source(CLASS + methods + "\n\nMECHANISM = Probe\n")
    assert report.ok, report.to_text()
    assert report.hooks == ("guide", "propose", "review", "observe", "accept", "state_dict", "load_state_dict")


BAD_SIGNATURES = {
    "propose-without-ctx": ("propose", "self"),
    "review-missing-proposal": ("review", "self, ctx"),
    "accept-too-many-required": ("accept", "self, trial, incumbent, ctx, extra"),
    "observe-required-keyword": ("observe", "self, trial, ctx, *, flag"),
    "state-dict-takes-argument": ("state_dict", "self, x"),
}


@pytest.mark.parametrize(("hook", "args"), BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
def test_hook_with_wrong_signature_is_rejected_with_the_right_one(hook: str, args: str) -> None:
    partner = "\n    def load_state_dict(self, state):\n        pass\n" if hook == "state_dict" else ""
    source = (
        f'class Probe:\n    name = "probe"\n\n    def {hook}({args}):\n        return None\n{partner}'
        "\n\nMECHANISM = Probe\n"
    )
    report = check_source(source)
    assert [v.rule for v in report.violations] == ["hook-signature"], report.to_text()
    assert f"mechanism.py:4: hook {hook}()" in report.to_text()


def test_hook_with_optional_extras_is_accepted() -> None:
    source = (
        'class Probe:\n    name = "probe"\n\n'
        "    def accept(self, trial, incumbent, ctx, margin=0.0, *, strict=False):\n"
        "        return None\n\n\nMECHANISM = Probe\n"
    )
    assert check_source(source).ok


def test_state_dict_without_load_state_dict_is_rejected() -> None:
    source = CLASS + "\n    def state_dict(self):\n        return {}\n\n\nMECHANISM = Probe\n"
    report = check_source(source)
    assert "add load_state_dict(self, state)" in report.to_text()
