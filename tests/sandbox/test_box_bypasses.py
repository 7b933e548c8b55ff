"""SANDBOX_TESTS case 34, the box side: with the gate off, each gate bypass through an allowed library
runs for real in the container, and the container contains it.

The code-running bypasses (np.testing.measure, a string annotation singledispatch evaluates,
torch.utils.benchmark.Timer, DataLoader workers, a three-argument type() with __del__) run ESCAPE, which
tries to write outside /tmp, to reach the network and to start a process; the file-writing ones
(ndarray.dump, torch.utils.file_baton, a profiler trace export, np.testing.tempdir) aim at the same
places. Each shows that it ran (its file in the container's /tmp exists), that nothing was written
outside /tmp (the root, /usr, the read-only mechanism and harness mounts, a path of the host), that
everything it started stayed in the mechanism's process tree and pid namespace as the unprivileged user,
and that no network answered.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

OUTSIDE = ("/escaped", "/usr/escaped", "/mech/escaped", "/opt/harness/escaped")
NETWORK = (("1.1.1.1", 53), ("169.254.169.254", 80), ("172.17.0.1", 2375))
SANDBOX_UID = 10001

ESCAPE = """
import json, os, socket, subprocess
found = {"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid(), "pidns": os.readlink("/proc/self/ns/pid")}
found["writes"] = {}
for target in TARGETS:
    try:
        with open(target, "w") as handle:
            handle.write("escaped")
        found["writes"][target] = "written"
    except OSError as exc:
        found["writes"][target] = exc.__class__.__name__
found["net"] = {}
for host, port in NETWORK:
    try:
        socket.create_connection((host, port), timeout=2).close()
        found["net"][host] = "connected"
    except OSError as exc:
        found["net"][host] = exc.__class__.__name__
child = subprocess.run(["readlink", "/proc/self/ns/pid"], capture_output=True, text=True)
found["child_pidns"] = child.stdout.strip()
with open("/tmp/escape-TAG.json", "w") as handle:
    json.dump(found, handle)
"""

# Each runs ESCAPE through the bypass (gate off); TAG names the file ESCAPE leaves in /tmp.
CODE_RUNNING = {
    "numpy-testing-measure": ("in-process", """
        import numpy as np
        np.testing.measure(ESCAPE.replace("TAG", "run"), 1)
    """),
    "singledispatch-string-annotation": ("in-process", """
        import functools
        dispatch = functools.singledispatch(lambda v: v)
        def impl(v: "exec(ESCAPE.replace('TAG', 'run')) or int"):
            return v
        dispatch.register(impl)
    """),
    "torch-benchmark-timer": ("in-process", """
        import torch.utils.benchmark
        torch.utils.benchmark.Timer(stmt="exec(CODE)", globals={"CODE": ESCAPE.replace("TAG", "run")}).timeit(1)
    """),
    "dataloader-workers": ("child", """
        import torch.utils.data
        class Escaping(torch.utils.data.Dataset):
            def __len__(self):
                return 1
            def __getitem__(self, index):
                exec(ESCAPE.replace("TAG", "run"))
                return index
        list(torch.utils.data.DataLoader(Escaping(), num_workers=2, batch_size=None))
    """),
    "three-argument-type": ("in-process", """
        Escaping = type("Escaping", (), {"__del__": lambda self: exec(ESCAPE.replace("TAG", "run"))})
        Escaping()
    """),
}

# Each aims the bypass at every target (gate off) and records "written" or the error.
FILE_WRITING = {
    "ndarray-dump": """
        import numpy as np
        for target in TARGETS:
            try:
                np.zeros(3).dump(target)
                results["writes"][target] = "written"
            except OSError as exc:
                results["writes"][target] = exc.__class__.__name__
    """,
    "torch-file-baton": """
        import torch.utils.file_baton
        for target in TARGETS:
            try:
                torch.utils.file_baton.FileBaton(target).try_acquire()
                results["writes"][target] = "written"
            except OSError as exc:
                results["writes"][target] = exc.__class__.__name__
    """,
    "profiler-trace-export": """
        import torch
        for target in TARGETS:
            with torch.profiler.profile() as prof:  # a trace is exported once
                torch.ones(4) + 1
            try:
                prof.export_chrome_trace(target)
                results["writes"][target] = "written" if os.path.exists(target) else "not written"
            except (OSError, RuntimeError) as exc:
                results["writes"][target] = exc.__class__.__name__
    """,
    "numpy-testing-tempdir": """
        import numpy as np
        for target in TARGETS:
            try:
                with np.testing.tempdir(dir=os.path.dirname(target)) as made:
                    results["writes"][target] = "written" if os.path.isdir(made) else "not written"
            except OSError as exc:
                results["writes"][target] = exc.__class__.__name__
    """,
}


def _prelude(targets: list[str]) -> str:
    return (
        f"ESCAPE = {ESCAPE!r}\nTARGETS = {targets!r}\nNETWORK = {NETWORK!r}\n"
        f"ESCAPE = 'TARGETS = ' + repr(TARGETS) + '\\nNETWORK = ' + repr(NETWORK) + '\\n' + ESCAPE\n"
        'results["probe_pid"] = os.getpid()\nresults["probe_pidns"] = os.readlink("/proc/self/ns/pid")\n'
        'results["writes"] = {}\n'
    )


def _assert_contained_writes(writes: dict[str, str], inside: str, host_marker: Path) -> None:
    assert writes[inside] == "written", f"the bypass did not run at all: {writes}"
    for target in (*OUTSIDE, str(host_marker)):
        assert writes[target] != "written", (target, writes)
    assert not host_marker.exists()


@pytest.mark.parametrize(("where", "body"), CODE_RUNNING.values(), ids=CODE_RUNNING.keys())
def test_code_run_through_a_gate_bypass_stays_in_the_box(
    probe: Callable[..., tuple[dict[str, Any], Any]], tmp_path: Path, where: str, body: str
) -> None:
    host_marker = tmp_path / "escaped"
    inside = "/tmp/escaped-inside"
    results, report = probe(
        _prelude([*OUTSIDE, str(host_marker), inside])
        + textwrap.dedent(body)
        + 'with open("/tmp/escape-run.json") as handle:\n    results["found"] = json.load(handle)\n',
        import_s=120.0, deadline_s=180.0,
    )
    assert report.verdict is not None, report.to_text()
    found = results["found"]
    _assert_contained_writes(found["writes"], inside, host_marker)
    assert set(found["net"]) == {host for host, _ in NETWORK}
    assert "connected" not in found["net"].values(), found["net"]
    assert found["uid"] == SANDBOX_UID
    # In the mechanism's own process (or a child of it, for DataLoader workers), in the box's pid
    # namespace, and so is the process it started.
    assert found["pidns"] == found["child_pidns"] == results["probe_pidns"]
    assert found["pid" if where == "in-process" else "ppid"] == results["probe_pid"]


@pytest.mark.parametrize("body", FILE_WRITING.values(), ids=FILE_WRITING.keys())
def test_files_written_through_a_gate_bypass_stay_in_the_box_tmp(
    probe: Callable[..., tuple[dict[str, Any], Any]], tmp_path: Path, body: str
) -> None:
    host_marker = tmp_path / "escaped"
    inside = "/tmp/escaped-inside"
    results, report = probe(
        _prelude([*OUTSIDE, str(host_marker), inside]) + textwrap.dedent(body), import_s=120.0, deadline_s=180.0
    )
    assert report.verdict is not None, report.to_text()
    _assert_contained_writes(results["writes"], inside, host_marker)


ALLOWED_MATH = """
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim


class AllowedMath:
    name = "allowed-math"

    def propose(self, ctx):
        a = np.linalg.solve(np.eye(2) * 2.0, np.ones(2))
        rng = np.random.default_rng(ctx.iteration)
        spectrum = np.fft.rfft(rng.normal(size=8))
        fit = np.polynomial.polynomial.polyfit([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], 1)
        net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
        opt = optim.Adam(net.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.StepLR(opt, 5)
        x = torch.tensor(a, dtype=torch.float32).reshape(1, 2)
        loss = F.mse_loss(net(x), torch.zeros(1, 1))
        loss.backward()
        opt.step()
        sched.step()
        normal = torch.distributions.Normal(0.0, 1.0)
        positive = torch.distributions.constraints.positive.check(torch.ones(1))
        sobol = torch.quasirandom.SobolEngine(2, seed=0).draw(2)
        total = float(torch.linalg.norm(sobol)) + float(torch.special.erf(torch.zeros(1)))
        total += float(spectrum.real[0]) + float(fit[0]) + float(normal.log_prob(torch.zeros(1))) + float(positive)
        on_gpu = x.device.type == "cuda"
        if on_gpu or total != total:
            return None
        return None


MECHANISM = AllowedMath
"""


def test_numpy_and_torch_math_a_search_mechanism_uses_passes_gate_and_box(docker_client: Any,
                                                                          sandbox_image: str) -> None:
    from bilevel_evolve.sandbox.container_spec import BoxLimits
    from bilevel_evolve.sandbox.vet import check_mechanism

    report = check_mechanism(ALLOWED_MATH, client=docker_client, gpu=False,
                             limits=BoxLimits(import_s=120.0, deadline_s=240.0, iterations=3))
    assert report.accepted, report.to_text()
