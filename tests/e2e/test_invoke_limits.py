"""Limits on Invoke, through boto3 and the aws CLI: what a Lambda user sees when a limit holds (429
TooManyRequestsException with a Reason), and that other tenants keep their warm environments meanwhile."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
import sandbox_support as sb
from sandbox_support import COUNTER_HANDLER, PER_TENANT, invoke, ok

def throttled(call) -> dict:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429, response
    assert response["Error"]["Code"] == "TooManyRequestsException", response
    assert response["ResponseMetadata"]["HTTPHeaders"].get("retry-after"), response
    return response


def test_a_noisy_tenant_is_held_at_its_cap_and_others_are_not():
    with sb.running_server("isola-limits-tenant-") as server:
        lam = sb.client(server)
        name = s.unique_name("noisy")
        sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT, Tags={"isola:max-tenant-concurrency": "1"})
        quiet_before = ok(invoke(lam, name, {}, tenant="quiet"))
        # COUNTER_HANDLER sleeps for event["sleep"] seconds: the noisy tenant holds its one slot meanwhile. The test
        # cannot see when that invocation is admitted, so it tries until the throttle shows (an attempt before the
        # admission legitimately runs).
        busy = threading.Thread(target=lambda: invoke(lam, name, {"sleep": 3}, tenant="noisy"))
        busy.start()
        response = None
        deadline = time.monotonic() + 2.5
        while response is None and time.monotonic() < deadline:
            try:
                lam.invoke(FunctionName=name, TenantId="noisy", Payload=b"{}")
                time.sleep(0.1)
            except ClientError as error:
                response = error.response
        assert response is not None, "the noisy tenant's second concurrent invocation was never throttled"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429, response
        assert response["Error"]["Code"] == "TooManyRequestsException", response
        assert response["ResponseMetadata"]["HTTPHeaders"].get("retry-after"), response
        assert response.get("Reason") == "TenantConcurrentInvocationLimitExceeded"
        assert "isola:max-tenant-concurrency" in response["Error"]["Message"]
        quiet_after = ok(invoke(lam, name, {}, tenant="quiet"))
        assert quiet_after["stream"] == quiet_before["stream"], "the quiet tenant kept its warm environment"
        busy.join()
        assert sb.health(server)["status"] == "ok"


def test_a_function_larger_than_the_memory_budget_is_throttled_with_the_reason():
    with sb.running_server("isola-limits-memory-", extra_args=["--memory-budget", "512"]) as server:
        lam = sb.client(server)
        name = s.unique_name("big")
        sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT, MemorySize=1024)
        response = throttled(lambda: lam.invoke(FunctionName=name, TenantId="a", Payload=b"{}"))
        assert "--memory-budget" in response["Error"]["Message"]
        rc, _, stderr = s.run_aws(server.endpoint, "lambda", "invoke", "--function-name", name, "--tenant-id", "a", "/dev/null")
        assert rc != 0 and "TooManyRequestsException" in stderr


def test_the_memory_budget_evicts_idle_environments_before_throttling():
    with sb.running_server("isola-limits-evict-", extra_args=["--memory-budget", "256"]) as server:
        lam = sb.client(server)
        name = s.unique_name("evict")
        sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT, MemorySize=128)
        first = ok(invoke(lam, name, {}, tenant="a"))
        ok(invoke(lam, name, {}, tenant="b"))
        ok(invoke(lam, name, {}, tenant="c"))  # the budget holds two: a, idle longest, makes room
        again = ok(invoke(lam, name, {}, tenant="a"))
        assert again["count"] == 1 and again["stream"] != first["stream"], "a's environment was evicted, a starts cold"
