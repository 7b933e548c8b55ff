"""Cases 14 and 16: with the gate off, the mechanism is an unprivileged user with nothing to find."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


def test_setuid_to_root_is_denied(probe) -> None:
    results, _ = probe("""
        try:
            os.setuid(0)
            results["setuid"] = "succeeded"
        except PermissionError:
            results["setuid"] = "denied"
        results["uid"] = os.getuid()
    """)
    assert results == {"setuid": "denied", "uid": 10001}


def test_process_has_no_capabilities_and_no_new_privileges(probe) -> None:
    results, _ = probe("""
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs"):
                    results[key] = value.strip()
    """)
    assert int(results["CapEff"], 16) == 0
    assert int(results["CapPrm"], 16) == 0
    assert int(results["CapBnd"], 16) == 0
    assert results["NoNewPrivs"] == "1"


def test_subprocess_runs_unprivileged_inside_the_box(probe) -> None:
    results, _ = probe("""
        import subprocess
        out = subprocess.run(["id", "-u"], capture_output=True, text=True)
        results["id"] = out.stdout.strip()
        chown = subprocess.run(["chown", "0", "/tmp"], capture_output=True, text=True)
        results["chown"] = chown.returncode
    """)
    assert results["id"] == "10001"
    assert results["chown"] != 0


def test_ctypes_setuid_and_mount_fail(probe) -> None:
    results, _ = probe("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        results["setuid"] = libc.setuid(0)
        results["mount"] = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
        results["uid"] = os.getuid()
    """)
    assert results == {"setuid": -1, "mount": -1, "uid": 10001}


def test_etc_shadow_is_unreadable(probe) -> None:
    results, _ = probe("""
        try:
            open("/etc/shadow").read()
            results["shadow"] = "read"
        except OSError as exc:
            results["shadow"] = exc.errno
    """)
    assert results["shadow"] in (2, 13)  # absent or EACCES


def test_no_ssh_keys_are_reachable(probe) -> None:
    results, _ = probe("""
        import glob
        results["found"] = glob.glob("/root/.ssh/*") + glob.glob("/home/*/.ssh/*") + glob.glob("/tmp/.ssh/*")
        results["home"] = os.environ.get("HOME")
    """)
    assert results == {"found": [], "home": "/tmp"}


def test_docker_socket_is_absent(probe) -> None:
    results, _ = probe("""
        results["sockets"] = [p for p in ("/var/run/docker.sock", "/run/docker.sock", "/docker.sock")
                              if os.path.exists(p)]
    """)
    assert results["sockets"] == []


def test_no_secrets_in_any_environment_the_mechanism_can_read(probe, monkeypatch) -> None:
    secret = "sk-test-FAKE-SECRET-4242424242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("BILEVEL_FAKE_SECRET", secret)
    results, _ = probe("""
        environs = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/environ", "rb") as fh:
                        environs[pid] = fh.read().decode(errors="replace")
                except OSError as exc:
                    environs[pid] = f"denied {exc.errno}"
        results["environs"] = environs
        results["self"] = sorted(os.environ)
    """)
    dump = str(results)
    assert secret not in dump
    assert "OPENAI_API_KEY" not in dump
    assert results["environs"]["1"].startswith("PATH=") or "HOME=/tmp" in results["environs"]["1"]
    assert set(results["self"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
                                    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LC_CTYPE"}
