"""Smoke-test harness: the container's main process. Standard library only.

    /opt/venv/bin/python -I -m bilevel_evolve.sandbox.guest.harness      (the job arrives as one JSON line on stdin)

Why the verdict cannot be forged by the mechanism, even with the static gate switched off:
- the job, including the run's nonce, is read from stdin before any mechanism code exists, so
  nothing the mechanism can open (environment, argv, files, /proc/1/environ) holds the nonce;
- this process makes itself non-dumpable, so a same-uid process can read neither its memory nor
  its /proc entries (fds, environ) and cannot ptrace it;
- the mechanism runs in a fresh interpreter (exec, not fork: no copy of our memory) with a clean
  environment, talking over pipes; its stdout/stderr are captured and capped here;
- before the verdict is written, every other process in the container is killed, so nothing is
  left to read it or to write after it. The host accepts only a schema-valid verdict line that
  carries the nonce; "passed" printed by anyone else is just output.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

from bilevel_evolve.ground.contract.interface import HOOKS
from bilevel_evolve.sandbox.guest.trace_driver import Driver, HookProblem, defined_hooks, first_difference
from bilevel_evolve.sandbox.guest.worker_link import BadReply, Worker, WorkerDied, WorkerTimeout

VERDICT_MARKER = "@@BILEVEL-EVOLVE-VERDICT@@"
MAX_JOB_BYTES = 8 * 1024 * 1024
MAX_VERDICT_BYTES = 15 * 1024  # one json-file log entry (16 KiB) so log rotation cannot split it
PR_SET_DUMPABLE = 4


class Deadline(Exception):
    pass


def _nondumpable() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except OSError:
        return False


def _read_job() -> dict[str, Any]:
    data = bytearray()
    while not data.endswith(b"\n") and len(data) <= MAX_JOB_BYTES:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    # Replace stdin with /dev/null (not just close it: fd 0 must stay taken, or a later pipe lands there).
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    job: dict[str, Any] = json.loads(data)
    return job


def _kill_everything_else() -> None:
    """SIGKILL every process this user may signal (all but pid 1 and us); repeat until none is left."""
    me = os.getpid()
    for _ in range(100):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not _others_alive(me):
            return
        time.sleep(0.01)


def _others_alive(me: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me):
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            return True
    return False


def _emit(verdict: dict[str, Any]) -> None:
    line = json.dumps(verdict, separators=(",", ":"))
    while len(line) > MAX_VERDICT_BYTES:  # trim the least important parts first
        if verdict.get("output", {}).get("head") or verdict.get("output", {}).get("tail"):
            verdict["output"] = {**verdict["output"], "head": "", "tail": ""}
        elif len(verdict["warnings"]) > 1 or len(verdict["reasons"]) > 1:
            verdict["warnings"] = verdict["warnings"][:1]
            verdict["reasons"] = verdict["reasons"][:1]
        else:
            verdict["reasons"] = [r[:2000] for r in verdict["reasons"]]
            verdict["warnings"] = [w[:2000] for w in verdict["warnings"]]
            verdict["mechanism"] = {**verdict["mechanism"], "name": verdict["mechanism"]["name"][:200]}
            line = json.dumps(verdict, separators=(",", ":"))
            break
        line = json.dumps(verdict, separators=(",", ":"))
    data = f"\n{VERDICT_MARKER} {line}\n".encode()
    while data:
        data = data[os.write(1, data):]


def smoke_test(job: dict[str, Any], verdict: dict[str, Any]) -> None:
    """Fill `verdict` in place (so a deadline mid-way still reports what was learned)."""
    worker = Worker(job["mechanism_path"], output_keep=int(job.get("output_keep", 2048)))
    verdict["_worker"] = worker
    imported = worker.request({"op": "import"}, float(job["import_s"]), "importing the mechanism")
    if not imported["ok"]:
        verdict["status"] = "IMPORT_ERROR" if imported.get("import_failed") else "FAILED"
        where = f" ({imported['where']})" if imported.get("where") else ""
        verdict["reasons"].append(f"{imported['error']}{where}")
        return
    hooks = imported["hooks"]
    verdict["mechanism"] = {"name": imported["name"], "class": imported["class"], "hooks": hooks}
    if not defined_hooks(hooks):
        verdict["status"] = "FAILED"
        verdict["reasons"].append(f"MECHANISM defines none of the hooks {', '.join(HOOKS)}")
        return
    driver = Driver(worker=worker, space=job["space"], direction=job.get("direction", "minimize"),
                    seed=int(job["seed"]), iterations=int(job["iterations"]),
                    per_call_s=float(job["per_call_s"]), hooks=hooks, recorded=job.get("trace"),
                    config=job.get("config") or {})
    verdict["_driver"] = driver
    try:
        first = driver.run()
        if "state_dict" in hooks:
            state = driver.state_dict()
            if "load_state_dict" in hooks:
                driver.new_instance()
                driver.load_state_dict(state)
            else:
                verdict["warnings"].append("state_dict without load_state_dict: a resumed run starts it fresh")
        second = driver.run()
    except HookProblem as exc:
        verdict["status"] = "FAILED"
        verdict["reasons"].append(str(exc))
        return
    difference = first_difference(first, second)
    if difference:
        verdict["status"] = "FAILED"
        verdict["reasons"].append(
            f"nondeterministic under a fixed seed: {difference} (draw randomness from ctx.rng only)")
        return
    if "state_dict" in hooks and "load_state_dict" in hooks and driver.iterations > 1:
        try:
            resumed = driver.run(reload_at=driver.iterations // 2)
        except HookProblem as exc:
            verdict["status"] = "FAILED"
            verdict["reasons"].append(f"after state_dict -> load_state_dict: {exc}")
            return
        if (difference := first_difference(first, resumed)) is not None:
            verdict["warnings"].append(f"a mechanism reloaded from state_dict behaves differently: {difference}")
    verdict["status"] = "PASSED"


def main() -> int:
    started = time.monotonic()
    dumpable_off = _nondumpable()
    job = _read_job()
    nonce = job.pop("nonce")
    verdict: dict[str, Any] = {
        "schema": 1, "nonce": nonce, "status": "CRASHED", "reasons": [], "warnings": [],
        "mechanism": {"name": "", "class": "", "hooks": []}, "hooks": {}, "iterations": job["iterations"],
        "output": {"bytes": 0, "head": "", "tail": ""}, "duration_s": 0.0,
    }
    if not dumpable_off:
        verdict["warnings"].append("could not make the harness non-dumpable")

    def on_deadline(signum: int, frame: Any) -> None:
        raise Deadline()

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, on_deadline)
    signal.setitimer(signal.ITIMER_REAL, float(job["deadline_s"]))
    try:
        smoke_test(job, verdict)
    except Deadline:
        verdict["status"] = "TIMEOUT"
        verdict["reasons"].append(f"the smoke test ran past its {job['deadline_s']:g} s deadline")
    except WorkerTimeout as exc:
        verdict["status"] = "TIMEOUT"
        verdict["reasons"].append(f"{exc.op} took longer than the {exc.limit_s:g} s per-call limit")
    except WorkerDied as exc:
        verdict["status"] = "CRASHED"
        verdict["reasons"].append(str(exc))
    except BadReply as exc:
        verdict["status"] = "FAILED"
        verdict["reasons"].append(str(exc))
    except Exception as exc:  # the harness itself failed: report it, never pass
        verdict["status"] = "CRASHED"
        verdict["reasons"].append(f"harness error: {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    worker = verdict.pop("_worker", None)
    if worker is not None and verdict["status"] not in ("TIMEOUT", "CRASHED"):
        worker.stop(grace_s=0.5)  # an orderly exit flushes what the mechanism printed
    _kill_everything_else()
    driver = verdict.pop("_driver", None)
    if worker is not None:
        worker.stop()
        verdict["output"] = worker.output.summary()
    if driver is not None:
        verdict["hooks"] = {name: stats.to_json() for name, stats in driver.stats.items()}
    verdict["duration_s"] = round(time.monotonic() - started, 3)
    _emit(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
