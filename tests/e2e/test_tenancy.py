"""Tenant isolation mode: TenancyConfig on the control plane and the tenant rules of Invoke.

Contract: TenancyConfig={"TenantIsolationMode": "PER_TENANT"} is set at creation only, returned by
Create/Get/GetConfiguration/List/PublishVersion, absent for ordinary functions; PER_TENANT is the only value.
Invoke of an isolated function needs X-Amz-Tenant-Id; an ordinary function refuses one.
"""

from __future__ import annotations

import base64
import json

import botocore.session
import pytest
from botocore.exceptions import ClientError

import e2e_support as s

PER_TENANT = {"TenantIsolationMode": "PER_TENANT"}


@pytest.fixture
def zip_path(tmp_path, fn_name):
    path = tmp_path / "function.zip"
    path.write_bytes(s.make_zip(marker=fn_name))
    return path


def cli_create(aws_cli, name, zip_path, *extra):
    return aws_cli(
        "lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", s.ROLE,
        "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}", *extra,
    )


def test_cli_create_per_tenant_function_and_read_it_back(aws_cli, fn_name, zip_path):
    rc, created, err = cli_create(aws_cli, fn_name, zip_path, "--tenancy-config", "TenantIsolationMode=PER_TENANT")
    assert rc == 0, err
    assert created["TenancyConfig"] == PER_TENANT
    assert created["FunctionArn"] == s.function_arn(fn_name)

    rc, config, err = aws_cli("lambda", "get-function-configuration", "--function-name", fn_name)
    assert rc == 0, err
    assert config["TenancyConfig"] == PER_TENANT

    rc, got, err = aws_cli("lambda", "get-function", "--function-name", fn_name)
    assert rc == 0, err
    assert got["Configuration"]["TenancyConfig"] == PER_TENANT

    rc, listed, err = aws_cli("lambda", "list-functions")
    assert rc == 0, err
    mine = [f for f in listed["Functions"] if f["FunctionName"] == fn_name]
    assert len(mine) == 1 and mine[0]["TenancyConfig"] == PER_TENANT

    rc, version, err = aws_cli("lambda", "publish-version", "--function-name", fn_name)
    assert rc == 0, err
    assert version["Version"] == "1"
    assert version["TenancyConfig"] == PER_TENANT

    rc, versions, err = aws_cli("lambda", "list-versions-by-function", "--function-name", fn_name)
    assert rc == 0, err
    assert [(v["Version"], v.get("TenancyConfig")) for v in versions["Versions"]] == [
        ("$LATEST", PER_TENANT), ("1", PER_TENANT)
    ]


def test_cli_json_form_of_tenancy_config(aws_cli, fn_name, zip_path):
    rc, created, err = cli_create(aws_cli, fn_name, zip_path, "--tenancy-config", '{"TenantIsolationMode": "PER_TENANT"}')
    assert rc == 0, err
    assert created["TenancyConfig"] == PER_TENANT


def test_ordinary_function_has_no_tenancy_config(lambda_client, create_function, fn_name):
    created = create_function(fn_name)
    assert "TenancyConfig" not in created
    assert "TenancyConfig" not in lambda_client.get_function_configuration(FunctionName=fn_name)
    assert "TenancyConfig" not in lambda_client.get_function(FunctionName=fn_name)["Configuration"]
    listed = [f for p in lambda_client.get_paginator("list_functions").paginate() for f in p["Functions"]
              if f["FunctionName"] == fn_name]
    assert len(listed) == 1 and "TenancyConfig" not in listed[0]
    assert "TenancyConfig" not in lambda_client.publish_version(FunctionName=fn_name)


def test_boto3_create_per_tenant_every_read_path(lambda_client, create_function, fn_name):
    created = create_function(fn_name, TenancyConfig=PER_TENANT)
    assert created["TenancyConfig"] == PER_TENANT
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["TenancyConfig"] == PER_TENANT
    assert lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="$LATEST")["TenancyConfig"] == PER_TENANT
    every = [f for p in lambda_client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
             for f in p["Functions"] if f["FunctionName"] == fn_name]
    assert [f["TenancyConfig"] for f in every] == [PER_TENANT]
    published = lambda_client.publish_version(FunctionName=fn_name, Description="v1")
    assert published["TenancyConfig"] == PER_TENANT
    assert lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="1")["TenancyConfig"] == PER_TENANT


