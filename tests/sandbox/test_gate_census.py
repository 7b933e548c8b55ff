"""The census behind the submodule allowlist (sandbox/gate/census.py) covers exactly the modules the
default policy lets a mechanism reach, and matches the sandbox image: were numpy or torch upgraded
there, a new submodule would otherwise count as an ordinary member and be reachable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.sandbox.gate import GatePolicy
from bilevel_evolve.sandbox.gate import census as census_module
from bilevel_evolve.sandbox.gate.module_census import census_paths, render
from bilevel_evolve.sandbox.gate.reach import ModuleReach

CENSUS_SOURCE = Path(census_module.__file__).with_name("module_census.py")


def test_the_census_covers_every_module_the_default_policy_reaches() -> None:
    assert sorted(census_module.MODULES) == census_paths()


def test_every_default_submodule_is_a_module_of_its_parent() -> None:
    reach = ModuleReach(GatePolicy.default())
    for path in GatePolicy.default().allowed_submodules:
        parent, _, name = path.rpartition(".")
        assert name in census_module.MODULES[parent], path
        assert reach.importable(path).module == path


def test_metaclasses_the_census_found_include_the_typing_ones() -> None:
    assert {"ABCMeta", "NamedTupleMeta"} <= census_module.METACLASSES


@pytest.mark.docker
def test_the_census_matches_the_sandbox_image(docker_client: Any, sandbox_image: str) -> None:
    output = docker_client.containers.run(
        sandbox_image,
        ["/opt/venv/bin/python", "-I", "-c", CENSUS_SOURCE.read_text(encoding="utf-8"), *census_paths()],
        network_mode="none", user="10001:10001", remove=True, stdout=True, stderr=False,
    )
    taken = json.loads(output)
    fix = "the image's modules changed: run scripts/gate-census.sh and review the diff of sandbox/gate/census.py"
    assert render(taken) == CENSUS_SOURCE.with_name("census.py").read_text(encoding="utf-8"), fix
