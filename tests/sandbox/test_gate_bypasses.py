"""SANDBOX_TESTS case 34, the gate side: bypasses through allowed libraries are rejected with their line.

The container contained every one of these (tests/sandbox/test_box_bypasses.py runs them with the gate
off); the gate closes them anyway, mostly through the submodule allowlist (a numpy/torch/stdlib submodule
is reachable only when the policy allows it) instead of a list of attribute names.
"""

from __future__ import annotations

import pytest
from gate_sources import assert_rejected_at, mechanism

from bilevel_evolve.sandbox.gate import GatePolicy, check_source

# name -> (module header, hook body); the line the gate must name carries `# <-`.
BYPASSES: dict[str, tuple[str, str]] = {
    "numpy-testing-measure-runs-code": ("import numpy as np", "np.testing.measure('x = 1', 1)  # <-"),
    "numpy-testing-measure-imported": ("from numpy.testing import measure  # <-", "measure('x = 1', 1)"),
    "numpy-testing-imported-as-module": ("from numpy import testing  # <-", "testing.measure('x = 1', 1)"),
    "numpy-testing-tempdir": ("import numpy as np", "with np.testing.tempdir() as d:  # <-\n    x = d"),
    "singledispatch-evaluates-a-string-annotation": (
        "import functools",
        "f = functools.singledispatch(print)  # <-\n"
        "def impl(v: \"exec('import os') or int\"):\n    return v\nf.register(impl)",
    ),
    "string-annotation-is-code": (
        "",
        "def impl(v: \"exec('import os') or int\"):  # <-\n    return v",
    ),
    "string-return-annotation-is-code": ("", "def impl(v) -> \"print('x')\":  # <-\n    return v"),
    "string-annotated-assignment-is-code": ("", "v: \"[print(1)]\" = 1  # <-"),
    "singledispatch-imported": ("from functools import singledispatch  # <-", "f = singledispatch(print)"),
    "torch-benchmark-timer-runs-a-statement": (
        "import torch",
        "torch.utils.benchmark.Timer(stmt='x = 1').timeit(1)  # <-",
    ),
    "torch-benchmark-imported": ("from torch.utils.benchmark import Timer  # <-", "Timer(stmt='x = 1').timeit(1)"),
    "ndarray-dump-writes-a-file": ("import numpy as np", "np.zeros(3).dump('/tmp/x.npy')  # <-"),
    "torch-file-baton-writes-a-file": (
        "import torch",
        "torch.utils.file_baton.FileBaton('/tmp/lock').try_acquire()  # <-",
    ),
    "torch-profiler": ("import torch", "with torch.profiler.profile() as prof:  # <-\n    x = torch.ones(2) + 1"),
    "torch-autograd-profiler": (
        "import torch",
        "with torch.autograd.profiler.profile() as prof:  # <-\n    x = torch.ones(2) + 1",
    ),
    "profiler-trace-export": ("", "ctx.profile.export_chrome_trace('/tmp/trace.json')  # <-"),
    "dataloader-workers-start-processes": (
        "from torch.utils.data import DataLoader  # <-",
        "x = list(DataLoader([1, 2], num_workers=2))",
    ),
    "dataloader-through-attributes": (
        "import torch",
        "x = list(torch.utils.data.DataLoader([1], num_workers=2))  # <-",
    ),
    "type-with-three-arguments": ("", "E = type('E', (), {'__del__': print})  # <-"),
    "type-of-type-is-type": ("", "T = type(type)  # <-\nE = T('E', (), {})"),
    "type-of-a-class-called": ("", "E = type(Probe)('E', (), {})  # <-"),
    "type-aliased": ("", "t = type  # <-"),
    "type-in-a-tuple": ("", "kinds = [c for c in (type, int)]  # <-"),
    "subclass-of-type": ("", "class Meta(type):  # <-\n    pass"),
    "typing-metaclass": ("import typing", "E = typing.NamedTupleMeta('E', (), {'__annotations__': {}})  # <-"),
    "typing-metaclass-imported": ("from typing import ABCMeta  # <-", "x = 1"),
    "typing-types-new-class": ("import typing", "E = typing.types.new_class('E')  # <-"),
    "tensor-type-imports-by-name": ("import torch", "torch.zeros(1).type('antigravity.x')  # <-"),
    "tensor-type-aliased": ("import torch", "f = torch.zeros(1).type  # <-\nf('antigravity.x')"),
    "torch-default-tensor-type-imports-by-name": ("import torch", "torch.set_default_tensor_type('x.y')  # <-"),
    "numpy-info-imports-by-name": ("import numpy as np", "np.info('x', toplevel='antigravity')  # <-"),
    "torch-file-writer": ("import torch", "w = torch.PyTorchFileWriter('/tmp/x')  # <-"),
    "torch-jit": ("import torch", "f = torch.jit.script(print)  # <-"),
    "torch-backends": ("import torch", "torch.backends.cudnn.benchmark = True  # <-"),
    "torch-module-of-a-module": ("import torch.nn.functional as F", "F.torch.utils.data.DataLoader([1])  # <-"),
    "numpy-module-of-a-module": ("import numpy as np", "x = np.polynomial.polynomial.np.testing  # <-"),
    "stdlib-module-of-a-module": ("import typing", "x = typing.operator.attrgetter  # <-"),
    "statistics-random-module": ("import statistics", "x = statistics.random.random()  # <-"),
    "allowed-submodule-as-a-value": ("import torch", "m = torch.nn  # <-\nx = m.Linear(1, 1)"),
    "imported-submodule-as-a-value": ("from torch import nn", "self.layers = nn  # <-"),
    "import-numpy-lib": ("import numpy.lib  # <-", "x = 1"),
    "import-numpy-linalg-member": ("import numpy.linalg.norm  # <-", "x = 1"),
}


