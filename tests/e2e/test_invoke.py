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
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
import sandbox_support as sb
from sandbox_support import COUNTER_HANDLER, PER_TENANT, invoke, ok


@pytest.fixture(scope="module")
def server():
    with sb.running_server("isola-invoke-") as srv:
        yield srv


@pytest.fixture(scope="module")
def lam(server):
    return sb.client(server)


@pytest.fixture(scope="module")
def raw_lam(server):
    """No client-side validation: the server's own validation answers."""
    return sb.client(server, validate=False)


@pytest.fixture
def name(request):
    return s.unique_name(request.node.name.split("[")[0].removeprefix("test_").replace("_", "-"))


def cli(server, *args, cwd=None):
    if s.AWS_CLI is None:
        pytest.fail("aws CLI not found: set AWS_CLI or put aws on PATH", pytrace=False)
    return s.run_aws(server.endpoint, *args, cwd=cwd)


def expect_client_error(call, status, code, message=None):
    with pytest.raises(ClientError) as err:
        call()
    got = s.client_error(err.value)
    assert got[:2] == (status, code), got
    if message is not None:
        assert got[2] == message
    return got


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


# --------------------------------------------------------------------------------------------------
# Function errors

ERRORS_HANDLER = """
import os, signal, time
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    action = event.get("action")
    if action == "raise":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(event["code"])
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "print":
        print(event["text"])
    return {"count": COUNT, "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
"""


@pytest.fixture
def errors_fn(lam, name):
    sb.create(lam, name, ERRORS_HANDLER, Timeout=1, TenancyConfig=PER_TENANT)
    return name


def test_handler_exception(lam, errors_fn):
    result = invoke(lam, errors_fn, {"action": "raise"}, tenant="t")
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.headers.get("x-amz-function-error") == "Unhandled"
    body = result.json
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == result.request_id
    assert body["stackTrace"] == [
        '  File "/var/task/app.py", line 10, in handler\n    raise ValueError("boom")\n'
    ]
    # A handled exception does not end the environment.
    after = ok(invoke(lam, errors_fn, {}, tenant="t"))
    assert after["count"] == 2


def test_tail_log(lam, errors_fn):
    result = invoke(lam, errors_fn, {"action": "print", "text": "hello from the handler"}, tenant="t", LogType="Tail")
    ok(result)
    rid = result.request_id
    lines = result.log.splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert "hello from the handler" in lines
    assert f"END RequestId: {rid}" in lines
    report = lines[-1]
    assert report.startswith(f"REPORT RequestId: {rid}\tDuration: ")
    assert re.search(r"\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB", report), report
    assert "\tInit Duration: " in report  # a cold start
    assert lines.index(f"END RequestId: {rid}") > lines.index("hello from the handler")

    warm = invoke(lam, errors_fn, {"action": "print", "text": "second"}, tenant="t", LogType="Tail")
    assert "\tInit Duration: " not in warm.log.splitlines()[-1]
    assert "hello from the handler" not in warm.log  # only this invocation's lines

    # Without LogType=Tail there is no log.
    plain = invoke(lam, errors_fn, {}, tenant="t")
    assert plain.log is None and "x-amz-log-result" not in plain.headers


def test_tail_log_is_the_last_4kb(lam, errors_fn):
    result = invoke(lam, errors_fn, {"action": "print", "text": "z" * 10000}, tenant="t", LogType="Tail")
    ok(result)
    raw = base64.b64decode(result.raw["LogResult"])
    assert len(raw) <= 4096
    assert raw.decode().rstrip("\n").splitlines()[-1].startswith(f"REPORT RequestId: {result.request_id}")


def test_timeout_then_fresh_environment(lam, errors_fn):
    first = ok(invoke(lam, errors_fn, {}, tenant="t"))
    started = time.monotonic()
    result = invoke(lam, errors_fn, {"action": "sleep", "seconds": 5}, tenant="t")
    elapsed = time.monotonic() - started
    assert result.status == 200 and result.function_error == "Unhandled"
    assert result.json == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert elapsed < 3.5
    after = ok(invoke(lam, errors_fn, {}, tenant="t"))
    assert after["count"] == 1 and after["stream"] != first["stream"]


