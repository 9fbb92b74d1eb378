"""SigV4 authentication with --credentials, the loopback-only unauthenticated mode, and start-up refusal."""

from __future__ import annotations

import datetime
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
from conftest import make_lambda_client

GOOD_KEY, GOOD_SECRET = "AKIDISOLAGOOD0001", "good-secret-0001/abc+def"
SECOND_KEY, SECOND_SECRET = "AKIDISOLASECOND02", "second-secret-0002"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    if not s.ISOLA_BIN.is_file():
        pytest.fail(f"isola binary not found at {s.ISOLA_BIN}", pytrace=False)
    root = tmp_path_factory.mktemp("isola-auth")
    creds = s.write_credentials(root / "credentials", {"default": (GOOD_KEY, GOOD_SECRET), "ci": (SECOND_KEY, SECOND_SECRET)})
    server = s.IsolaServer(data_dir=root / "data", log_dir=root, credentials=creds).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def good_client(secured):
    return make_lambda_client(secured.endpoint, access_key=GOOD_KEY, secret_key=GOOD_SECRET)


def expect_denied(call, code):
    with pytest.raises(ClientError) as err:
        call()
    status, got, message = s.client_error(err.value)
    assert (status, got) == (403, code), message
    return message


def test_right_key_works(good_client, fn_name):
    created = good_client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE,
                                          Handler="app.handler", Code={"ZipFile": s.make_zip(marker=fn_name)})
    assert created["FunctionName"] == fn_name
    assert good_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]
    assert good_client.invoke(FunctionName=fn_name, InvocationType="DryRun")["StatusCode"] == 204


def test_signatures_over_encoded_paths_and_queries(good_client, fn_name):
    """ARNs with ':' in the path, '$LATEST', base64 markers ('+', '/', '='), repeated query keys: all verified."""
    names = [f"{fn_name}-{i}" for i in range(3)]
    for name in names:
        good_client.create_function(FunctionName=name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                                    Code={"ZipFile": s.make_zip(marker=name)}, Tags={"a": "1", "b": "2", "c": "3"})
    name, arn = names[0], s.function_arn(names[0])
    assert good_client.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    assert good_client.get_function_configuration(FunctionName=name, Qualifier="$LATEST")["Version"] == "$LATEST"
    good_client.publish_version(FunctionName=arn)
    good_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert good_client.get_function_configuration(FunctionName=f"{arn}:live")["Version"] == "1"
    assert [a["Name"] for a in good_client.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]] == ["live"]
    good_client.tag_resource(Resource=arn, Tags={"with space": "v/=+", "d": "4"})
    good_client.untag_resource(Resource=arn, TagKeys=["b", "a", "with space"])
    assert good_client.list_tags(Resource=arn)["Tags"] == {"c": "3", "d": "4"}
    seen, marker = [], None
    while True:
        page = good_client.list_functions(MaxItems=1, **({"Marker": marker} if marker else {}))
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert set(names) <= set(seen)
    assert good_client.invoke(FunctionName=name, Qualifier="live", InvocationType="DryRun")["StatusCode"] == 204


def test_every_profile_of_the_file_is_accepted(secured):
    client = make_lambda_client(secured.endpoint, access_key=SECOND_KEY, secret_key=SECOND_SECRET)
    assert "Functions" in client.list_functions()


def test_unknown_access_key(secured):
    client = make_lambda_client(secured.endpoint, access_key="AKIDNOBODY", secret_key=GOOD_SECRET)
    expect_denied(client.list_functions, "UnrecognizedClientException")


def test_wrong_secret(secured, good_client, fn_name):
    client = make_lambda_client(secured.endpoint, access_key=GOOD_KEY, secret_key="not-the-secret")
    expect_denied(client.list_functions, "InvalidSignatureException")
    expect_denied(lambda: client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE,
                                                 Handler="app.handler", Code={"ZipFile": s.make_zip()}),
                  "InvalidSignatureException")
    with pytest.raises(ClientError):
        good_client.get_function(FunctionName=fn_name)  # nothing was created by the refused request