@pytest.mark.parametrize("mode", ["PER_FUNCTION", "per_tenant", ""])
def test_invalid_tenant_isolation_mode_is_a_validation_error(raw_client, lambda_client, fn_name, mode):
    with pytest.raises(ClientError) as err:
        raw_client.create_function(
            FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
            Code={"ZipFile": s.make_zip(marker=fn_name)}, TenancyConfig={"TenantIsolationMode": mode},
        )
    status, code, message = s.client_error(err.value)
    assert (status, code) == (400, "ValidationException")
    assert message == (
        f"1 validation error detected: Value '{mode}' at 'tenancyConfig.tenantIsolationMode' failed to satisfy "
        "constraint: Member must satisfy enum value set: [PER_TENANT]"
    )
    with pytest.raises(ClientError) as err:
        lambda_client.get_function(FunctionName=fn_name)
    assert s.client_error(err.value)[1] == "ResourceNotFoundException"


def test_tenancy_config_without_mode_is_refused(isola, lambda_client, fn_name):
    body = {
        "FunctionName": fn_name, "Runtime": "python3.12", "Role": s.ROLE, "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(s.make_zip(marker=fn_name)).decode()},
        "TenancyConfig": {},
    }
    resp = s.signed_request(isola.endpoint, "POST", "/2015-03-31/functions", body)
    assert resp.status == 400
    assert resp.error_type == "ValidationException"
    with pytest.raises(ClientError):
        lambda_client.get_function(FunctionName=fn_name)


def test_cli_invalid_tenancy_value(aws_cli, fn_name, zip_path):
    rc, out, err = cli_create(aws_cli, fn_name, zip_path, "--tenancy-config", "TenantIsolationMode=SHARED")
    assert rc != 0
    assert "ValidationException" in err
    assert "Member must satisfy enum value set: [PER_TENANT]" in err


# --------------------------------------------------------------------------------------------------
# Immutability


def test_botocore_model_has_no_tenancy_on_update():
    model = botocore.session.get_session().get_service_model("lambda")
    assert "TenancyConfig" in model.operation_model("CreateFunction").input_shape.members
    assert "TenancyConfig" not in model.operation_model("UpdateFunctionConfiguration").input_shape.members


def test_update_configuration_keeps_tenancy(aws_cli, lambda_client, fn_name, zip_path):
    rc, _, err = cli_create(aws_cli, fn_name, zip_path, "--tenancy-config", "TenantIsolationMode=PER_TENANT")
    assert rc == 0, err
    rc, updated, err = aws_cli("lambda", "update-function-configuration", "--function-name", fn_name,
                               "--timeout", "42", "--description", "still isolated")
    assert rc == 0, err
    assert updated["Timeout"] == 42
    assert updated["TenancyConfig"] == PER_TENANT
    code = s.make_zip(marker=fn_name + "-2")
    updated = lambda_client.update_function_code(FunctionName=fn_name, ZipFile=code)
    assert updated["TenancyConfig"] == PER_TENANT
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["TenancyConfig"] == PER_TENANT


@pytest.mark.parametrize("isolated", [False, True], ids=["ordinary", "per-tenant"])
@pytest.mark.parametrize("sent", [PER_TENANT, None, {"TenantIsolationMode": "NONE"}], ids=["per-tenant", "null", "other"])
def test_raw_update_configuration_cannot_change_tenancy(isola, lambda_client, create_function, fn_name, isolated, sent):
    params = {"TenancyConfig": PER_TENANT} if isolated else {}
    create_function(fn_name, **params)
    body = json.dumps({"TenancyConfig": sent, "Description": "raw update"})
    resp = s.signed_request(isola.endpoint, "PUT", f"/2015-03-31/functions/{fn_name}/configuration", body)
    # Whether the server refuses the member or ignores it, the setting must not change.
    assert resp.status in (200, 400), resp.body
    if resp.status == 400:
        assert resp.error_type in ("InvalidParameterValueException", "ValidationException", "InvalidRequestContentException")
    else:
        assert resp.json.get("TenancyConfig") == (PER_TENANT if isolated else None)
    config = lambda_client.get_function_configuration(FunctionName=fn_name)
    assert config.get("TenancyConfig") == (PER_TENANT if isolated else None)


# --------------------------------------------------------------------------------------------------
# Invoke: the tenant rules, checked before anything runs (validation and DryRun; running is in test_invoke.py)


@pytest.fixture
def isolated_fn(create_function, fn_name):
    create_function(fn_name, TenancyConfig=PER_TENANT)
    return fn_name


