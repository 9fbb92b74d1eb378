"""Prewarmed environments on the real sandbox: a new tenant's first invoke takes a never-used environment (no
Init Duration in its REPORT), the pool refills, every pooled environment logs its own INIT_START, and the usage
report charges the environment to the tenant that claimed it."""

from __future__ import annotations

import base64
import time

import e2e_support as s
import sandbox_support as sb
from invoke_common import lam, name, server  # noqa: F401  (fixtures)


def tail(result) -> str:
    return base64.b64decode(result.raw["LogResult"]).decode()


def prewarmed(server) -> int:
    for line in s.http_request(server.endpoint + "/metrics").body.decode().splitlines():
        if line.startswith('isola_environments{state="prewarmed"}'):
            return int(float(line.split()[-1]))
    return 0


def test_a_new_tenant_skips_the_cold_start(server, lam, name):
    sb.create(lam, name, sb.COUNTER_HANDLER, TenancyConfig=sb.PER_TENANT)
    first = sb.invoke(lam, name, {}, tenant="first", LogType="Tail")
    assert "Init Duration" in tail(first), "the version's first invoke has no pool yet"
    deadline = time.monotonic() + 20
    while prewarmed(server) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert prewarmed(server) >= 1
    claimed = sb.invoke(lam, name, {}, tenant="second", LogType="Tail")
    body = sb.ok(claimed)
    assert body["tenant"] == "second" and body["count"] == 1, "a never-used environment, now the second tenant's"
    assert "Init Duration" not in tail(claimed), "it did not wait for an init"
    again = sb.ok(sb.invoke(lam, name, {}, tenant="second"))
    assert again["stream"] == body["stream"] and again["count"] == 2
    # The first tenant never gets the second's environment.
    assert sb.ok(sb.invoke(lam, name, {}, tenant="first"))["stream"] != body["stream"]
    usage = s.signed_request(server.endpoint, "GET", "/isola/v1/usage", query={"function": name, "tenant": "second"}).json["usage"][0]
    assert usage["environmentsCreated"] == 1 and usage["coldStarts"] == 0 and usage["isolationChargeUsd"] > 0
