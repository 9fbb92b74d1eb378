"""Invoke (RequestResponse) running real functions in crun sandboxes, driven by the aws CLI and boto3.

Contract (lambda-contract.md sections 1-3): a PER_TENANT function's environment belongs to one tenant for its whole
life and is reused warm only by that tenant; an ordinary function's environment is reused across invocations;
concurrent invocations get separate environments. Function errors answer 200 + X-Amz-Function-Error: Unhandled
with AWS's error payloads; request errors answer 4xx with AWS's wire shapes.

Environment identity: COUNTER_HANDLER returns a module-level counter (1 on a cold start) and
AWS_LAMBDA_LOG_STREAM_NAME, which Lambda makes unique per execution environment.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor


import e2e_support as s
import sandbox_support as sb
from sandbox_support import COUNTER_HANDLER, PER_TENANT, invoke, ok


from invoke_common import cli, expect_client_error, lam, name, raw_lam, server  # noqa: F401 (fixtures)
# --------------------------------------------------------------------------------------------------
# The seed walkthrough, with the real aws CLI

SEED_HANDLER = """
import json

def lambda_handler(event, context):
    print(context.tenant_id)
    return {'statusCode': 200, 'body': json.dumps({"tenant_id": context.tenant_id})}
"""


def test_seed_cli_invoke_with_tenant_id(server, lam, name, tmp_path):
    sb.create(lam, name, {"lambda_function.py": SEED_HANDLER}, Handler="lambda_function.lambda_handler",
              TenancyConfig=PER_TENANT)

    rc, out, err = cli(server, "lambda", "invoke", "--function-name", name, "--tenant-id", "1", "out.json", cwd=tmp_path)
    assert rc == 0, err
    assert out == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads((tmp_path / "out.json").read_text()) == {"statusCode": 200, "body": '{"tenant_id": "1"}'}

    # Step 2 of the walkthrough: without a tenant ID.
    rc, out, err = cli(server, "lambda", "invoke", "--function-name", name, "out2.json", cwd=tmp_path)
    assert rc != 0
    assert "An error occurred (InvalidParameterValueException) when calling the Invoke operation" in err
    assert s.TENANCY_REQUIRED in err
    assert not (tmp_path / "out2.json").exists() or (tmp_path / "out2.json").read_text() == ""


def test_seed_cli_invoke_with_payload_and_tail_log(server, lam, name, tmp_path):
    sb.create(lam, name, {"lambda_function.py": SEED_HANDLER}, Handler="lambda_function.lambda_handler",
              TenancyConfig=PER_TENANT)
    rc, out, err = cli(server, "lambda", "invoke", "--function-name", name, "--tenant-id", "blue tenant:7",
                       "--payload", '{"a": 1}', "--log-type", "Tail", "out.json", cwd=tmp_path)
    assert rc == 0, err
    assert out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in out
    log = base64.b64decode(out["LogResult"]).decode()
    assert "blue tenant:7\n" in log
    assert json.loads((tmp_path / "out.json").read_text())["body"] == '{"tenant_id": "blue tenant:7"}'


def test_boto3_invoke_with_tenant_id(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {"hello": "world"}, tenant="blue")
    assert result.status == 200
    assert result.executed_version == "$LATEST"
    assert result.function_error is None
    assert result.headers["content-type"].startswith("application/json")
    body = ok(result)
    assert body["tenant"] == "blue"
    assert body["event"] == {"hello": "world"}
    assert body["count"] == 1
    assert sb.STREAM_RE.match(body["stream"]), body["stream"]


def test_health_describes_the_crun_sandbox(server):
    health = sb.health(server)
    assert health["status"] == "ok"
    assert "crun" in health["sandbox"]


# --------------------------------------------------------------------------------------------------
# Environments: per tenant, reuse, concurrency


def test_twenty_tenants_get_twenty_environments(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    seen = {}
    for i in range(1, 21):
        body = ok(invoke(lam, name, {}, tenant=str(i)))
        assert body["tenant"] == str(i)
        assert body["count"] == 1, f"tenant {i} reused an environment: {body}"
        seen[str(i)] = body
    streams = {b["stream"] for b in seen.values()}
    identities = {b["identity"] for b in seen.values()}
    assert len(streams) == 20 and len(identities) == 20

    # The same tenant again: its own warm environment.
    again = ok(invoke(lam, name, {}, tenant="1"))
    assert again["count"] == 2
    assert again["stream"] == seen["1"]["stream"]
    assert again["identity"] == seen["1"]["identity"]
    again = ok(invoke(lam, name, {}, tenant="20"))
    assert (again["count"], again["stream"]) == (2, seen["20"]["stream"])


def test_ordinary_function_reuses_one_environment(lam, name):
    sb.create(lam, name, COUNTER_HANDLER)
    bodies = [ok(invoke(lam, name, {"i": i})) for i in range(3)]
    assert [b["count"] for b in bodies] == [1, 2, 3]
    assert len({b["stream"] for b in bodies}) == 1
    assert all(b["tenant"] is None for b in bodies)


def test_parallel_invokes_of_one_tenant_get_separate_environments(lam, name):
    code = COUNTER_HANDLER.replace(
        '        "event": event,',
        '        "event": event, "started": STARTED, "ended": time.time(),',
    ).replace("    COUNT += 1\n", "    COUNT += 1\n    global STARTED\n    STARTED = time.time()\n")
    sb.create(lam, name, code, TenancyConfig=PER_TENANT)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: invoke(lam, name, {"sleep": 0.5}, tenant="acme"), range(3)))
    bodies = [ok(r) for r in results]
    assert len({b["stream"] for b in bodies}) == 3, bodies
    assert [b["count"] for b in bodies] == [1, 1, 1]
    # They really ran at the same time.
    assert max(b["started"] for b in bodies) < min(b["ended"] for b in bodies), bodies

    # A later invocation of that tenant reuses one of the three.
    later = ok(invoke(lam, name, {}, tenant="acme"))
    assert later["count"] == 2
    assert later["stream"] in {b["stream"] for b in bodies}


def test_tenants_of_two_functions_never_share(lam, name):
    sb.create(lam, name + "-a", COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    sb.create(lam, name + "-b", COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    a = ok(invoke(lam, name + "-a", {}, tenant="same"))
    b = ok(invoke(lam, name + "-b", {}, tenant="same"))
    assert (a["count"], b["count"]) == (1, 1)
    assert a["stream"] != b["stream"]


def test_idle_environment_expires_after_keep_alive():
    with sb.running_server("isola-keepalive-", extra_args=["--keep-alive", "1"]) as srv:
        lam = sb.client(srv)
        sb.create(lam, "keepalive", COUNTER_HANDLER, TenancyConfig=PER_TENANT)
        first = ok(invoke(lam, "keepalive", {}, tenant="t"))
        assert ok(invoke(lam, "keepalive", {}, tenant="t"))["count"] == 2
        # The server reaps idle environments every 5 s, so wait keep-alive + one reaper period.
        time.sleep(6.5)
        after = ok(invoke(lam, "keepalive", {}, tenant="t"))
        assert after["count"] == 1, "the idle environment outlived --keep-alive 1"
        assert after["stream"] != first["stream"]


# --------------------------------------------------------------------------------------------------
# What the function sees

ENV_HANDLER = """
import os

