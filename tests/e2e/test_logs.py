"""Logs: one stream per execution environment, the platform's lines in Text and JSON format, and the CloudWatch
Logs API driven by the aws CLI and boto3 (the seed walkthrough's check: one platform.initStart per tenant)."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import e2e_support as s
import sandbox_support as sb
from invoke_common import cli, isola, lam, name, server  # noqa: F401  (fixtures)

HANDLER = """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    print("printed by", context.tenant_id)
    logger.info("hello from %s", context.tenant_id)
    logger.info("first line\\nsecond line of one message")
    return {"tenant": context.tenant_id}
"""


# These tests count environments exactly; prewarmed ones (test_prewarm.py) would add one.
NO_POOL = {"isola:prewarm": "0"}


@pytest.fixture(scope="module")
def logs(server):
    return boto3.client("logs", endpoint_url=server.endpoint, region_name=s.REGION, aws_access_key_id=s.DUMMY_KEY,
                        aws_secret_access_key=s.DUMMY_SECRET, config=Config(retries={"max_attempts": 0}))


def filter_all(logs, group, pattern="", **params):
    events, token = [], None
    while True:
        kwargs = {"logGroupName": group, "filterPattern": pattern, **params}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def wait_events(logs, group, pattern, count, timeout=20.0):
    deadline = time.monotonic() + timeout
    events = []
    while time.monotonic() < deadline:
        try:
            events = filter_all(logs, group, pattern)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        if len(events) >= count:
            return events
        time.sleep(0.25)
    pytest.fail(f"{len(events)} events for {pattern!r} in {group} after {timeout}s, expected {count}")


def seed_loop(lam, fn, tenants=20):
    for tenant in range(1, tenants + 1):
        assert sb.ok(sb.invoke(lam, fn, {}, tenant=str(tenant))) == {"tenant": str(tenant)}


def test_json_format_one_init_start_per_tenant_and_one_tenant_per_stream(lam, logs, server, name):
    # Prewarmed environments off: each tenant's environment starts cold, so each report carries its init.
    sb.create(lam, name, HANDLER, TenancyConfig=sb.PER_TENANT, LoggingConfig={"LogFormat": "JSON"}, Tags=NO_POOL)
    seed_loop(lam, name)
    group = f"/aws/lambda/{name}"
    starts = wait_events(logs, group, "platform.initStart", 20)
    assert len(starts) == 20
    assert all(json.loads(e["message"])["type"] == "platform.initStart" for e in starts)
    # The aws CLI finds the same (the seed walkthrough's check).
    rc, out, err = cli(server, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "platform.initStart")
    assert rc == 0, err
    assert len(out["events"]) == len(starts)
    # Every platform.start names one tenant, and each stream (one environment) holds a single tenant.
    tenants_by_stream = defaultdict(set)
    for event in filter_all(logs, group, "platform.start"):
        record = json.loads(event["message"])
        if record["type"] == "platform.start":
            tenants_by_stream[event["logStreamName"]].add(record["record"]["tenantId"])
    assert len(tenants_by_stream) == 20 and all(len(t) == 1 for t in tenants_by_stream.values()), tenants_by_stream
    # The report carries the tenant and AWS's metrics.
    report = json.loads(wait_events(logs, group, '{ $.type = "platform.report" && $.record.tenantId = "3" }', 1)[0]["message"])
    metrics = report["record"]["metrics"]
    assert report["record"]["status"] == "success" and metrics["memorySizeMB"] == 128 and metrics["maxMemoryUsedMB"] > 0
    assert "initDurationMs" in metrics and metrics["billedDurationMs"] >= metrics["durationMs"]


def test_tenant_filter_returns_that_tenants_application_lines_only(lam, logs, name):
    sb.create(lam, name, HANDLER, TenancyConfig=sb.PER_TENANT, LoggingConfig={"LogFormat": "JSON"})
    seed_loop(lam, name, tenants=8)
    group = f"/aws/lambda/{name}"
    wait_events(logs, group, "platform.report", 8)
    lines = filter_all(logs, group, '{ $.tenantId = "7" }')
    assert lines, "tenant 7 logged"
    messages = [json.loads(e["message"]) for e in lines]
    assert all(m["tenantId"] == "7" and "type" not in m for m in messages), messages
    assert "hello from 7" in [m["message"] for m in messages]
    # A multi-line message is one event (awslambdaric's framed telemetry), not two.
    assert "first line\nsecond line of one message" in [m["message"] for m in messages]
    # The platform's records name the tenant inside `record`.
    platform = filter_all(logs, group, '{ $.record.tenantId = "7" }')
    assert {json.loads(e["message"])["type"] for e in platform} == {"platform.start", "platform.runtimeDone", "platform.report"}


def test_text_format_lines(lam, logs, name):
    sb.create(lam, name, HANDLER, TenancyConfig=sb.PER_TENANT, Tags=NO_POOL)
    seed_loop(lam, name, tenants=3)
    group = f"/aws/lambda/{name}"
    assert len(wait_events(logs, group, "INIT_START", 3)) == 3
    reports = wait_events(logs, group, "REPORT RequestId", 3)
    assert all("\tBilled Duration: " in e["message"] and "\tMax Memory Used: " in e["message"] for e in reports)
    assert len([e for e in reports if "Init Duration:" in e["message"]]) == 3
    printed = filter_all(logs, group, '"printed by 2"')
    assert len(printed) == 1 and printed[0]["message"] == "printed by 2\n"
    # `?` alternatives and `-` exclusions.
    assert len(filter_all(logs, group, '?"printed by 1" ?"printed by 3"')) == 2
    assert all("START" not in e["message"] for e in filter_all(logs, group, "RequestId -START"))


def test_streams_groups_events_and_retention(lam, logs, name):
    sb.create(lam, name, HANDLER, TenancyConfig=sb.PER_TENANT, Tags=NO_POOL)
    seed_loop(lam, name, tenants=2)
    group = f"/aws/lambda/{name}"
    wait_events(logs, group, "REPORT", 2)
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert len(streams) == 2 and all("/[$LATEST]" in st["logStreamName"] for st in streams)
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True)
    messages = [e["message"] for e in events["events"]]
    assert messages[0].startswith("INIT_START") and any(m.startswith("START RequestId") for m in messages)
    assert events["nextForwardToken"].startswith("f/") and events["nextBackwardToken"].startswith("b/")
    again = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"], nextToken=events["nextForwardToken"])
    assert again["events"] == []
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 14
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]


def test_logs_api_errors(logs, name):
    group = f"/isola/test/{name}"
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == "The specified log group does not exist."
    logs.create_log_group(logGroupName=group)
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=group)
    assert err.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as err:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.x = ")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.delete_log_group(logGroupName=group)
    with pytest.raises(ClientError) as err:
        logs.delete_log_group(logGroupName=group)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"



def test_isola_logs_shows_one_tenants_lines_and_follows(lam, logs, server, name):
    import subprocess
    sb.create(lam, name, HANDLER, TenancyConfig=sb.PER_TENANT)
    seed_loop(lam, name, tenants=3)
    wait_events(logs, f"/aws/lambda/{name}", "REPORT", 3)
    out = isola("logs", name, "--tenant", "2", "--endpoint", server.endpoint)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("20")]  # (a multi-line message continues below)
    assert any("printed by 2" in line for line in lines) and not any("printed by 1" in line or "printed by 3" in line for line in lines)
    assert all("  2  " in line for line in lines), lines  # the tenant column
    assert any("INIT_START Runtime Version: python:3.11.isola" in line for line in lines) and any("REPORT RequestId" in line for line in lines)
    # --follow prints lines written after it started.
    follower = subprocess.Popen([str(s.ISOLA_BIN), "logs", name, "--follow", "--since", "1s", "--endpoint", server.endpoint],
                                stdout=subprocess.PIPE, text=True, env={**s.cli_env(), "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(1.5)
        sb.ok(sb.invoke(lam, name, {}, tenant="late"))
        wait_events(logs, f"/aws/lambda/{name}", '"printed by late"', 1)
        time.sleep(2.5)  # the follower polls every second
    finally:
        follower.terminate()
        seen, _ = follower.communicate(timeout=10)
    assert "printed by late" in seen, seen
