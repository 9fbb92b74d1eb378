"""Every error the control plane documents: HTTP status, x-amzn-ErrorType / botocore Error.Code, and texts.

Uses a client with botocore's parameter validation off (`raw_client`) so out-of-range values reach the
server, and raw SigV4-signed requests for bodies botocore cannot produce (malformed JSON, wrong types).
The last test checks the server is still healthy after all of it.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

import e2e_support as s


def create_args(name, **overrides):
    args = dict(FunctionName=name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                Code={"ZipFile": s.make_zip(marker=name)})
    args.update(overrides)
    return args


def create_body(name, **overrides) -> dict:
    body = {"FunctionName": name, "Runtime": "python3.12", "Role": s.ROLE, "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(s.make_zip(marker=name)).decode()}}
    body.update(overrides)
    return body


def expect_error(call, status, code, message=None):
    with pytest.raises(ClientError) as err:
        call()
    got_status, got_code, got_message = s.client_error(err.value)
    assert (got_status, got_code) == (status, code), got_message
    if message is not None:
        assert got_message == message
    return got_message


def assert_absent(client, name):
    expect_error(lambda: client.get_function(FunctionName=name), 404, "ResourceNotFoundException")


# --------------------------------------------------------------------------------------------------
# Not found / conflicts


def test_function_not_found_texts(lambda_client, fn_name):
    arn = s.function_arn(fn_name)
    for call in (
        lambda: lambda_client.get_function(FunctionName=fn_name),
        lambda: lambda_client.get_function_configuration(FunctionName=fn_name),
        lambda: lambda_client.delete_function(FunctionName=fn_name),
        lambda: lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=5),
        lambda: lambda_client.update_function_code(FunctionName=fn_name, ZipFile=s.make_zip()),
    ):
        expect_error(call, 404, "ResourceNotFoundException", f"Function not found: {arn}")
    expect_error(lambda: lambda_client.invoke(FunctionName=fn_name), 404, "ResourceNotFoundException")


def test_nope_function_exact_text(lambda_client):
    expect_error(lambda: lambda_client.get_function(FunctionName="nope"), 404, "ResourceNotFoundException",
                 "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope")


def test_not_found_wire_shape(isola, fn_name):
    resp = s.signed_request(isola.endpoint, "GET", f"/2015-03-31/functions/{fn_name}")
    assert resp.status == 404
    assert resp.error_type == "ResourceNotFoundException"
    assert resp.json == {"Type": "User", "Message": f"Function not found: {s.function_arn(fn_name)}"}
    assert resp.headers["content-type"].startswith("application/json")


def test_function_already_exists(lambda_client, create_function, fn_name, isola):
    created = create_function(fn_name)
    expect_error(lambda: create_function(fn_name, s.make_zip(marker="other")), 409, "ResourceConflictException",
                 f"Function already exist: {fn_name}")
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", create_body(fn_name))
    assert resp.status == 409
    assert resp.error_type == "ResourceConflictException"
    assert resp.json == {"Type": "User", "message": f"Function already exist: {fn_name}"}


# --------------------------------------------------------------------------------------------------
# Validation: ranges, patterns, enums


def _v(value, field, constraint):
    return f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"


RANGE_CASES = [
    ({"Timeout": 0}, _v(0, "timeout", "Member must have value greater than or equal to 1")),
    ({"Timeout": 901}, _v(901, "timeout", "Member must have value less than or equal to 900")),
    ({"MemorySize": 127}, _v(127, "memorySize", "Member must have value greater than or equal to 128")),
    ({"MemorySize": 10241}, _v(10241, "memorySize", "Member must have value less than or equal to 10240")),
    ({"EphemeralStorage": {"Size": 511}}, _v(511, "ephemeralStorage.size", "Member must have value greater than or equal to 512")),
    ({"EphemeralStorage": {"Size": 10241}}, _v(10241, "ephemeralStorage.size", "Member must have value less than or equal to 10240")),
]


@pytest.mark.parametrize("override, message", RANGE_CASES, ids=lambda v: json.dumps(v) if isinstance(v, dict) else "")
def test_create_out_of_range_is_validation_exception(raw_client, lambda_client, fn_name, override, message):
    expect_error(lambda: raw_client.create_function(**create_args(fn_name, **override)), 400, "ValidationException", message)
    assert_absent(lambda_client, fn_name)


@pytest.mark.parametrize("override, message", RANGE_CASES, ids=lambda v: json.dumps(v) if isinstance(v, dict) else "")
def test_update_out_of_range_is_validation_exception(raw_client, lambda_client, create_function, fn_name, override, message):
    before = create_function(fn_name)
    expect_error(lambda: raw_client.update_function_configuration(FunctionName=fn_name, **override),
                 400, "ValidationException", message)
    after = lambda_client.get_function_configuration(FunctionName=fn_name)
    assert after["RevisionId"] == before["RevisionId"]


@pytest.mark.parametrize("override", [{"Timeout": 1}, {"Timeout": 900}, {"MemorySize": 128}, {"MemorySize": 10240},
                                      {"EphemeralStorage": {"Size": 512}}, {"EphemeralStorage": {"Size": 10240}}])
def test_range_bounds_are_inclusive(lambda_client, fn_name, override):
    created = lambda_client.create_function(**create_args(fn_name, **override))
    key, value = next(iter(override.items()))
    assert created[key] == value


def test_validation_exception_wire_shape(isola, fn_name):
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", create_body(fn_name, Timeout=901))
    assert resp.status == 400
    assert resp.error_type == "ValidationException"
    assert resp.json["message"] == RANGE_CASES[1][1]


def test_invalid_role_and_name_and_enums(raw_client, lambda_client, fn_name):
    expect_error(lambda: raw_client.create_function(**create_args(fn_name, Role="not-a-role")), 400, "ValidationException",
                 _v("not-a-role", "role", r"Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"))
    assert_absent(lambda_client, fn_name)
    msg = expect_error(lambda: raw_client.create_function(**create_args("bad name!")), 400, "ValidationException")
    assert msg.startswith("1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy constraint")
    msg = expect_error(lambda: raw_client.create_function(**create_args(fn_name, TracingConfig={"Mode": "Sometimes"})),
                       400, "ValidationException")
    assert "Sometimes" in msg and "tracingConfig.mode" in msg
    msg = expect_error(lambda: raw_client.create_function(**create_args(fn_name, LoggingConfig={"LogFormat": "XML"})),
                       400, "ValidationException")
    assert "loggingConfig.logFormat" in msg
    assert_absent(lambda_client, fn_name)


def test_missing_required_members(isola, lambda_client, fn_name):
    body = create_body(fn_name)
    del body["Role"]
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", body)
    assert (resp.status, resp.error_type) == (400, "ValidationException")
    assert resp.json["message"] == _v("null", "role", "Member must not be null")
    assert_absent(lambda_client, fn_name)


# --------------------------------------------------------------------------------------------------
# InvalidParameterValueException


def test_unknown_runtime_names_valid_runtimes(raw_client, lambda_client, fn_name):
    for runtime in ("nodejs20.x", "python2.7", "cobol"):
        msg = expect_error(lambda: raw_client.create_function(**create_args(fn_name, Runtime=runtime)),
                           400, "InvalidParameterValueException")
        assert runtime in msg
        for valid in s.VALID_RUNTIMES:
            assert valid in msg
    assert_absent(lambda_client, fn_name)


@pytest.mark.parametrize("runtime", s.VALID_RUNTIMES)
def test_every_valid_runtime_is_accepted(lambda_client, fn_name, runtime):
    assert lambda_client.create_function(**create_args(fn_name, Runtime=runtime))["Runtime"] == runtime


def test_update_to_unknown_runtime(raw_client, lambda_client, create_function, fn_name):
    create_function(fn_name)
    expect_error(lambda: raw_client.update_function_configuration(FunctionName=fn_name, Runtime="java21"),
                 400, "InvalidParameterValueException")
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["Runtime"] == "python3.12"


def test_corrupt_zip(lambda_client, create_function, fn_name):
    for garbage in (b"this is not a zip", b"PK\x03\x04" + b"\x00" * 40):
        expect_error(lambda: create_function(fn_name, garbage), 400, "InvalidParameterValueException", s.CANNOT_UNZIP)
    assert_absent(lambda_client, fn_name)
    good = create_function(fn_name)
    expect_error(lambda: lambda_client.update_function_code(FunctionName=fn_name, ZipFile=b"garbage"),
                 400, "InvalidParameterValueException", s.CANNOT_UNZIP)
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == good["CodeSha256"]


def test_truncated_zip(lambda_client, create_function, fn_name):
    code = s.make_zip({"app.py": "x = 1\n" * 2000}, marker=fn_name)
    expect_error(lambda: create_function(fn_name, code[: len(code) // 2]), 400, "InvalidParameterValueException", s.CANNOT_UNZIP)
    assert_absent(lambda_client, fn_name)


@pytest.mark.parametrize(
    "entry, content",
    [
        (s.make_zip_info("/etc/evil.py"), "x = 1\n"),
        (s.make_zip_info("../evil.py"), "x = 1\n"),
        (s.make_zip_info("lib/../../evil.py"), "x = 1\n"),
        (s.symlink_info("escape"), "../../etc/passwd"),
        (s.symlink_info("lib/escape"), "../../outside"),
        (s.symlink_info("abs-link"), "/etc/passwd"),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink-out", "nested-symlink-out", "symlink-absolute"],
)
def test_unsafe_zip_entries_are_refused(lambda_client, create_function, fn_name, entry, content):
    code = s.zip_with_entry(entry, content)
    with zipfile.ZipFile(io.BytesIO(code)) as zf:  # the test zip really holds the hostile name
        assert entry.filename in zf.namelist()
    expect_error(lambda: create_function(fn_name, code), 400, "InvalidParameterValueException")
    assert_absent(lambda_client, fn_name)


def test_symlink_inside_the_package_is_accepted(lambda_client, create_function, fn_name):
    code = s.zip_with_entry(s.symlink_info("lib/link.py"), "../app.py")
    created = create_function(fn_name, code)
    assert created["CodeSha256"] == s.sha256_b64(code)


def test_zip_bomb_over_250mb_unzipped(lambda_client, create_function, fn_name):
    bomb = s.zip_bomb(270 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    expect_error(lambda: create_function(fn_name, bomb), 400, "InvalidParameterValueException",
                 "Unzipped size must be smaller than 262144000 bytes")
    assert_absent(lambda_client, fn_name)


def test_zip_just_under_the_unzipped_limit_is_accepted(lambda_client, create_function, fn_name):
    code = s.zip_bomb(200 * 1024 * 1024)
    assert create_function(fn_name, code)["CodeSha256"] == s.sha256_b64(code)


@pytest.mark.parametrize("code", [{"S3Bucket": "bucket", "S3Key": "key.zip"}, {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:latest"}],
                         ids=["s3", "image"])
def test_unsupported_code_sources(raw_client, lambda_client, fn_name, code):
    msg = expect_error(lambda: raw_client.create_function(**create_args(fn_name, Code=code)), 400, "InvalidParameterValueException")
    assert "not supported" in msg
    assert_absent(lambda_client, fn_name)


def test_unsupported_code_sources_on_update(raw_client, lambda_client, create_function, fn_name):
    created = create_function(fn_name)
    msg = expect_error(lambda: raw_client.update_function_code(FunctionName=fn_name, S3Bucket="b", S3Key="k"),
                       400, "InvalidParameterValueException")
    assert "not supported" in msg
    msg = expect_error(lambda: raw_client.update_function_code(FunctionName=fn_name, ImageUri="repo:latest"),
                       400, "InvalidParameterValueException")
    assert "not supported" in msg
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]


@pytest.mark.parametrize("key", ["AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ACCESS_KEY_ID", "AWS_LAMBDA_RUNTIME_API"])
def test_reserved_environment_keys(raw_client, lambda_client, create_function, fn_name, key):
    msg = expect_error(lambda: raw_client.create_function(**create_args(fn_name, Environment={"Variables": {key: "x", "OK_KEY": "y"}})),
                       400, "InvalidParameterValueException")
    assert key in msg
    assert "reserved" in msg.lower()
    assert_absent(lambda_client, fn_name)
    create_function(fn_name)
    expect_error(lambda: raw_client.update_function_configuration(FunctionName=fn_name, Environment={"Variables": {key: "x"}}),
                 400, "InvalidParameterValueException")
    assert "Environment" not in lambda_client.get_function_configuration(FunctionName=fn_name)


def test_environment_over_4kb(raw_client, lambda_client, fn_name):
    variables = {f"KEY_{i}": "v" * 100 for i in range(50)}
    expect_error(lambda: raw_client.create_function(**create_args(fn_name, Environment={"Variables": variables})),
                 400, "InvalidParameterValueException")
    assert_absent(lambda_client, fn_name)


def test_qualified_name_on_create(raw_client, lambda_client, fn_name):
    with pytest.raises(ClientError) as err:
        raw_client.create_function(**create_args(fn_name + ":1"))
    assert s.client_error(err.value)[0] == 400
    assert_absent(lambda_client, fn_name)


def test_function_name_length(raw_client, lambda_client):
    longest = s.unique_name("n")[:14] + "x" * 50
    assert len(longest) == 64
    assert lambda_client.create_function(**create_args(longest))["FunctionName"] == longest
    too_long = longest + "y"
    msg = expect_error(lambda: raw_client.create_function(**create_args(too_long)), 400, "ValidationException")
    assert f"Value '{too_long}' at 'functionName' failed to satisfy constraint" in msg


def test_qualifier_in_name_and_parameter_must_agree(lambda_client, create_function, fn_name):
    create_function(fn_name, Publish=True)
    assert lambda_client.get_function_configuration(FunctionName=f"{fn_name}:1", Qualifier="1")["Version"] == "1"
    expect_error(lambda: lambda_client.get_function_configuration(FunctionName=f"{fn_name}:1", Qualifier="$LATEST"),
                 400, "InvalidParameterValueException",
                 "The derived qualifier from the function name does not match the specified qualifier.")


def test_listing_under_a_missing_function(lambda_client, fn_name):
    expect_error(lambda: lambda_client.list_versions_by_function(FunctionName=fn_name), 404, "ResourceNotFoundException")
    expect_error(lambda: lambda_client.list_aliases(FunctionName=fn_name), 404, "ResourceNotFoundException")
    expect_error(lambda: lambda_client.get_alias(FunctionName=fn_name, Name="live"), 404, "ResourceNotFoundException")


def test_invoke_payload_over_6mb(lambda_client, create_function, fn_name):
    create_function(fn_name)
    payload = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    expect_error(lambda: lambda_client.invoke(FunctionName=fn_name, Payload=payload), 413, "RequestEntityTooLargeException",
                 "Request must be smaller than 6291456 bytes for the InvokeFunction operation")


def test_package_over_50mb_exceeds_the_request_limit(lambda_client, create_function, fn_name):
    # Base64 of anything over 50 MB (52428800 bytes) is over AWS's 69905067-byte CreateFunction request limit.
    code = s.big_zip(51 * 1024 * 1024)
    assert len(code) > 52428800
    expect_error(lambda: create_function(fn_name, code), 413, "RequestEntityTooLargeException",
                 "Request must be smaller than 69905067 bytes for the CreateFunction operation")
    assert_absent(lambda_client, fn_name)
    create_function(fn_name)
    expect_error(lambda: lambda_client.update_function_code(FunctionName=fn_name, ZipFile=code), 413,
                 "RequestEntityTooLargeException")
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSize"] < 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Malformed requests


def test_malformed_json(isola, lambda_client, fn_name):
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", b'{"FunctionName": "' + fn_name.encode() + b'", ')
    assert resp.status == 400
    assert resp.error_type == "InvalidRequestContentException"
    assert resp.json["Type"] == "User"
    assert resp.json["message"]
    assert_absent(lambda_client, fn_name)


@pytest.mark.parametrize(
    "override",
    [{"Timeout": "three"}, {"MemorySize": [128]}, {"Environment": {"Variables": ["A=1"]}}, {"Publish": "yes"},
     {"Code": "not-an-object"}, {"TenancyConfig": "PER_TENANT"}],
    ids=["timeout-string", "memory-list", "env-list", "publish-string", "code-string", "tenancy-string"],
)
def test_wrong_types_on_create(isola, lambda_client, fn_name, override):
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", create_body(fn_name, **override))
    assert (resp.status, resp.error_type) == (400, "InvalidRequestContentException"), resp.body
    assert_absent(lambda_client, fn_name)


def test_name_of_wrong_type(isola, lambda_client):
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", create_body("x", FunctionName=123))
    assert (resp.status, resp.error_type) == (400, "InvalidRequestContentException"), resp.body


def test_wrong_types_on_update(isola, lambda_client, create_function, fn_name):
    before = create_function(fn_name)
    for body in (b"{not json", json.dumps({"Timeout": "x"}).encode(), json.dumps([1, 2]).encode()):
        resp = s.signed_request(isola.endpoint, "PUT", f"/2015-03-31/functions/{fn_name}/configuration", body)
        assert (resp.status, resp.error_type) == (400, "InvalidRequestContentException"), resp.body
    resp = s.signed_request(isola.endpoint, "PUT", f"/2015-03-31/functions/{fn_name}/code", {"ZipFile": 5})
    assert (resp.status, resp.error_type) == (400, "InvalidRequestContentException"), resp.body
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["RevisionId"] == before["RevisionId"]


def test_invalid_base64_zip(isola, lambda_client, fn_name):
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions",
                            create_body(fn_name, Code={"ZipFile": "***not base64***"}))
    assert resp.status == 400
    assert resp.error_type in ("InvalidRequestContentException", "InvalidParameterValueException")
    assert_absent(lambda_client, fn_name)


def test_unknown_operation_path(isola):
    resp = s.signed_request(isola.endpoint, "GET", "/2015-03-31/no-such-thing")
    assert resp.status == 404
    assert resp.error_type == "UnknownOperationException"


def test_wrong_method_on_known_path(isola, create_function, fn_name):
    create_function(fn_name)
    resp = s.signed_request(isola.endpoint, "PATCH", f"/2015-03-31/functions/{fn_name}")
    assert 400 <= resp.status < 500
    assert resp.error_type


def test_list_functions_bad_parameters(raw_client, isola):
    expect_error(lambda: raw_client.list_functions(MaxItems=0), 400, "ValidationException")
    expect_error(lambda: raw_client.list_functions(FunctionVersion="SOME"), 400, "ValidationException")
    resp = s.signed_request(isola.endpoint, "GET", "/2015-03-31/functions", query={"MaxItems": "lots"})
    assert resp.status == 400


# --------------------------------------------------------------------------------------------------
# Last: the server survived all of the above


def test_zz_server_still_healthy_after_errors(isola, lambda_client, create_function, fn_name):
    assert isola.running(), isola.log_tail()
    resp = s.http_request(isola.endpoint + "/health")
    assert resp.status == 200
    assert resp.json["status"] == "ok"
    created = create_function(fn_name)
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]
