"""Client connections on the API and gateway ports: an idle one, or one stuck halfway through a request, is closed
after --idle-timeout; one whose request is being answered is never cut, however long the function runs."""
from __future__ import annotations

import socket
import time

import sandbox_support as sb

SLOW = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0), "tenant": context.tenant_id}
"""


def closed_within(port: int, seconds: float, send: bytes = b"") -> bool:
    """Opens a connection (optionally sends `send`), then waits for the server to close it without an answer."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        if send:
            conn.sendall(send)
        conn.settimeout(seconds)
        try:
            return conn.recv(4096) == b""
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True


def test_idle_connections_close_and_answers_in_progress_are_never_cut():
    with sb.running_server("isola-connections-", extra_args=["--idle-timeout", "1"]) as server:
        lam = sb.client(server)
        sb.create(lam, "slow", SLOW, Timeout=10, TenancyConfig=sb.PER_TENANT)
        # The function runs four times the idle timeout on one connection that sends nothing meanwhile.
        started = time.monotonic()
        assert sb.ok(sb.invoke(lam, "slow", {"sleep": 4}, tenant="t1")) == {"slept": 4, "tenant": "t1"}
        assert time.monotonic() - started >= 4
        for port in (server.port, server.gateway_port):
            assert closed_within(port, 5), f"an idle connection to port {port} stays open"
            assert closed_within(port, 5, b"GET /health HTTP/1.1\r\nHost: x\r\n"), f"a half-sent request holds port {port}"
        # The same client goes on working on fresh connections.
        assert sb.ok(sb.invoke(lam, "slow", {}, tenant="t1")) == {"slept": 0, "tenant": "t1"}
