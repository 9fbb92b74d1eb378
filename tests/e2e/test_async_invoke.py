"""Asynchronous (Event) invocations, driven by boto3 and the aws CLI: 202 once the event is durable, delivery to
the tenant's own environment, retries with backoff after function errors, the event invoke configuration API,
failure records (an API and the server log), and kill -9 with events queued and in flight."""

from __future__ import annotations

import json
import time

import pytest

import e2e_support as s
import sandbox_support as sb
from invoke_common import cli, expect_client_error, name  # noqa: F401  (fixtures)

# Records every event it sees in a module global (one environment keeps it while it lives); can sleep or fail.
RECORDER = """
import time
SEEN = []

def handler(event, context):
    if event.get("op") == "read":
        return {"seen": SEEN, "tenant": context.tenant_id}
    SEEN.append({"n": event.get("n"), "id": context.aws_request_id, "tenant": context.tenant_id, "at": time.time()})
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise RuntimeError(f"failing on purpose: {event.get('n')}")
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def server():
    # Retries one second apart (Lambda waits a minute): the suite must not take minutes.
    with sb.running_server("isola-async-", extra_args=["--event-retry-delay", "1"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def lam(server):
    return sb.client(server)


def send_event(lam, fn, event, tenant=None, **params):
    kwargs = {"FunctionName": fn, "InvocationType": "Event", "Payload": json.dumps(event).encode(), **params}
    if tenant is not None:
        kwargs["TenantId"] = tenant
    resp = lam.invoke(**kwargs)
    assert resp["StatusCode"] == 202, resp
    assert resp["Payload"].read() == b""
    return resp["ResponseMetadata"]["RequestId"]


def read_seen(lam, fn, tenant, timeout=30.0, until=lambda seen: True):
    """The recorder's list, read with a synchronous invoke (retried while the one environment is busy)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = sb.ok(sb.invoke(lam, fn, {"op": "read"}, tenant=tenant))["seen"]
            if until(seen):
                return seen
        except Exception as error:  # 429 while the environment runs an attempt
            if "TooManyRequests" not in str(error):
                raise
        time.sleep(0.2)
    pytest.fail(f"condition not reached within {timeout}s; last seen: {seen}")


def failed_events(server, function=None):
    query = {"FunctionName": function} if function else None
    resp = s.signed_request(server.endpoint, "GET", "/isola/v1/failed-events", query=query)
    assert resp.status == 200, resp.body
    return resp.json["FailedEvents"]


def queued(server) -> int:
    # A generous timeout: right after a restart the server is busy starting every queued event's environment.
    resp = s.http_request(server.endpoint + "/health", timeout=30)
    assert resp.status == 200, resp.body
    return int(resp.json["asyncQueued"])


def wait_for(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} not reached within {timeout}s")


def recorder(lam, fn, **params):
    sb.create(lam, fn, RECORDER, TenancyConfig=sb.PER_TENANT, **params)
    # One environment per tenant at a time, so the recorder's list sees every delivery.
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=1)


# --------------------------------------------------------------------------------------------------
# Delivery


def test_event_returns_202_and_runs_once_in_the_tenants_environment(lam, server, name):
    recorder(lam, name)
    request_id = send_event(lam, name, {"n": 1}, tenant="blue")
    seen = read_seen(lam, name, "blue", until=lambda seen: len(seen) >= 1)
    assert seen == [{"n": 1, "id": request_id, "tenant": "blue", "at": seen[0]["at"]}]
    # Another tenant's read runs in another environment and saw nothing.
    assert read_seen(lam, name, "green") == []
    wait_for(lambda: queued(server) == 0, what="an empty queue")
    assert failed_events(server, name) == []


def test_aws_cli_event_invoke_with_and_without_a_tenant(lam, server, name, tmp_path):
    recorder(lam, name)
    rc, out, err = cli(server, "lambda", "invoke", "--function-name", name, "--invocation-type", "Event", "--tenant-id", "cli-1",
                       "--payload", '{"n": 5}', "out.json", cwd=tmp_path)
    assert rc == 0, err
    assert out == {"StatusCode": 202}
    read_seen(lam, name, "cli-1", until=lambda seen: [e["n"] for e in seen] == [5])
    rc, out, err = cli(server, "lambda", "invoke", "--function-name", name, "--invocation-type", "Event", "out2.json", cwd=tmp_path)
    assert rc != 0
    # (The CLI adds "(reached max retries: 0)" to errors of Event invokes.)
    assert "An error occurred (InvalidParameterValueException) when calling the Invoke operation" in err
    assert ("The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your request and try "
            "again.") in err


def test_event_payload_limit_is_1_mb(lam, server, name):
    recorder(lam, name)
    big = json.dumps({"pad": "x" * (1_048_576 + 10)}).encode()
    expect_client_error(
        lambda: lam.invoke(FunctionName=name, InvocationType="Event", TenantId="t", Payload=big),
        413, "RequestEntityTooLargeException", "Request must be smaller than 1048576 bytes for the InvokeFunction operation",
    )
    assert queued(server) == 0