def test_timeout_log_says_timed_out(lam, errors_fn):
    result = invoke(lam, errors_fn, {"action": "sleep", "seconds": 5}, tenant="t", LogType="Tail")
    assert result.json["errorType"] == "Sandbox.Timedout"
    report = result.log.rstrip("\n").splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {result.request_id}\tDuration: ")
    assert report.rstrip("\t").endswith("\tStatus: timeout"), report


def test_runtime_exit_status(lam, errors_fn):
    first = ok(invoke(lam, errors_fn, {}, tenant="t"))
    result = invoke(lam, errors_fn, {"action": "exit", "code": 3}, tenant="t")
    assert result.status == 200 and result.function_error == "Unhandled"
    assert result.json == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 3",
    }
    after = ok(invoke(lam, errors_fn, {}, tenant="t"))
    assert after["count"] == 1 and after["stream"] != first["stream"]


def test_runtime_killed_by_signal(lam, errors_fn):
    result = invoke(lam, errors_fn, {"action": "sigkill"}, tenant="t")
    assert result.function_error == "Unhandled"
    assert result.json == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed",
    }
    assert ok(invoke(lam, errors_fn, {}, tenant="t"))["count"] == 1


def test_runtime_exit_in_one_tenant_leaves_another_warm(lam, errors_fn):
    other = ok(invoke(lam, errors_fn, {}, tenant="other"))
    assert invoke(lam, errors_fn, {"action": "exit", "code": 1}, tenant="t").json["errorType"] == "Runtime.ExitError"
    again = ok(invoke(lam, errors_fn, {}, tenant="other"))
    assert (again["count"], again["stream"]) == (2, other["stream"])


def test_runtime_that_exits_while_idle_is_not_reused(lam, name):
    """The runtime dies between invocations (a background thread exits the process after the response).

    The environment is dead: the next invocation must get a fresh one, not an error.
    """
    code = COUNTER_HANDLER + (
        "\nimport threading\n_inner = handler\n"
        "def handler(event, context):\n"
        "    if event.get('die_later'):\n"
        "        threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()\n"
        "    return _inner(event, context)\n"
    )
    sb.create(lam, name, code, TenancyConfig=PER_TENANT)
    first = ok(invoke(lam, name, {"die_later": True}, tenant="t"))
    time.sleep(1)
    after = invoke(lam, name, {}, tenant="t")
    assert after.function_error is None, f"the next invocation was sent to the dead environment: {after}"
    assert after.json["count"] == 1 and after.json["stream"] != first["stream"]


@pytest.mark.parametrize("handler, error_type, message", [
    ("app.nosuch", "Runtime.HandlerNotFound", "Handler 'nosuch' missing on module 'app'"),
    ("nomod.handler", "Runtime.ImportModuleError", "Unable to import module 'nomod': No module named 'nomod'"),
])
def test_bad_handler(lam, name, handler, error_type, message):
    sb.create(lam, name, COUNTER_HANDLER, Handler=handler, TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {}, tenant="t")
    assert result.status == 200 and result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == error_type
    assert body["errorMessage"] == message


def test_syntax_error_in_module(lam, name):
    sb.create(lam, name, "def handler(event, context)\n    return 1\n", TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {}, tenant="t")
    assert result.function_error == "Unhandled"
    assert result.json["errorType"] == "Runtime.UserCodeSyntaxError"


def test_oom_is_reported(lam, name):
    code = "def handler(event, context):\n    hog = [bytearray(1 << 20) for _ in range(400)]\n    return len(hog)\n"
    sb.create(lam, name, code, MemorySize=128, TenancyConfig=PER_TENANT)
    result = invoke(lam, name, {}, tenant="t", LogType="Tail")
    assert result.status == 200 and result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] in ("Runtime.ExitError", "Runtime.OutOfMemory"), body
    if body["errorType"] == "Runtime.ExitError":
        assert body["errorMessage"] == f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed"
    report = result.log.rstrip("\n").splitlines()[-1]
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    # It was killed at its 128 MB limit: the REPORT line must say so.
    assert used >= 100, report