def test_secret_of_another_profile(secured):
    client = make_lambda_client(secured.endpoint, access_key=GOOD_KEY, secret_key=SECOND_SECRET)
    expect_denied(client.list_functions, "InvalidSignatureException")


def test_wrong_region(secured):
    client = make_lambda_client(secured.endpoint, access_key=GOOD_KEY, secret_key=GOOD_SECRET, region="eu-west-1")
    expect_denied(client.list_functions, "InvalidSignatureException")


def test_signed_for_another_service(secured):
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", access_key=GOOD_KEY,
                            secret_key=GOOD_SECRET, service="s3")
    assert resp.status == 403, resp.body
    assert resp.error_type == "InvalidSignatureException"


@pytest.mark.parametrize("authorization", ["AWS4-HMAC-SHA256 Credential=AKIDISOLAGOOD0001/20240101/us-east-1/lambda/aws4_request",
                                           "Bearer abc", "AWS4-HMAC-SHA256 garbage"], ids=["no-signature", "bearer", "garbage"])
def test_malformed_authorization_header(secured, authorization):
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", sign=False,
                            headers={"Authorization": authorization, "X-Amz-Date": "20240101T000000Z"})
    assert resp.status == 403, resp.body
    assert resp.error_type in ("IncompleteSignatureException", "MissingAuthenticationTokenException")


def test_unsigned_request(secured):
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", sign=False)
    assert resp.status == 403
    assert resp.error_type == "MissingAuthenticationTokenException"


def test_raw_signed_request_with_right_key(secured):
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", access_key=GOOD_KEY, secret_key=GOOD_SECRET)
    assert resp.status == 200, resp.body
    assert "Functions" in resp.json


@pytest.mark.parametrize("skew_minutes", [-10, 10], ids=["stale", "future"])
def test_signature_outside_the_clock_window(secured, skew_minutes):
    at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=skew_minutes)
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", access_key=GOOD_KEY,
                            secret_key=GOOD_SECRET, signed_at=at)
    assert resp.status == 403, resp.body
    assert resp.error_type == "InvalidSignatureException"


def test_signature_within_the_clock_window(secured):
    at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=2)
    resp = s.signed_request(secured.endpoint, "GET", "/2015-03-31/functions", access_key=GOOD_KEY,
                            secret_key=GOOD_SECRET, signed_at=at)
    assert resp.status == 200, resp.body


def test_body_tampered_after_signing(secured, good_client, fn_name):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import json

    body = json.dumps({"Timeout": 5}).encode()
    good_client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE,
                                Handler="app.handler", Code={"ZipFile": s.make_zip(marker=fn_name)})
    url = f"{secured.endpoint}/2015-03-31/functions/{fn_name}/configuration"
    request = AWSRequest(method="PUT", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(GOOD_KEY, GOOD_SECRET), "lambda", s.REGION).add_auth(request)
    headers = dict(request.prepare().headers)
    headers.pop("X-Amz-Content-SHA256", None)
    tampered = json.dumps({"Timeout": 9}).encode()
    resp = s.http_request(url, "PUT", tampered, headers)
    assert resp.status == 403, resp.body
    assert resp.error_type == "InvalidSignatureException"
    assert good_client.get_function_configuration(FunctionName=fn_name)["Timeout"] == 3


def test_health_and_code_download_need_no_signature(secured, good_client, fn_name):
    code = s.make_zip(marker=fn_name)
    good_client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE,
                                Handler="app.handler", Code={"ZipFile": code})
    health = s.http_request(secured.endpoint + "/health")
    assert health.status == 200 and health.json["status"] == "ok"
    location = good_client.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert s.http_request(location).body == code


