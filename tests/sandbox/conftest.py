"""Fixtures for the box tests: a real Docker engine and the sandbox image, or a clear skip/failure.

Locally, a missing engine or image skips the box tests with the reason; with CI=true it fails them
(a CI run that silently skipped the sandbox would prove nothing). After the whole session, no
container carrying our label may remain.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

PROBE_MARKER = "PROBE-RESULT "


@pytest.fixture
def box(docker_client: Any, sandbox_image: str) -> Callable[..., Any]:
    """Run a smoke test with the gate OFF: box(source, **limit overrides) -> BoxReport."""
    from bilevel_evolve.ground.contract.source import MechanismSource
    from bilevel_evolve.sandbox.box import run_smoke_test
    from bilevel_evolve.sandbox.container_spec import BoxLimits

    def run(
        source: str,
        *,
        space: dict[str, Any] | None = None,
        trace: list[dict[str, Any]] | None = None,
        gpu: bool | None = False,
        **limits: Any,
    ) -> Any:
        settings = {"deadline_s": 20.0, "per_call_s": 5.0, "import_s": 15.0, "host_grace_s": 3.0, **limits}
        return run_smoke_test(
            MechanismSource.from_text(textwrap.dedent(source)),
            limits=BoxLimits(**settings),
            space=space,
            trace=trace,
            gpu_wanted=gpu,
            client=docker_client,
            image=sandbox_image,
        )

    return run


def probe_source(body: str) -> str:
    """A mechanism that runs `body` at import (inside the container, gate off) and prints `results`.

    `body` fills a dict named `results`; the mechanism itself is trivial and passes."""
    return (
        "import json, os, sys\nresults = {}\n"
        + textwrap.dedent(body)
        + f"\nprint({PROBE_MARKER!r} + json.dumps(results, default=str), flush=True)\n"
        + textwrap.dedent("""
            class Probe:
                def observe(self, trial, ctx):
                    return None
            MECHANISM = Probe
            """)
    )


@pytest.fixture
def probe(box: Callable[..., Any]) -> Callable[..., tuple[dict[str, Any], Any]]:
    """probe(body, **limits) -> (results dict printed from inside the container, BoxReport)."""

    def run(body: str, **limits: Any) -> tuple[dict[str, Any], Any]:
        report = box(probe_source(body), output_keep=8192, **limits)
        assert report.verdict is not None, report.to_text()
        head = report.verdict.output.head
        assert PROBE_MARKER in head, f"the probe printed no results:\n{report.to_text()}\n{head}"
        line = head.split(PROBE_MARKER, 1)[1].split("\n", 1)[0]
        return json.loads(line), report

    return run


@pytest.fixture
def our_containers(docker_client: Any) -> Callable[..., list[Any]]:
    """our_containers(**labels) -> every container (any state) carrying our label and these labels."""
    from bilevel_evolve.sandbox.lifecycle import LABEL_OWNER, OWNER_VALUE

    def find(**labels: str) -> list[Any]:
        filters = [f"{LABEL_OWNER}={OWNER_VALUE}", *(f"{k}={v}" for k, v in labels.items())]
        # ignore_removed: another session sharing the Docker engine may remove its containers while we list
        return docker_client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)

    return find