def test_throttled_events_wait_without_spending_attempts(lam, server, name):
    recorder(lam, name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    # Reserved concurrency 1: five events at once are mostly throttled, yet every one runs exactly once.
    ids = [send_event(lam, name, {"n": n, "sleep": 0.2}, tenant="busy") for n in range(5)]
    seen = read_seen(lam, name, "busy", until=lambda seen: len(seen) >= 5)
    assert sorted(e["id"] for e in seen) == sorted(ids)
    wait_for(lambda: queued(server) == 0, what="an empty queue")
    assert failed_events(server, name) == []


# --------------------------------------------------------------------------------------------------
# Retries and failure records


def test_a_failing_event_is_retried_with_backoff_then_recorded(lam, server, name):
    recorder(lam, name)
    config = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert config["MaximumRetryAttempts"] == 1 and config["MaximumEventAgeInSeconds"] == 21600
    request_id = send_event(lam, name, {"n": 7, "fail": True}, tenant="red")
    failed = wait_for(lambda: failed_events(server, name), what="a failure record")
    assert len(failed) == 1
    record = failed[0]
    assert record["RequestId"] == request_id and record["TenantId"] == "red" and record["Qualifier"] == "$LATEST"
    assert record["Attempts"] == 2 and record["Reason"] == "RetriesExhausted" and record["LastErrorType"] == "RuntimeError"
    assert json.loads(record["Payload"]) == {"n": 7, "fail": True}
    # Both attempts ran in red's environment with the same request id, the retry at least --event-retry-delay later.
    seen = read_seen(lam, name, "red", until=lambda seen: len(seen) >= 2)
    assert [e["id"] for e in seen] == [request_id, request_id]
    assert seen[1]["at"] - seen[0]["at"] >= 0.9
    assert queued(server) == 0
    assert "asynchronous invocation failed for good" in server.log_text()


def test_default_policy_retries_twice(lam, server, name):
    recorder(lam, name)
    send_event(lam, name, {"n": 8, "fail": True}, tenant="red")
    failed = wait_for(lambda: failed_events(server, name), timeout=45, what="a failure record")
    assert failed[0]["Attempts"] == 3 and failed[0]["Reason"] == "RetriesExhausted"


def test_events_of_a_deleted_function_are_recorded(lam, server, name):
    recorder(lam, name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    send_event(lam, name, {"n": 9, "fail": True}, tenant="gone")
    # The first attempt fails; the function is deleted before the retry.
    read_seen(lam, name, "gone", until=lambda seen: len(seen) >= 1)
    lam.delete_function(FunctionName=name)
    failed = wait_for(lambda: failed_events(server, name), what="a failure record")
    assert failed[0]["Reason"] == "FunctionNotFound" and failed[0]["Attempts"] == 1


# --------------------------------------------------------------------------------------------------
# The event invoke configuration API


def test_event_invoke_config_api(lam, server, name):
    recorder(lam, name)
    arn = s.function_arn(name)
    expect_client_error(lambda: lam.get_function_event_invoke_config(FunctionName=name), 404, "ResourceNotFoundException",
                        f"The function {arn}:$LATEST doesn't have an EventInvokeConfig")
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60)
    assert put["FunctionArn"] == f"{arn}:$LATEST"
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (0, 60)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 120)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 120)
    lam.publish_version(FunctionName=name)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=2)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{arn}:$LATEST", f"{arn}:1"]
    lam.delete_function_event_invoke_config(FunctionName=name)
    expect_client_error(lambda: lam.get_function_event_invoke_config(FunctionName=name), 404, "ResourceNotFoundException")
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1


def test_event_invoke_config_validation(server, name, lam):
    recorder(lam, name)
    raw = sb.client(server, validate=False)
    expect_client_error(
        lambda: raw.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3), 400, "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
    )
    expect_client_error(
        lambda: raw.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=59), 400, "ValidationException",
        "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
    )
    got = expect_client_error(
        lambda: raw.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}}),
        400, "InvalidParameterValueException",
    )
    assert "destinations" in got[2]
    expect_client_error(lambda: raw.get_function_event_invoke_config(FunctionName=name), 404, "ResourceNotFoundException")
    expect_client_error(lambda: raw.put_function_event_invoke_config(FunctionName="no-such-fn", MaximumRetryAttempts=1),
                        404, "ResourceNotFoundException")


# --------------------------------------------------------------------------------------------------
# kill -9 with events queued and in flight


def test_kill_9_loses_no_event():
    from test_sandbox_lifecycle import leftovers

    with sb.running_server("isola-async-kill-", extra_args=["--event-retry-delay", "1"]) as server:
        lam = sb.client(server)
        sb.create(lam, "fails", RECORDER, TenancyConfig=sb.PER_TENANT)
        lam.put_function_event_invoke_config(FunctionName="fails", MaximumRetryAttempts=0)
        lam.put_function_concurrency(FunctionName="fails", ReservedConcurrentExecutions=2)
        sb.create(lam, "works", RECORDER, TenancyConfig=sb.PER_TENANT)
        lam.put_function_concurrency(FunctionName="works", ReservedConcurrentExecutions=2)
        failing = [send_event(lam, "fails", {"n": n, "sleep": 1.0, "fail": True}, tenant=f"t{n % 3}") for n in range(8)]
        working = [send_event(lam, "works", {"n": n, "sleep": 0.5}, tenant=f"t{n % 3}") for n in range(6)]
        time.sleep(1.2)  # some attempts are in flight now, most events still queued
        assert queued(server) > 0
        server.kill()
        server.start(keep_ports=True)
        wait_for(lambda: queued(server) == 0, timeout=90, what="every event delivered or recorded")
        # Every failing event is recorded exactly once, after its one attempt (run after the restart, or cut short
        # by the kill); no working event is recorded, so each was delivered.
        records = failed_events(server)
        assert sorted(r["RequestId"] for r in records) == sorted(failing)
        assert all(r["Attempts"] == 1 and r["Reason"] == "RetriesExhausted" for r in records), records
        assert {r["LastErrorType"] for r in records} <= {"RuntimeError", "Isola.AttemptInterrupted"}, records
        assert not set(working) & {r["RequestId"] for r in records}
        assert server.stop() == 0
        left = leftovers(server.data_dir)
        assert left["containers"] == [] and left["bundles"] == [] and left["mounts"] == [], left
