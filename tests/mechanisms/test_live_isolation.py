"""SANDBOX_TESTS cases 29-31 in real runs: a mechanism that turns hostile after the smoke test reaches no
other mechanism (their memory, files, channels and processes are out of its sight), cannot write into
the engine's channel, and exhausts only what is its own; it alone is blamed, the others keep running,
mechanisms loaded later load fine, and the run resumes and reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.ground.contract.source import MechanismSource

from .live_support import TURN, VICTIM, live_run, turning

pytestmark = pytest.mark.docker
ITERATIONS = 18
STOP_AFTER = 1 + TURN + 2  # the baseline step, then two iterations after the turn: where a crash stops the run

SABOTEUR = turning("saboteur", """
if self.report:
    return None
mine = os.getpid()
visible = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
others = {}
memory = {}
forged = []
signalled = []
for pid in visible:
    if pid == mine:
        continue
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            others[str(pid)] = fh.read().decode("utf-8", "replace")
    except OSError:
        pass
    try:
        with open("/proc/%d/mem" % pid, "rb") as fh:
            fh.read(1)
        memory[str(pid)] = "read"
    except OSError as exc:
        memory[str(pid)] = type(exc).__name__
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        fds = []
    for fd in fds:
        try:
            out = os.open("/proc/%d/fd/%s" % (pid, fd), os.O_WRONLY | os.O_NONBLOCK)
            os.write(out, b'{"id": 3, "ok": false, "kind": "died", "reason": "forged"}\\n')
            os.close(out)
            forged.append("%d/%s" % (pid, fd))
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
        signalled.append(pid)
    except OSError:
        pass
victim_seen = []
marker = ("class " + "Victim").encode()  # spelt apart: this source must not hold it
for folder, _, files in os.walk("/tmp"):
    for name in files:
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                if marker in fh.read():
                    victim_seen.append(os.path.join(folder, name))
        except OSError:
            pass
if os.fork() == 0:  # a setsid daemon that goes on killing whatever it can see
    os.setsid()
    while True:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, mine, os.getpid()):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.05)
parent_alive = os.getppid() == 1
self.report = {"others": others, "memory": memory, "forged": forged, "signalled": signalled,
               "victim_seen": victim_seen, "parent_alive": parent_alive}
return None
""")


def test_a_saboteur_sees_reaches_and_signals_no_other_mechanism_and_the_victim_is_unblamed(tmp_path: Path) -> None:
    run = live_run(tmp_path, {"victim": VICTIM, "saboteur": SABOTEUR}, iterations=ITERATIONS,
                   stop_after_step=STOP_AFTER)
    report = run.final_states()["saboteur"]["report"]
    assert list(report["others"]) == ["1"], "another process is visible from the mechanism's container"
    assert "host_server" in report["others"]["1"]  # its own server, the only other process it sees
    assert report["memory"] == {"1": "PermissionError"}
    assert report["forged"] == [] and report["victim_seen"] == []
    assert report["signalled"] == [1] and report["parent_alive"]  # the kill reached only its own init, which ignores it
    run.resume_and_report()
    assert run.rolled_back() == {}
    assert run.active_at_end() == ["victim", "saboteur"]
    assert run.final_states()["victim"] == {"seen": ITERATIONS}  # it saw every iteration, across the resume


@pytest.mark.parametrize(("garbage", "kind"), [
    (r"b'[' * 100000 + b'\n'", "garbage"),
    (r"b'\x00\xff not json\n'", "garbage"),
    (r"""b'{"ok": true, "value_json": "NaN"}\n'""", "invalid"),
    (r"""b'{"ok": false, "error": "\\ud800\\u001b]8;;http://x\\u0007[/bold]"}\n'""", "raised"),
])
def test_a_mechanism_that_writes_into_its_channel_is_rolled_back_and_the_engine_goes_on(
        tmp_path: Path, garbage: str, kind: str) -> None:
    writer = turning("writer", f"""
try:  # the engine's channel is its server's stdout: closed to the mechanism
    with open("/proc/1/fd/1", "wb") as channel:
        channel.write(b"[" * 100000 + b"\\n")
    self.report["channel"] = "written"
except OSError as exc:
    self.report["channel"] = type(exc).__name__
fd = int(sys.argv[sys.argv.index("--res-fd") + 1])  # its own reply line, then the worker's real one
os.write(fd, {garbage})
return None
""")
    run = live_run(tmp_path, {"victim": VICTIM, "writer": writer}, iterations=ITERATIONS, stop_after_step=STOP_AFTER)
    rolled = run.rolled_back()
    assert list(rolled) == ["writer"] and rolled["writer"][0] == TURN
    assert rolled["writer"][1].startswith(f"hook observe {kind}: ")
    assert rolled["writer"][1].isprintable() and "\x1b" not in rolled["writer"][1]
    run.resume_and_report()
    assert run.active_at_end() == ["victim"]
    assert run.final_states()["victim"] == {"seen": ITERATIONS}
    (run.run_dir / "trace.jsonl").read_bytes().decode("utf-8")  # strict: nothing undecodable reached the trace


POISONER = turning("poisoner", """
if self.report:
    return None
filled = {}
for folder in ("/tmp", "/dev/shm"):
    chunks = 0
    try:
        with open(folder + "/fill", "wb") as fh:
            while True:
                fh.write(b"\\0" * (1 << 20))
                fh.flush()
                chunks += 1
    except OSError as exc:
        filled[folder] = type(exc).__name__
if os.fork() == 0:  # a setsid daemon that takes every pid there is and holds them
    os.setsid()
    while True:
        try:
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
        except OSError:
            break
    time.sleep(3600)
    os._exit(0)
self.report = {"filled": filled}
return None
""")


def test_a_mechanism_that_exhausts_its_resources_hurts_only_itself_and_later_ones_load_fine(
        tmp_path: Path) -> None:
    latecomer = VICTIM.data.replace(b'name = "victim"', b'name = "latecomer"')
    run = live_run(tmp_path, {"victim": VICTIM, "poisoner": POISONER}, iterations=ITERATIONS,
                   late={TURN + 1: ("latecomer", MechanismSource(latecomer))}, stop_after_step=STOP_AFTER)
    assert run.injected() == ["victim", "poisoner", "latecomer"]
    run.resume_and_report()
    assert set(run.rolled_back()) <= {"poisoner"}  # if anyone is blamed, it is the poisoner
    assert {"victim", "latecomer"} <= set(run.active_at_end())
    states = run.final_states()
    assert states["victim"] == {"seen": ITERATIONS}
    assert states["latecomer"] == {"seen": ITERATIONS - TURN}  # observed from the iteration it came in
    if "poisoner" in states:
        assert states["poisoner"]["report"]["filled"] == {"/tmp": "OSError", "/dev/shm": "OSError"}