@pytest.mark.parametrize(("header", "body"), BYPASSES.values(), ids=BYPASSES.keys())
def test_gate_bypass_through_an_allowed_library_is_rejected_with_its_line(header: str, body: str) -> None:
    assert_rejected_at(
        mechanism(body, header),
        {"submodule", "import", "attribute", "annotation", "type", "metaclass", "module-value"},
    )


def test_a_denied_submodule_names_what_is_allowed_instead() -> None:
    text = check_source(mechanism("np.testing.measure('x = 1', 1)", "import numpy as np")).to_text()
    assert "'numpy.testing' is not one of the submodules a mechanism may use" in text
    assert "numpy.linalg" in text and "numpy.random" in text


# What search mechanisms use stays allowed (the recipes and tests/sandbox/mechanisms pass as well).
ALLOWED = {
    "numpy-linear-algebra": ("import numpy as np", "x = np.linalg.solve(np.eye(2), np.ones(2))\ny = np.linalg.norm(x)"),
    "numpy-random": (
        "import numpy as np",
        "rng = np.random.default_rng(0)\nx = rng.normal(size=3)\ny = rng.bit_generator",
    ),
    "numpy-linalg-imported": ("from numpy import linalg as la", "x = la.inv([[1.0]])"),
    "numpy-random-imported-module": ("import numpy.random", "x = numpy.random.default_rng(0).random()"),
    "numpy-fft-and-polynomial": (
        "import numpy as np",
        "x = np.fft.rfft(np.ones(4))\np = np.polynomial.polynomial.polyfit([0, 1, 2], [1, 2, 3], 1)",
    ),
    "torch-math": (
        "import torch",
        "t = torch.randn(3, generator=torch.Generator().manual_seed(0))\nx = torch.linalg.norm(t)\n"
        "y = torch.special.erf(t)\nz = torch.fft.fft(t)",
    ),
    "torch-nn-optim-distributions": (
        "import torch\nfrom torch import nn, optim\nimport torch.nn.functional as F",
        "net = nn.Sequential(nn.Linear(2, 4), nn.ReLU())\nopt = optim.Adam(net.parameters(), lr=1e-3)\n"
        "sched = torch.optim.lr_scheduler.StepLR(opt, 10)\n"
        "loss = F.mse_loss(net(torch.zeros(1, 2)), torch.zeros(1, 4))\n"
        "d = torch.distributions.Normal(0.0, 1.0)\nc = torch.distributions.constraints.positive\n"
        "g = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)",
    ),
    "torch-quasirandom": ("import torch", "s = torch.quasirandom.SobolEngine(2, seed=0).draw(4)"),
    "tensor-type-without-arguments": ("import torch", "name = torch.zeros(1).type()"),
    "device-type-compared": ("import torch", "on_gpu = torch.zeros(1).device.type == 'cuda'"),
    "type-compared": ("", "x = type(ctx) is dict or type(1) in (int, float)"),
    "string-annotation-naming-a-class": ("", "def impl(v: \"Probe\") -> \"list[float] | None\":\n    return None"),
    "collections-abc": ("from collections.abc import Iterable", "x = isinstance(ctx.history, Iterable)"),
}


@pytest.mark.parametrize(("header", "body"), ALLOWED.values(), ids=ALLOWED.keys())
def test_what_search_mechanisms_use_stays_allowed(header: str, body: str) -> None:
    report = check_source(mechanism(body, header))
    assert report.ok, report.to_text()


def test_a_policy_can_open_a_submodule() -> None:
    source = mechanism("x = list(DataLoader([1, 2], batch_size=1))", "from torch.utils.data import DataLoader")
    assert not check_source(source).ok
    policy = GatePolicy(allowed_submodules=(*GatePolicy.default().allowed_submodules, "torch.utils.data"))
    assert check_source(source, policy=policy).ok, check_source(source, policy=policy).to_text()
    # torch.utils is only a passage to torch.utils.data: its other submodules stay closed.
    other = mechanism("torch.utils.benchmark.Timer(stmt='x = 1')  # <-", "import torch")
    assert not check_source(other, policy=policy).ok
