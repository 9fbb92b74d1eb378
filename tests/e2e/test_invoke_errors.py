"""Invoke failures: handler exceptions, Tail logs, timeouts, runtime exits and signals, bad handlers, OOM, and the
tenancy errors, on real crun sandboxes (lambda-contract.md sections 1.4 and 3)."""
from __future__ import annotations

import base64
import re
import stat
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
import sandbox_support as sb
from sandbox_support import COUNTER_HANDLER, PER_TENANT, invoke, ok


from invoke_common import cli, expect_client_error, lam, name, raw_lam, server  # noqa: F401 (fixtures)
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


SLOW_INIT = """
import time
time.sleep(11)  # longer than Lambda's 10 s init limit

def handler(event, context):
    return {"ok": True}
"""


def test_init_over_10_seconds_runs_again_within_the_function_timeout(lam, name):
    # As Lambda documents it: the init is abandoned at 10 s and runs again in the invoke phase, within the
    # function's timeout (15 s here: 11 s of init leave the handler 4 s).
    sb.create(lam, name, SLOW_INIT, TenancyConfig=PER_TENANT, Timeout=15)
    started = time.monotonic()
    assert ok(invoke(lam, name, {}, tenant="t")) == {"ok": True}
    assert 20 < time.monotonic() - started < 40


def test_init_that_outlasts_the_function_timeout_too_is_a_timeout(lam, name):
    sb.create(lam, name, SLOW_INIT, TenancyConfig=PER_TENANT, Timeout=5)
    result = invoke(lam, name, {}, tenant="t")
    assert result.status == 200 and result.function_error == "Unhandled"
    assert result.json == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 5.00 seconds",
    }


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


# --------------------------------------------------------------------------------------------------
# Concurrency limits


def test_reserved_concurrency_zero_throttles_every_invocation(lam, name):
    sb.create(lam, name, COUNTER_HANDLER, TenancyConfig=PER_TENANT)
    ok(invoke(lam, name, {}, tenant="a"))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, TenantId="a", Payload=b"{}")
    response = err.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["Error"]["Message"] == "Rate Exceeded."
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name, {}, tenant="a").json["count"] == 2, "the warm environment serves again once unthrottled"