# --------------------------------------------------------------------------------------------------
# Tenancy errors on Invoke


def test_per_tenant_function_without_tenant(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    expect_client_error(lambda: lam.invoke(FunctionName=name, Payload=b"{}"), 400,
                        "InvalidParameterValueException", s.TENANCY_REQUIRED)


def test_ordinary_function_with_tenant(lam, name):
    sb.create(lam, name, COUNTER_HANDLER)
    expect_client_error(lambda: lam.invoke(FunctionName=name, TenantId="blue", Payload=b"{}"), 400,
                        "InvalidParameterValueException", s.TENANCY_FORBIDDEN)
    # The function did not run.
    assert ok(invoke(lam, name, {}))["count"] == 1


PATTERN_MESSAGE = ("1 validation error detected: Value '{v}' at 'tenantId' failed to satisfy constraint: "
                   "Member must satisfy regular expression pattern: [a-zA-Z0-9\\._:\\/=+\\-@ ]+")
LENGTH_MESSAGE = ("1 validation error detected: Value '{v}' at 'tenantId' failed to satisfy constraint: "
                  "Member must have length less than or equal to 256")


@pytest.mark.parametrize("tenant, template", [("a*b", PATTERN_MESSAGE), ("x" * 257, LENGTH_MESSAGE)])
def test_invalid_tenant_id(server, lam, raw_lam, name, tenant, template):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    expect_client_error(lambda: raw_lam.invoke(FunctionName=name, TenantId=tenant, Payload=b"{}"), 400,
                        "ValidationException", template.format(v=tenant))
    resp = s.signed_request(server.endpoint, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}",
                            headers={"X-Amz-Tenant-Id": tenant})
    assert resp.status == 400 and resp.error_type == "ValidationException"