def handler(event, context):
    remaining = context.get_remaining_time_in_millis()
    cc = context.client_context
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": str(context.memory_limit_in_mb),
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "tenant_id": context.tenant_id,
            "remaining": remaining,
            "client_context": None if cc is None else {"custom": cc.custom, "env": cc.env},
        },
    }
"""


def test_environment_variables_and_working_directory(lam, name):
    sb.create(lam, name, ENV_HANDLER, MemorySize=256, Timeout=7,
              Environment={"Variables": {"GREETING": "hello", "EMPTYISH": " "}})
    body = ok(invoke(lam, name, {}))
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == s.REGION
    assert env["AWS_DEFAULT_REGION"] == s.REGION
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert sb.STREAM_RE.match(env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["_HANDLER"] == "app.handler"
    assert env["GREETING"] == "hello"
    assert env["EMPTYISH"] == " "
    assert env["TZ"] == ":UTC"
    assert body["cwd"] == "/var/task"
    # Nothing about the tenant is an environment variable, and nothing leaks from the server's environment.
    assert not [k for k in env if "TENANT" in k.upper()]
    assert "ISOLA_BIN" not in env and "PYTEST_CURRENT_TEST" not in env


def test_context_object(lam, name):
    sb.create(lam, name, ENV_HANDLER, MemorySize=256, Timeout=7, TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {}, tenant="ctx-tenant")
    ctx = ok(result)["context"]
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["invoked_function_arn"] == s.function_arn(name)
    assert ctx["aws_request_id"] == result.request_id == result.headers["x-amzn-requestid"]
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert sb.STREAM_RE.match(ctx["log_stream_name"])
    assert ctx["tenant_id"] == "ctx-tenant"
    assert 0 < ctx["remaining"] <= 7000
    assert ctx["remaining"] > 5000  # the handler runs right away
    assert ctx["client_context"] is None

    # Every invocation has its own request id.
    second = invoke(lam, name, {}, tenant="ctx-tenant")
    assert ok(second)["context"]["aws_request_id"] == second.request_id != result.request_id


def test_client_context_reaches_the_handler(lam, name):
    sb.create(lam, name, ENV_HANDLER)
    client_context = {"custom": {"plan": "gold", "n": 3}, "env": {"locale": "ja_JP"},
                      "client": {"installation_id": "i-1", "app_title": "t", "app_version_name": "1",
                                 "app_version_code": "1", "app_package_name": "p"}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    ctx = ok(invoke(lam, name, {}, ClientContext=encoded))["context"]
    assert ctx["client_context"] == {"custom": {"plan": "gold", "n": 3}, "env": {"locale": "ja_JP"}}


# --------------------------------------------------------------------------------------------------
# Versions, aliases, updates

VERSIONED = COUNTER_HANDLER + """
CODE = "{code}"
_inner = handler
def handler(event, context):
    out = _inner(event, context)
    out["code"] = CODE
    out["arn"] = context.invoked_function_arn
    out["version_env"] = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    return out
