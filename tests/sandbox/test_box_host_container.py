"""The long-lived mechanism-host container gets the smoke test's confinement and serves workers."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


def _frames(sock: socket.socket, want: bytes, limit: int = 1 << 20) -> bytes:
    """Read docker's multiplexed exec stream until `want` appears in stdout."""
    out = b""
    while want not in out and len(out) < limit:
        header = sock.recv(8, socket.MSG_WAITALL)
        if len(header) < 8:
            break
        size = struct.unpack(">I", header[4:])[0]
        payload = sock.recv(size, socket.MSG_WAITALL)
        if header[0] == 1:
            out += payload
    return out


def test_host_container_is_hardened_and_runs_a_worker(docker_client, sandbox_image, tmp_path: Path) -> None:
    from sandbox.host_container import HostContainer

    mech = tmp_path / "mechs" / "m1"
    mech.mkdir(parents=True)
    (mech / "mechanism.py").write_text("class M:\n    def observe(self, trial, ctx):\n        return None\n"
                                       "MECHANISM = M\n")
    for p in (tmp_path / "mechs", mech):
        p.chmod(0o755)
    (mech / "mechanism.py").chmod(0o644)
    host = HostContainer.start(mechanisms_dir=tmp_path / "mechs", client=docker_client, image=sandbox_image,
                               gpu_wanted=False)
    try:
        attrs = docker_client.api.inspect_container(host.id)
        cfg = attrs["HostConfig"]
        assert cfg["NetworkMode"] == "none" and cfg["ReadonlyRootfs"] is True
        assert cfg["CapDrop"] == ["ALL"] and "no-new-privileges" in cfg["SecurityOpt"]
        assert cfg["Memory"] == cfg["MemorySwap"] > 0 and cfg["PidsLimit"] > 0 and cfg["Init"] is True
        assert attrs["Config"]["User"] == "10001:10001"
        exec_id = host.exec_worker("/mech/m1/mechanism.py")
        sock = docker_client.api.exec_start(exec_id, socket=True)._sock
        sock.sendall(json.dumps({"op": "import"}).encode() + b"\n")
        reply = _frames(sock, b"\n")
        sock.close()
        assert json.loads(reply.split(b"\n")[0])["hooks"] == ["observe"]
        assert host.running()
    finally:
        host.remove()
    assert not host.running()