def test_longest_and_oddest_valid_tenant_ids_run(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    for tenant in ("x" * 256, "a.b_c:d/e=f+g-h@i j"):
        body = ok(invoke(lam, name, {}, tenant=tenant))
        assert body["tenant"] == tenant and body["count"] == 1


def test_dry_run_with_tenant_is_204_and_runs_nothing(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    resp = lam.invoke(FunctionName=name, TenantId="t", InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    assert ok(invoke(lam, name, {}, tenant="t"))["count"] == 1


# --------------------------------------------------------------------------------------------------
# provided.al2023: a custom runtime speaking the Runtime API itself

SH_CURL_BOOTSTRAP = r"""#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  curl -sS -D /tmp/headers -o /tmp/event "$API/invocation/next"
  ID=$(grep -i '^lambda-runtime-aws-request-id:' /tmp/headers | cut -d' ' -f2 | tr -d '\r\n')
  TENANT=$(grep -i '^lambda-runtime-aws-tenant-id:' /tmp/headers | cut -d' ' -f2- | tr -d '\r\n' || true)
  printf '{"runtime":"sh+curl","requestId":"%s","tenant":"%s","handler":"%s","execEnv":"%s","event":%s}' \
    "$ID" "$TENANT" "${_HANDLER:-}" "${AWS_EXECUTION_ENV:-}" "$(cat /tmp/event)" > /tmp/response
  curl -sS -X POST -H 'Content-Type: application/json' --data-binary @/tmp/response \
    "$API/invocation/$ID/response" > /dev/null
done
"""

PYTHON_BOOTSTRAP = r"""#!/usr/bin/python3
import json, os, urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
COUNT = 0
while True:
    with urllib.request.urlopen(f"{API}/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        tenant = r.headers.get("Lambda-Runtime-Aws-Tenant-Id", "")
        arn = r.headers.get("Lambda-Runtime-Invoked-Function-Arn")
        deadline = r.headers.get("Lambda-Runtime-Deadline-Ms")
        event = json.loads(r.read() or b"null")
    COUNT += 1
    if isinstance(event, dict) and event.get("fail"):
        body = json.dumps({"errorMessage": "custom failure", "errorType": "Custom.Failure"}).encode()
        req = urllib.request.Request(f"{API}/invocation/{rid}/error", data=body, method="POST",
                                     headers={"Lambda-Runtime-Function-Error-Type": "Custom.Failure"})
    else:
        body = json.dumps({"runtime": "python3-urllib", "requestId": rid, "tenant": tenant, "arn": arn,
                           "deadline": deadline, "count": COUNT, "handler": os.environ.get("_HANDLER", ""),
                           "execEnv": os.environ.get("AWS_EXECUTION_ENV", ""), "event": event}).encode()
        req = urllib.request.Request(f"{API}/invocation/{rid}/response", data=body, method="POST")
    urllib.request.urlopen(req).read()
"""


@pytest.mark.parametrize("kind", ["sh+curl", "python3-urllib"])
def test_provided_al2023_bootstrap(lam, name, kind):
    if kind == "sh+curl" and not Path("/usr/bin/curl").exists():
        pytest.skip("no /usr/bin/curl on this host, so none inside the sandbox")
    bootstrap = SH_CURL_BOOTSTRAP if kind == "sh+curl" else PYTHON_BOOTSTRAP
    sb.create(lam, name, {"bootstrap": bootstrap}, executable=("bootstrap",), Runtime="provided.al2023",
              Handler="my.handler", TenancyConfig=PER_TENANT)
    started = time.time()
    result = invoke(lam, name, {"k": [1, 2]}, tenant="tenant-9")
    body = ok(result)
    assert body["runtime"] == kind
    assert body["requestId"] == result.request_id
    assert body["tenant"] == "tenant-9"
    assert body["event"] == {"k": [1, 2]}
    assert body["handler"] == "my.handler"
    assert body["execEnv"] == ""  # AWS_EXECUTION_ENV is not set for OS-only runtimes
    assert result.executed_version == "$LATEST"
    if kind == "python3-urllib":
        assert body["arn"] == s.function_arn(name)
        assert started * 1000 < int(body["deadline"]) <= (time.time() + 3) * 1000 + 1000  # default Timeout 3
        again = ok(invoke(lam, name, {}, tenant="tenant-9"))
        assert again["count"] == 2
        failed = invoke(lam, name, {"fail": True}, tenant="tenant-9")
        assert failed.function_error == "Unhandled"
        assert failed.json == {"errorMessage": "custom failure", "errorType": "Custom.Failure"}


@pytest.mark.parametrize("files, executable", [
    ({"readme.txt": "no bootstrap here"}, ()),
    ({"bootstrap": "#!/bin/sh\nexit 0\n"}, ()),  # present but not executable
])
def test_provided_without_usable_bootstrap(lam, name, files, executable):
    sb.create(lam, name, files, executable=executable, Runtime="provided.al2023", Handler="x")
    result = invoke(lam, name, {})
    assert result.status == 200 and result.function_error == "Unhandled"
    body = result.json
    assert body["errorType"] == "Runtime.InvalidEntrypoint", body
    assert body["errorMessage"].startswith(f"RequestId: {result.request_id} Error: "), body


# --------------------------------------------------------------------------------------------------
# Host set-up


def test_data_dir_below_a_private_folder(tmp_path):
    """pytest's tmp_path sits under /tmp/pytest-of-root (0700): the sandbox user cannot traverse it.

    Expected: either invocations work anyway, or the server refuses to start with a message that says which folder
    must be traversable. Not expected: a server that starts and then fails every invocation.
    """
    private = [p for p in [tmp_path, *tmp_path.parents] if stat.S_IMODE(p.stat().st_mode) & 0o001 == 0]
    if not private:
        pytest.skip("no private folder above tmp_path on this host")
    server = sb.SandboxServer(data_dir=tmp_path / "data", log_dir=tmp_path)
    try:
        try:
            server.start()
        except s.ServerStartError as error:
            text = str(error).lower()
            assert "permission" in text or "travers" in text or "0700" in text, error
            return
        lam = sb.client(server)
        sb.create(lam, "private-parent", COUNTER_HANDLER)
        result = invoke(lam, "private-parent", {})
        assert result.function_error is None, (
            f"server started on a data dir below {private[0]} (mode 0700) but invocations fail: {result}")
    finally:
        server.stop()
