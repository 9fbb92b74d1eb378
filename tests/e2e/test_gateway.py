"""The tenant-aware HTTP gateway: routes (API and CLI), tenant mapping with zero configuration, API Gateway's
proxy events (1.0 and 2.0) and responses, every error mapping, a spoofed X-Amz-Tenant-Id, and the seed
walkthrough's example script."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

import e2e_support as s
import sandbox_support as sb
from invoke_common import isola, lam, name, server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
MISSING = b'{"message": "The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your request and try again."}'

ECHO = """
import base64, json, time

def handler(event, context):
    path = event.get("path") or event.get("rawPath") or ""
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/malformed"):
        return "not a proxy response"
    if path.endswith("/slow"):
        time.sleep(5)
    if path.endswith("/binary"):
        return {"statusCode": 201, "headers": {"Content-Type": "application/octet-stream"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    return {"statusCode": 200, "headers": {"X-Echo": "yes"}, "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "body": json.dumps({"tenant": context.tenant_id, "event": event})}
"""


def gateway(server, method, path, headers=None, body=b"", host=None):
    hdrs = dict(headers or {})
    if host:
        hdrs["Host"] = host
    return s.http_request(f"http://127.0.0.1:{server.gateway_port}{path}", method, body, hdrs)


def route(server, key, fn, **options):
    body = {"RouteKey": key, "FunctionName": fn, **options}
    resp = s.signed_request(server.endpoint, "POST", "/isola/v1/routes", body)
    assert resp.status == 201, resp.body
    return resp.json


def echo(lam, fn, per_tenant=True, **params):
    extra = {"TenancyConfig": sb.PER_TENANT} if per_tenant else {}
    sb.create(lam, fn, ECHO, **extra, **params)


def reply(resp):
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body)


# --------------------------------------------------------------------------------------------------
# Tenant mapping


def test_zero_configuration_header_then_query(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}", name)
    assert reply(gateway(server, "GET", f"/{name}", {"X-Tenant-ID": "7"}))["tenant"] == "7"
    assert reply(gateway(server, "GET", f"/{name}?tenant-id=8"))["tenant"] == "8"
    # The header wins over the query parameter.
    assert reply(gateway(server, "GET", f"/{name}?tenant-id=8", {"X-Tenant-ID": "9"}))["tenant"] == "9"


def test_missing_invalid_and_spoofed_tenants(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}", name)
    missing = gateway(server, "GET", f"/{name}")
    assert (missing.status, missing.body) == (400, MISSING)
    # A client's X-Amz-Tenant-Id is never the tenant: alone it is a missing tenant, with X-Tenant-ID it is ignored.
    spoofed = gateway(server, "GET", f"/{name}", {"X-Amz-Tenant-Id": "victim"})
    assert (spoofed.status, spoofed.body) == (400, MISSING)
    assert reply(gateway(server, "GET", f"/{name}", {"X-Amz-Tenant-Id": "victim", "X-Tenant-ID": "attacker"}))["tenant"] == "attacker"
    invalid = gateway(server, "GET", f"/{name}", {"X-Tenant-ID": "bad|tenant"})
    assert invalid.status == 400 and "Invalid tenant ID 'bad|tenant'" in json.loads(invalid.body)["message"]


def test_custom_header_query_path_and_host_sources(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}/h", name, TenantHeader="X-Customer")
    route(server, f"ANY /{name}/q", name, TenantQuery="customer")
    route(server, "GET /" + name + "/t/{customer}/orders", name, TenantPathParameter="customer")
    route(server, f"ANY /{name}/host", name, TenantHostLabel=True)
    assert reply(gateway(server, "GET", f"/{name}/h", {"X-Customer": "c1"}))["tenant"] == "c1"
    assert reply(gateway(server, "GET", f"/{name}/q?customer=c2"))["tenant"] == "c2"
    got = reply(gateway(server, "GET", f"/{name}/t/c3/orders"))
    assert got["tenant"] == "c3" and got["event"]["pathParameters"] == {"customer": "c3"}
    assert reply(gateway(server, "GET", f"/{name}/host", host="blue.api.example.com"))["tenant"] == "blue"


def test_an_ordinary_function_gets_no_tenant(server, lam, name):
    echo(lam, name, per_tenant=False)
    route(server, f"ANY /{name}", name)
    assert reply(gateway(server, "GET", f"/{name}", {"X-Tenant-ID": "7"}))["tenant"] is None


# --------------------------------------------------------------------------------------------------
# Routes and events


def test_the_most_specific_route_wins(server, lam, name):
    echo(lam, name, per_tenant=False)
    route(server, f"ANY /{name}/{{proxy+}}", name)
    route(server, f"GET /{name}/items/{{id}}", name)
    route(server, f"GET /{name}/items/special", name)
    route(server, f"POST /{name}/items/{{id}}", name)
    assert reply(gateway(server, "GET", f"/{name}/items/special"))["event"]["resource"] == f"/{name}/items/special"
    assert reply(gateway(server, "GET", f"/{name}/items/42"))["event"]["resource"] == f"/{name}/items/{{id}}"
    assert reply(gateway(server, "DELETE", f"/{name}/items/42"))["event"]["resource"] == f"/{name}/{{proxy+}}"
    assert reply(gateway(server, "GET", f"/{name}/a/b/c"))["event"]["pathParameters"] == {"proxy": "a/b/c"}
    assert gateway(server, "GET", f"/{name}-nothing-here").status == 404


def test_payload_format_1_0_event_and_response(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}", name)
    resp = gateway(server, "POST", f"/{name}?a=1&a=2&b=x", {"X-Tenant-ID": "t", "Content-Type": "application/json"}, b'{"hello": "world"}')
    got = reply(resp)
    event = got["event"]
    assert event["httpMethod"] == "POST" and event["path"] == f"/{name}" and event["resource"] == f"/{name}"
    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"a": "2", "b": "x"} and event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["headers"]["X-Tenant-ID"] == "t" and event["multiValueHeaders"]["X-Tenant-ID"] == ["t"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1" and event["requestContext"]["stage"]
    assert isinstance(event["requestContext"]["requestTimeEpoch"], int) and event["stageVariables"] is None
    assert resp.headers["x-echo"] == "yes" and resp.headers["x-multi"] in ("a, b", "a,b", "b")


def test_payload_format_2_0_event(server, lam, name):
    echo(lam, name)
    route(server, f"GET /{name}/v2", name, PayloadFormat="2.0")
    event = reply(gateway(server, "GET", f"/{name}/v2?x=1", {"X-Tenant-ID": "t", "Cookie": "a=1; b=2"}))["event"]
    assert event["version"] == "2.0" and event["routeKey"] == f"GET /{name}/v2" and event["rawPath"] == f"/{name}/v2"
    assert event["rawQueryString"] == "x=1" and event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["http"]["method"] == "GET" and event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-tenant-id"] == "t" and event["cookies"] == ["a=1", "b=2"]


def test_binary_bodies_both_ways(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}/{{proxy+}}", name)
    payload = bytes(range(256))
    event = reply(gateway(server, "POST", f"/{name}/upload", {"X-Tenant-ID": "t", "Content-Type": "application/octet-stream"}, payload))["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == payload
    resp = gateway(server, "GET", f"/{name}/binary", {"X-Tenant-ID": "t"})
    assert resp.status == 201 and resp.body == payload and resp.headers["content-type"] == "application/octet-stream"


# --------------------------------------------------------------------------------------------------
# Errors


def test_each_error_mapping(server, lam, name):
    echo(lam, name, Timeout=1)
    route(server, f"ANY /{name}/{{proxy+}}", name)
    ok = {"X-Tenant-ID": "t"}
    fail = gateway(server, "GET", f"/{name}/fail", ok)
    assert (fail.status, fail.body) == (502, b'{"message": "Internal server error"}')
    malformed = gateway(server, "GET", f"/{name}/malformed", ok)
    assert (malformed.status, malformed.body) == (502, b'{"message": "Internal server error"}')
    slow = gateway(server, "GET", f"/{name}/slow", ok)
    assert (slow.status, slow.body) == (504, b'{"message": "Endpoint request timed out"}')
    big = gateway(server, "POST", f"/{name}/big", ok, b"x" * (10 * 1048576 + 1))
    assert big.status == 413
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    throttled = gateway(server, "GET", f"/{name}/x", ok)
    assert (throttled.status, throttled.body) == (429, b'{"message": "Too Many Requests"}')
    assert gateway(server, "GET", "/no-route-at-all").status == 404
    log = server.log_text()
    assert f"method=GET" in log and f"path=/{name}/slow" in log and "status=504" in log and "tenant=t" in log


# --------------------------------------------------------------------------------------------------
# Routes API and CLI, and the example



def test_routes_api_and_cli(server, lam, name):
    echo(lam, name)
    out = isola("create-route", "--endpoint", server.endpoint, "--route-key", f"ANY /{name}", "--function-name", name)
    assert out.returncode == 0 and "Created route" in out.stdout, out.stderr
    listed = isola("routes", "--endpoint", server.endpoint)
    line = next(line for line in listed.stdout.splitlines() if f"ANY /{name}" in line)
    route_id = line.split()[0]
    again = isola("create-route", "--endpoint", server.endpoint, "--route-key", f"ANY /{name}", "--function-name", name)
    assert again.returncode != 0 and "ResourceConflictException" in again.stderr
    bad = s.signed_request(server.endpoint, "POST", "/isola/v1/routes", {"RouteKey": "FETCH /x", "FunctionName": name})
    assert bad.status == 400 and bad.error_type == "InvalidParameterValueException"
    missing = s.signed_request(server.endpoint, "POST", "/isola/v1/routes", {"RouteKey": "GET /nope", "FunctionName": "no-such-function"})
    assert missing.status == 404
    unsigned = s.http_request(server.endpoint + "/isola/v1/routes")
    assert unsigned.status == 403
    assert isola("delete-route", "--endpoint", server.endpoint, route_id).returncode == 0
    assert gateway(server, "GET", f"/{name}", {"X-Tenant-ID": "t"}).status == 404
    assert isola("delete-route", "--endpoint", server.endpoint, route_id).returncode != 0


def test_routes_survive_a_restart(server, lam, name):
    echo(lam, name)
    route(server, f"ANY /{name}", name)
    server.stop()
    server.start(keep_ports=True)
    assert reply(gateway(server, "GET", f"/{name}", {"X-Tenant-ID": "r"}))["tenant"] == "r"


def test_the_seed_walkthrough_example_runs():
    with sb.running_server("isola-example-") as server:
        env = {**s.cli_env(), "ENDPOINT": server.endpoint, "GATEWAY": f"http://127.0.0.1:{server.gateway_port}", "FUNCTION": "tenant-demo",
               "AWS": str(s.AWS_CLI), "ISOLA": str(s.ISOLA_BIN), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        out = subprocess.run([str(ROOT / "examples/tenant-isolation/run.sh")], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        text = out.stdout
        assert "The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your request and try again." in text
        assert '"StatusCode": 200' in text and '"ExecutedVersion": "$LATEST"' in text
        for i in range(1, 21):
            assert f'{{"tenant_id": "{i}"}}' in text
        # One environment per tenant (tenant 1's from step 3 serves it again in the loop), plus at most the one
        # prewarmed environment waiting for a next tenant.
        count = int(text.split("platform.initStart events: ")[1].split()[0])
        assert count in (20, 21), text
        assert "streams that served a tenant: 20" in text, text
