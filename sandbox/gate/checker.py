"""`check_source`: the static gate in one call. It never imports or runs the source, and every
exception inside it becomes a rejection (fail closed)."""

from __future__ import annotations

import ast
import time
import warnings

from bilevel_evolve.ground.contract.source import MechanismSource, sha256_hex
from bilevel_evolve.sandbox.gate.limits import check_raw, check_shape
from bilevel_evolve.sandbox.gate.models import MAX_REPORTED_VIOLATIONS, GatePolicy, GateReport, Violation
from bilevel_evolve.sandbox.gate.reach import ModuleReach, module_aliases
from bilevel_evolve.sandbox.gate.structure import check_structure
from bilevel_evolve.sandbox.gate.transformer import MechanismPolicy


def _bytes_and_digest(source: MechanismSource | str | bytes) -> tuple[bytes, str]:
    if isinstance(source, MechanismSource):
        return source.data, source.sha256
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, str):
        # Lone surrogates cannot be saved as UTF-8; keep them so the hash is still defined and
        # the decode step rejects the source.
        data = source.encode("utf-8", "surrogatepass")
    else:
        raise TypeError(f"check_source takes a MechanismSource, str or bytes, not {type(source).__name__}")
    return data, sha256_hex(data)


def _parse(text: str, filename: str) -> tuple[ast.Module | None, list[Violation]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings (e.g. invalid escapes) are not violations
            return ast.parse(text, filename=filename, type_comments=False), []
    except SyntaxError as exc:
        message = f"syntax error: {exc.msg}; fix the syntax (the module must parse as Python 3.11)"
        return None, [Violation(line=exc.lineno, col=exc.offset, rule="syntax", message=message)]
    except (MemoryError, RecursionError):
        return None, [
            Violation(
                line=None,
                col=None,
                rule="depth",
                message="source is too deeply nested or complex to parse; flatten it (split long expressions "
                "and nested literals, move blocks into helper methods)",
            )
        ]


def _inspect(data: bytes, filename: str, policy: GatePolicy) -> tuple[list[Violation], str | None, tuple[str, ...]]:
    text, violations = check_raw(data, policy)
    if text is None:
        return violations, None, ()
    tree, violations = _parse(text, filename)
    if tree is None:
        return violations, None, ()
    violations = check_shape(tree, policy)
    if violations:
        return violations, None, ()
    structure = check_structure(tree)
    reach = ModuleReach(policy)
    policy_visitor = MechanismPolicy(policy, reach, module_aliases(tree, reach))
    # Structure ran first: the transformer rewrites the tree in place.
    policy_visitor.visit(tree)
    return [*structure.violations, *policy_visitor.violations], structure.mechanism_class, structure.hooks


def _finish(violations: list[Violation]) -> tuple[Violation, ...]:
    unique: dict[tuple[int | None, str, str], Violation] = {}
    for v in violations:
        unique.setdefault((v.line, v.rule, v.message), v)
    ordered = sorted(unique.values(), key=lambda v: (v.line is not None, v.line or 0, v.col or 0))
    if len(ordered) > MAX_REPORTED_VIOLATIONS:
        dropped = len(ordered) - MAX_REPORTED_VIOLATIONS
        ordered = [
            *ordered[:MAX_REPORTED_VIOLATIONS],
            Violation(line=None, col=None, rule="truncated", message=f"... and {dropped} more violations"),
        ]
    return tuple(ordered)


def check_source(
    source: MechanismSource | str | bytes,
    filename: str = "mechanism.py",
    policy: GatePolicy | None = None,
) -> GateReport:
    """Vet one mechanism module statically. `ok` is true only when nothing was found.

    Raw text or bytes (of any size: the policy's caps judge them) are hashed here; a
    MechanismSource brings its hash along."""
    started = time.perf_counter()
    policy = policy or GatePolicy.default()
    data, digest = _bytes_and_digest(source)
    mechanism_class: str | None = None
    hooks: tuple[str, ...] = ()
    try:
        violations, mechanism_class, hooks = _inspect(data, filename, policy)
    except Exception as exc:  # fail closed: MemoryError, RecursionError and any checker bug reject
        violations = [
            Violation(
                line=None,
                col=None,
                rule="internal",
                message=f"the gate could not check this source ({type(exc).__name__}); it is rejected. "
                "Simplify the module (smaller, less nested, ordinary class code) and try again",
            )
        ]
    final = _finish(violations)
    return GateReport(
        ok=not final,
        filename=filename,
        sha256=digest,
        violations=final,
        mechanism_class=mechanism_class,
        hooks=hooks,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )
