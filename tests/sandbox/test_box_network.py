"""Case 15: the box has no network at all — only loopback exists."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

CONNECT = """
import socket
def attempt(host, port):
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__ + ":" + str(exc.errno)
"""


def test_only_loopback_interface_exists(probe) -> None:
    results, _ = probe("""
        results["interfaces"] = sorted(os.listdir("/sys/class/net"))
    """)
    assert results["interfaces"] == ["lo"]


def test_tcp_to_the_internet_fails(probe) -> None:
    results, _ = probe(CONNECT + """
results["tcp"] = [attempt("1.1.1.1", 443), attempt("8.8.8.8", 53)]
""")
    assert all(r != "connected" for r in results["tcp"]), results


def test_udp_to_the_internet_fails(probe) -> None:
    results, _ = probe("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("8.8.8.8", 53))
            results["udp"] = "sent"
        except OSError as exc:
            results["udp"] = exc.errno
    """)
    assert results["udp"] != "sent"


def test_dns_resolution_fails(probe) -> None:
    results, _ = probe("""
        import socket
        try:
            results["dns"] = socket.getaddrinfo("pypi.org", 443)[0][4][0]
        except OSError as exc:
            results["dns"] = "failed:" + type(exc).__name__
    """)
    assert results["dns"].startswith("failed:")


def test_bridge_gateway_is_unreachable(probe, docker_client) -> None:
    bridge = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = bridge.get("Gateway") or "172.17.0.1"
    results, _ = probe(CONNECT + f"""
results["gateway"] = [attempt({gateway!r}, 2375), attempt({gateway!r}, 22), attempt({gateway!r}, 80)]
""")
    assert all(r != "connected" for r in results["gateway"]), results


def test_cloud_metadata_address_is_unreachable(probe) -> None:
    results, _ = probe(CONNECT + """
results["metadata"] = attempt("169.254.169.254", 80)
""")
    assert results["metadata"] != "connected"


def test_loopback_works_inside_the_box(probe) -> None:
    results, _ = probe("""
        import socket
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=2)
        results["loopback"] = "ok"
        client.close(); server.close()
    """)
    assert results["loopback"] == "ok"