def test_cli_with_credentials(secured):
    rc, out, err = s.run_aws(secured.endpoint, "lambda", "list-functions", access_key=GOOD_KEY, secret_key=GOOD_SECRET)
    assert rc == 0, err
    assert "Functions" in out
    rc, out, err = s.run_aws(secured.endpoint, "lambda", "list-functions", access_key=GOOD_KEY, secret_key="wrong")
    assert rc != 0
    assert "InvalidSignatureException" in err
    rc, out, err = s.run_aws(secured.endpoint, "lambda", "list-functions", access_key="AKIDNOBODY", secret_key="x")
    assert rc != 0
    assert "UnrecognizedClientException" in err


# --------------------------------------------------------------------------------------------------
# Without --credentials


def test_no_credentials_accepts_any_key_on_loopback(isola, fn_name):
    client = make_lambda_client(isola.endpoint, access_key="ANYKEY", secret_key="anything-at-all")
    assert "Functions" in client.list_functions()


def test_no_credentials_still_requires_a_signature(isola):
    resp = s.signed_request(isola.endpoint, "GET", "/2015-03-31/functions", sign=False)
    assert resp.status == 403
    assert resp.error_type == "MissingAuthenticationTokenException"


def _run_to_exit(args, timeout=20):
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def test_non_loopback_without_credentials_refuses_to_start(tmp_path):
    args = [str(s.ISOLA_BIN), "serve", "--host", "0.0.0.0", "--port", str(s.free_port()),
            "--gateway-port", str(s.free_port()), "--data-dir", str(tmp_path / "data")]
    try:
        proc, _ = _run_to_exit(args, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("isola kept running on 0.0.0.0 without --credentials")
    output = proc.stdout + proc.stderr
    assert "--credentials" in output
    assert proc.returncode != 0, f"refused to start but exited 0: {output.strip()}"


def test_non_loopback_with_insecure_flag_starts(isola_factory):
    server = isola_factory(host="0.0.0.0", extra_args=["--insecure-no-auth"])
    assert server.running()
    client = make_lambda_client(server.endpoint)
    assert "Functions" in client.list_functions()


def test_non_loopback_with_credentials_starts(isola_factory, tmp_path):
    creds = s.write_credentials(tmp_path / "creds", {"default": (GOOD_KEY, GOOD_SECRET)})
    server = isola_factory(host="0.0.0.0", credentials=creds)
    assert server.running()
    assert "Functions" in make_lambda_client(server.endpoint, access_key=GOOD_KEY, secret_key=GOOD_SECRET).list_functions()
    expect_denied(make_lambda_client(server.endpoint, access_key=GOOD_KEY, secret_key="x").list_functions,
                  "InvalidSignatureException")


def test_server_region_is_enforced(isola_factory, tmp_path, fn_name):
    creds = s.write_credentials(tmp_path / "creds", {"default": (GOOD_KEY, GOOD_SECRET)})
    server = isola_factory(credentials=creds, region="eu-west-1")
    client = make_lambda_client(server.endpoint, access_key=GOOD_KEY, secret_key=GOOD_SECRET, region="eu-west-1")
    created = client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE,
                                     Handler="app.handler", Code={"ZipFile": s.make_zip(marker=fn_name)})
    assert created["FunctionArn"] == f"arn:aws:lambda:eu-west-1:{s.ACCOUNT}:function:{fn_name}"
    us = make_lambda_client(server.endpoint, access_key=GOOD_KEY, secret_key=GOOD_SECRET, region="us-east-1")
    expect_denied(us.list_functions, "InvalidSignatureException")


@pytest.mark.parametrize("problem", ["missing-file", "no-keys"])
def test_unusable_credentials_file_refuses_to_start(tmp_path, problem):
    creds = tmp_path / "credentials"
    if problem == "no-keys":
        creds.write_text("[default]\nregion = us-east-1\n")
    args = [str(s.ISOLA_BIN), "serve", "--port", str(s.free_port()), "--gateway-port", str(s.free_port()),
            "--data-dir", str(tmp_path / "data"), "--credentials", str(creds)]
    try:
        proc, _ = _run_to_exit(args, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"isola kept running with an unusable credentials file ({problem})")
    output = proc.stdout + proc.stderr
    assert str(creds) in output
    assert proc.returncode != 0, f"refused to start but exited 0: {output.strip()}"