"""


def test_qualifier_version_and_alias(lam, name):
    sb.create(lam, name, VERSIONED.replace("{code}", "v1"), TenancyConfig=PER_TENANT)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=sb.code_zip({"app.py": VERSIONED.replace("{code}", "v2")}))
    sb.wait_active(lam, name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    by_version = invoke(lam, name, {}, tenant="t", Qualifier="1")
    assert by_version.executed_version == "1"
    body = ok(by_version)
    assert (body["code"], body["arn"], body["version_env"]) == ("v1", s.function_arn(name, "1"), "1")

    by_alias = invoke(lam, name, {}, tenant="t", Qualifier="live")
    assert by_alias.executed_version == "1"
    body = ok(by_alias)
    assert (body["code"], body["arn"], body["version_env"]) == ("v1", s.function_arn(name, "live"), "1")

    by_arn = invoke(lam, s.function_arn(name, "live"), {}, tenant="t")
    assert by_arn.executed_version == "1" and ok(by_arn)["code"] == "v1"

    latest = invoke(lam, name, {}, tenant="t")
    assert latest.executed_version == "$LATEST"
    body = ok(latest)
    assert (body["code"], body["arn"], body["version_env"]) == ("v2", s.function_arn(name), "$LATEST")
    assert body["count"] == 1  # $LATEST and version 1 never share an environment


def test_update_function_code_then_invoke_runs_new_code(lam, name):
    sb.create(lam, name, VERSIONED.replace("{code}", "old"), TenancyConfig=PER_TENANT)
    first = ok(invoke(lam, name, {}, tenant="t"))
    assert (first["code"], first["count"]) == ("old", 1)
    assert ok(invoke(lam, name, {}, tenant="t"))["count"] == 2

    lam.update_function_code(FunctionName=name, ZipFile=sb.code_zip({"app.py": VERSIONED.replace("{code}", "new")}))
    sb.wait_active(lam, name)
    after = ok(invoke(lam, name, {}, tenant="t"))
    assert after["code"] == "new"
    assert after["count"] == 1 and after["stream"] != first["stream"]


def test_update_function_configuration_retires_old_environments(lam, name):
    code = COUNTER_HANDLER.replace('"event": event,', '"event": event, "var": os.environ.get("VAR"),')
    sb.create(lam, name, code, Environment={"Variables": {"VAR": "one"}})
    first = ok(invoke(lam, name, {}))
    assert first["var"] == "one"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"VAR": "two"}})
    sb.wait_active(lam, name)
    after = ok(invoke(lam, name, {}))
    assert after["var"] == "two"
    assert after["count"] == 1 and after["stream"] != first["stream"]


# --------------------------------------------------------------------------------------------------
# Payloads


def test_empty_payload_is_an_empty_object(lam, name):
    sb.create(lam, name, COUNTER_HANDLER)
    assert ok(invoke(lam, name))["event"] == {}
    assert ok(invoke(lam, name, b""))["event"] == {}


def test_json_payload_values_pass_through(lam, name):
    sb.create(lam, name, "def handler(event, context):\n    return event\n")
    for payload in ([1, 2, 3], "text", 42, None, {"nested": {"ü": "日本"}}):
        assert ok(invoke(lam, name, json.dumps(payload))) == payload


def test_non_json_payload_is_rejected(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    status, code, message = expect_client_error(
        lambda: lam.invoke(FunctionName=name, TenantId="t", Payload=b"not json{"), 400, "InvalidRequestContentException")
    assert message.startswith("Could not parse request body into json"), message


def test_request_payload_over_6mb_is_413(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    payload = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    expect_client_error(lambda: lam.invoke(FunctionName=name, TenantId="t", Payload=payload), 413,
                        "RequestEntityTooLargeException",
                        "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    # The function never ran.
    assert ok(invoke(lam, name, {}, tenant="t"))["count"] == 1


def test_request_payload_just_under_6mb_is_accepted(lam, name):
    sb.create(lam, name, "def handler(event, context):\n    return len(event['blob'])\n", MemorySize=512)
    blob = "y" * (6 * 1024 * 1024 - 1000)
    assert ok(invoke(lam, name, json.dumps({"blob": blob}))) == len(blob)


def test_response_over_6mb_is_function_response_size_too_large(lam, name):
    code = ("def handler(event, context):\n"
            "    return 'x' * event['n']\n")
    sb.create(lam, name, code, MemorySize=512, TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {"n": 6291556}, tenant="t")  # JSON-encoded: 6291558 bytes
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.json == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    # The tenant's next invocation works (on a fresh environment if the runtime did not survive the refusal).
    after = invoke(lam, name, {"n": 10}, tenant="t")
    assert after.function_error is None, f"the invocation after an oversized response failed: {after}"
    assert after.json == "x" * 10


def test_response_of_exactly_6mb_is_fine(lam, name):
    sb.create(lam, name, "def handler(event, context):\n    return 'x' * event['n']\n", MemorySize=512)
    fits = invoke(lam, name, {"n": 6 * 1024 * 1024 - 2})
    assert fits.function_error is None, fits
    assert len(fits.body) == 6 * 1024 * 1024
