"""Per-tenant usage and cost: the engine meters every (function, tenant); the report prices it with AWS's list
prices (requests, GB-seconds, and the tenant-isolation charge per GB of each environment created)."""

from __future__ import annotations

import base64
import re

import pytest

import e2e_support as s
import sandbox_support as sb
from invoke_common import isola, lam, name, server  # noqa: F401  (fixtures)

REQUESTS_PER_MILLION = 0.20
GB_SECOND = 0.0000166667
ISOLATION_PER_GB = 0.000167


def usage(server, **query):
    resp = s.signed_request(server.endpoint, "GET", "/isola/v1/usage", query=query or None)
    assert resp.status == 200, resp.body
    return resp.json


def billed_ms(result) -> int:
    log = base64.b64decode(result.raw["LogResult"]).decode()
    return int(re.search(r"Billed Duration: (\d+) ms", log).group(1))


def test_twenty_tenants_twenty_rows_priced_by_hand(server, lam, name):
    # No prewarmed environments here: every tenant's one environment is its own cold start (test_prewarm.py
    # covers the claimed ones).
    sb.create(lam, name, sb.COUNTER_HANDLER, TenancyConfig=sb.PER_TENANT, MemorySize=256, Tags={"isola:prewarm": "0"})
    billed = {}
    for tenant in range(1, 21):
        results = [sb.invoke(lam, name, {}, tenant=str(tenant), LogType="Tail") for _ in range(2 if tenant <= 5 else 1)]
        for result in results:
            sb.ok(result)
        billed[str(tenant)] = sum(billed_ms(r) for r in results)
    report = usage(server, function=name)
    rows = {row["tenant"]: row for row in report["usage"]}
    assert len(rows) == 20
    assert report["prices"] == {"requestsPerMillionUsd": REQUESTS_PER_MILLION, "computePerGbSecondUsd": GB_SECOND, "isolationPerGbEnvironmentUsd": ISOLATION_PER_GB}
    for tenant, row in rows.items():
        invocations = 2 if int(tenant) <= 5 else 1
        assert (row["function"], row["invocations"], row["errors"], row["throttles"]) == (name, invocations, 0, 0), row
        assert row["coldStarts"] == 1 and row["environmentsCreated"] == 1, row
        gb_seconds = billed[tenant] / 1000 * 0.25
        assert row["billedGbSeconds"] == pytest.approx(gb_seconds, rel=1e-9), row
        assert row["requestChargeUsd"] == pytest.approx(invocations * REQUESTS_PER_MILLION / 1_000_000, rel=1e-9)
        assert row["computeChargeUsd"] == pytest.approx(gb_seconds * GB_SECOND, rel=1e-9)
        assert row["isolationChargeUsd"] == pytest.approx(1 * 0.25 * ISOLATION_PER_GB, rel=1e-9)
        assert row["totalChargeUsd"] == pytest.approx(row["requestChargeUsd"] + row["computeChargeUsd"] + row["isolationChargeUsd"], rel=1e-9)
    totals = [row["totalChargeUsd"] for row in report["usage"]]
    assert totals == sorted(totals, reverse=True), "most expensive first"
    assert [row["tenant"] for row in usage(server, function=name, tenant="7")["usage"]] == ["7"]
    # The CLI's table: a header and one row per tenant.
    out = isola("usage", "--endpoint", server.endpoint, "--function-name", name)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith(name)]
    assert len(lines) == 20 and out.stdout.startswith("FUNCTION"), out.stdout


def test_throttles_and_errors_are_metered_and_usage_survives_a_restart(server, lam, name):
    sb.create(lam, name, "def handler(event, context):\n    raise ValueError('no')\n", TenancyConfig=sb.PER_TENANT)
    sb.invoke(lam, name, {}, tenant="t")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # One request (boto3 would retry a 429 on its own).
    resp = s.signed_request(server.endpoint, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}", headers={"X-Amz-Tenant-Id": "t"})
    assert resp.status == 429, resp.body
    row = usage(server, function=name)["usage"][0]
    assert (row["invocations"], row["errors"], row["throttles"]) == (1, 1, 1), row
    server.stop()
    server.start(keep_ports=True)
    assert usage(server, function=name)["usage"][0] == row


def test_bad_times_are_refused(server):
    resp = s.signed_request(server.endpoint, "GET", "/isola/v1/usage", query={"since": "yesterday"})
    assert resp.status == 400 and resp.error_type == "ValidationException", resp.body