@pytest.fixture
def ordinary_fn(create_function, fn_name):
    name = fn_name + "-plain"
    create_function(name)
    return name


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event", "DryRun"])
def test_invoke_isolated_without_tenant_is_refused(lambda_client, isolated_fn, invocation_type):
    with pytest.raises(ClientError) as err:
        lambda_client.invoke(FunctionName=isolated_fn, InvocationType=invocation_type, Payload=b"{}")
    assert s.client_error(err.value) == (400, "InvalidParameterValueException", s.TENANCY_REQUIRED)


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event", "DryRun"])
def test_invoke_ordinary_with_tenant_is_refused(lambda_client, ordinary_fn, invocation_type):
    with pytest.raises(ClientError) as err:
        lambda_client.invoke(FunctionName=ordinary_fn, InvocationType=invocation_type, TenantId="blue", Payload=b"{}")
    assert s.client_error(err.value) == (400, "InvalidParameterValueException", s.TENANCY_FORBIDDEN)


def test_invoke_missing_function_with_tenant(lambda_client, fn_name):
    with pytest.raises(ClientError) as err:
        lambda_client.invoke(FunctionName=fn_name, TenantId="blue", Payload=b"{}")
    status, code, message = s.client_error(err.value)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert s.function_arn(fn_name) in message


@pytest.mark.parametrize("tenant", ["blue", "Tenant 1", "a.b_c:d/e=f+g-h@i", "x" * 256])
def test_dry_run_isolated_with_valid_tenant_is_204(lambda_client, isolated_fn, tenant):
    resp = lambda_client.invoke(FunctionName=isolated_fn, InvocationType="DryRun", TenantId=tenant)
    assert resp["StatusCode"] == 204
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_dry_run_ordinary_without_tenant_is_204(lambda_client, ordinary_fn):
    resp = lambda_client.invoke(FunctionName=ordinary_fn, InvocationType="DryRun")
    assert resp["StatusCode"] == 204


@pytest.mark.parametrize("tenant", ["bad#tenant", "x" * 257, "tab\there", "ümlaut"])
def test_invalid_tenant_id_is_a_validation_error(isola, isolated_fn, tenant):
    # Sent raw: botocore does not check the pattern, and http.client would refuse some of these bytes.
    resp = s.signed_request(
        isola.endpoint, "POST", f"/2015-03-31/functions/{isolated_fn}/invocations", b"{}",
        headers={"X-Amz-Invocation-Type": "DryRun", "X-Amz-Tenant-Id": tenant.encode("utf-8").decode("latin-1")},
    )
    assert resp.status == 400, resp.body
    assert resp.error_type == "ValidationException"
    assert "tenantId" in resp.json["message"]


def test_dry_run_through_version_and_alias_keeps_tenant_rules(lambda_client, isolated_fn):
    lambda_client.publish_version(FunctionName=isolated_fn)
    lambda_client.create_alias(FunctionName=isolated_fn, Name="live", FunctionVersion="1")
    for qualifier in ("1", "live", "$LATEST"):
        ok = lambda_client.invoke(FunctionName=isolated_fn, Qualifier=qualifier, InvocationType="DryRun", TenantId="t1")
        assert ok["StatusCode"] == 204
        with pytest.raises(ClientError) as err:
            lambda_client.invoke(FunctionName=isolated_fn, Qualifier=qualifier, InvocationType="DryRun")
        assert s.client_error(err.value) == (400, "InvalidParameterValueException", s.TENANCY_REQUIRED)
    # By ARN with the qualifier in it.
    ok = lambda_client.invoke(FunctionName=s.function_arn(isolated_fn, "live"), InvocationType="DryRun", TenantId="t1")
    assert ok["StatusCode"] == 204


def test_raw_invoke_errors_have_aws_wire_shape(isola, isolated_fn):
    resp = s.signed_request(isola.endpoint, "POST", f"/2015-03-31/functions/{isolated_fn}/invocations", b"{}")
    assert resp.status == 400
    assert resp.error_type == "InvalidParameterValueException"
    assert resp.json == {"Type": "User", "message": s.TENANCY_REQUIRED}


def test_cli_invoke_with_tenant_id(aws_cli, isolated_fn, ordinary_fn, tmp_path):
    out = str(tmp_path / "out.json")
    rc, result, err = aws_cli("lambda", "invoke", "--function-name", isolated_fn, "--tenant-id", "blue",
                              "--invocation-type", "DryRun", out)
    assert rc == 0, err
    assert result["StatusCode"] == 204

    rc, result, err = aws_cli("lambda", "invoke", "--function-name", isolated_fn, "--invocation-type", "DryRun", out)
    assert rc != 0
    assert "(InvalidParameterValueException) when calling the Invoke operation" in err
    assert s.TENANCY_REQUIRED in err

    rc, result, err = aws_cli("lambda", "invoke", "--function-name", ordinary_fn, "--tenant-id", "blue", out)
    assert rc != 0
    assert "(InvalidParameterValueException) when calling the Invoke operation" in err
    assert s.TENANCY_FORBIDDEN in err
