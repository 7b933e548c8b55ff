"""Case 26: on a GPU host, a GPU memory hog stays contained and a CPU run sees no GPU.
Skipped (with the reason) where the Docker engine has no NVIDIA runtime."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


@pytest.fixture
def gpu_engine(docker_client) -> None:
    from bilevel_evolve.sandbox import gpu

    support = gpu.probe(docker_client)
    if not support.available:
        pytest.skip(f"no GPU passthrough on this Docker engine ({support.how})")


def test_cpu_run_on_a_gpu_host_sees_no_gpu(gpu_engine, probe) -> None:
    results, report = probe("""
        import torch
        results["cuda"] = torch.cuda.is_available()
        results["devices"] = sorted(d for d in os.listdir("/dev") if d.startswith("nvidia"))
    """, import_s=60.0, deadline_s=90.0)
    assert results == {"cuda": False, "devices": []}
    assert report.device == "device: cpu (GPU not requested)"


def test_gpu_memory_hog_is_contained(gpu_engine, box) -> None:
    report = box("""
        import torch
        class GpuHog:
            def propose(self, ctx):
                blocks = []
                while True:
                    blocks.append(torch.empty(1024 ** 3, dtype=torch.uint8, device="cuda"))
        MECHANISM = GpuHog
    """, gpu=True, import_s=60.0, deadline_s=90.0)
    assert report.status in ("FAILED", "OOM")
    assert report.device.startswith("device: gpu")
    if report.status == "FAILED":
        assert "OutOfMemoryError" in report.reasons[0] or "out of memory" in report.reasons[0]
