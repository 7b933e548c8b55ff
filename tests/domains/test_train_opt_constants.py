"""Reading and rewriting train.py constants with ast: exact, minimal, and injection-proof."""

from __future__ import annotations

import ast
import textwrap

import pytest

from bilevel_evolve.domains.train_opt.constants import Binding, read_constants, render_literal, resolve, rewrite

SOURCE = textwrap.dedent('''\
    """Docstring."""
    import os

    ASPECT_RATIO = 64 # model_dim = depth * ASPECT_RATIO
    WINDOW_PATTERN = "SSSL"  # é: a non-ASCII comment after a string
    TOTAL_BATCH_SIZE = 2**19 # ~524K tokens
    MATRIX_LR = 0.04
    ADAM_BETAS = (0.8, 0.95)
    DEPTH: int = 8
    NEGATIVE = -3
    DEVICE = os.environ.get("DEVICE", "cpu")
    lower_case = 1
    TWICE = 1
    TWICE = 2

    def main():
        LOCAL = 5
        print(MATRIX_LR)
''')


def test_reads_literal_and_arithmetic_constants_only() -> None:
    constants = read_constants(SOURCE, "train.py")
    values = {name: c.value for name, c in constants.items()}
    assert values == {
        "ASPECT_RATIO": 64, "WINDOW_PATTERN": "SSSL", "TOTAL_BATCH_SIZE": 524288, "MATRIX_LR": 0.04,
        "ADAM_BETAS": (0.8, 0.95), "DEPTH": 8, "NEGATIVE": -3,
    }  # not DEVICE (a call), lower_case, TWICE (assigned twice) or LOCAL (inside a function)


def test_huge_powers_are_not_evaluated() -> None:
    assert "BIG" not in read_constants("BIG = 10 ** 10 ** 10\n", "train.py")


def test_tuple_elements_resolve_by_alias_and_by_index() -> None:
    constants = read_constants(SOURCE, "train.py")
    assert resolve("ADAM_BETA1", constants) == Binding("ADAM_BETAS", 0)
    assert resolve("ADAM_BETAS__1", constants) == Binding("ADAM_BETAS", 1)
    assert resolve("ADAM_BETAS__2", constants) is None
    assert resolve("ADAM_BETAS", constants) is None  # a tuple is not one scalar parameter
    assert resolve("DEVICE", constants) is None


def test_rewrite_changes_only_the_bound_values_and_keeps_comments() -> None:
    new = rewrite(SOURCE, "train.py", {
        Binding("MATRIX_LR"): 0.01, Binding("TOTAL_BATCH_SIZE"): 65536,
        Binding("WINDOW_PATTERN"): "SL", Binding("ADAM_BETAS", 1): 0.99, Binding("DEPTH"): 4,
    })
    old_lines, new_lines = SOURCE.splitlines(), new.splitlines()
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [
        ('WINDOW_PATTERN = "SSSL"  # é: a non-ASCII comment after a string',
         "WINDOW_PATTERN = 'SL'  # é: a non-ASCII comment after a string"),
        ("TOTAL_BATCH_SIZE = 2**19 # ~524K tokens", "TOTAL_BATCH_SIZE = 65536 # ~524K tokens"),
        ("MATRIX_LR = 0.04", "MATRIX_LR = 0.01"),
        ("ADAM_BETAS = (0.8, 0.95)", "ADAM_BETAS = (0.8, 0.99)"),
        ("DEPTH: int = 8", "DEPTH: int = 4"),
    ]


def test_rewrite_handles_non_ascii_on_the_edited_line() -> None:
    source = 'NAME = "héllo wörld"  # ü\nLR = 0.1\n'
    new = rewrite(source, "train.py", {Binding("NAME"): "ok", Binding("LR"): 0.2})
    assert new == "NAME = 'ok'  # ü\nLR = 0.2\n"


PAYLOADS = [
    "x'\nimport os; os.system('touch /tmp/pwned')\ny='",
    '"); __import__("os").system("id"); ("',
    "\\' + str(open('/etc/passwd').read()) + \\'",
    "SSSL\n# comment\nMATRIX_LR = 99",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_string_payloads_become_inert_string_literals(payload: str) -> None:
    new = rewrite(SOURCE, "train.py", {Binding("WINDOW_PATTERN"): payload})
    tree = ast.parse(new)
    assert len(tree.body) == len(ast.parse(SOURCE).body)
    constants = read_constants(new, "train.py")
    assert constants["WINDOW_PATTERN"].value == payload
    assert constants["MATRIX_LR"].value == 0.04
    assert not any(isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system" for n in ast.walk(tree))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), [1], (1, 2), None, b"x"])
def test_values_that_are_not_finite_scalars_are_never_rendered(value: object) -> None:
    with pytest.raises(ValueError):
        render_literal(value)
