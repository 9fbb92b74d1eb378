"""Reserved concurrency, tags and GetAccountSettings.

These run against a server of their own, so the account totals are exactly what this module did.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
from conftest import make_lambda_client


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not s.ISOLA_BIN.is_file():
        pytest.fail(f"isola binary not found at {s.ISOLA_BIN}", pytrace=False)
    root = tmp_path_factory.mktemp("isola-account")
    srv = s.IsolaServer(data_dir=root / "data", log_dir=root).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return make_lambda_client(server.endpoint)


@pytest.fixture
def fn(client, fn_name):
    client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": s.make_zip(marker=fn_name)}, Tags={"owner": "e2e"})
    yield fn_name
    try:
        client.delete_function_concurrency(FunctionName=fn_name)
    except ClientError:
        pass


def error(exc_info):
    return s.client_error(exc_info.value)


def unreserved(client) -> int:
    return client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]


# --------------------------------------------------------------------------------------------------
# Concurrency


def test_put_get_delete_function_concurrency(client, fn):
    before = unreserved(client)
    put = client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=10)
    assert put["ReservedConcurrentExecutions"] == 10
    assert client.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 10
    assert client.get_function(FunctionName=fn)["Concurrency"] == {"ReservedConcurrentExecutions": 10}
    assert unreserved(client) == before - 10

    client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=25)
    assert client.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 25
    assert unreserved(client) == before - 25

    resp = client.delete_function_concurrency(FunctionName=fn)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=fn)
    assert "Concurrency" not in client.get_function(FunctionName=fn)
    assert unreserved(client) == before


def test_zero_reserved_concurrency_is_allowed(client, fn):
    assert client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)["ReservedConcurrentExecutions"] == 0
    assert client.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 0


def test_unreserved_concurrency_must_stay_at_least_100(client, fn, fn_name, request):
    other = fn_name + "-other"
    client.create_function(FunctionName=other, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": s.make_zip(marker=other)})
    request.addfinalizer(lambda: client.delete_function(FunctionName=other))
    assert unreserved(client) == 1000

    with pytest.raises(ClientError) as err:
        client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=901)
    assert error(err)[:2] == (400, "InvalidParameterValueException")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=fn)

    with pytest.raises(ClientError) as err:
        client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=1000)
    assert error(err)[:2] == (400, "InvalidParameterValueException")

    client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=900)  # exactly 100 left
    assert unreserved(client) == 100
    with pytest.raises(ClientError) as err:
        client.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=1)
    assert error(err)[:2] == (400, "InvalidParameterValueException")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=other)

    # Lowering the function's own reservation frees room; its own old value does not count twice.
    client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=850)
    client.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=50)
    assert unreserved(client) == 100
    client.delete_function_concurrency(FunctionName=other)
    client.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=900)
    assert unreserved(client) == 100


def test_deleting_a_function_releases_its_reservation(client, fn_name):
    client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": s.make_zip(marker=fn_name)})
    before = unreserved(client)
    client.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=300)
    assert unreserved(client) == before - 300
    client.delete_function(FunctionName=fn_name)
    assert unreserved(client) == before


def test_concurrency_errors(server, client, fn, fn_name):
    with pytest.raises(ClientError) as err:
        client.put_function_concurrency(FunctionName=fn_name + "-missing", ReservedConcurrentExecutions=1)
    assert error(err)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as err:
        client.get_function_concurrency(FunctionName=fn_name + "-missing")
    assert error(err)[:2] == (404, "ResourceNotFoundException")
    resp = s.signed_request(server.endpoint, "PUT", f"/2017-10-31/functions/{fn}/concurrency",
                            {"ReservedConcurrentExecutions": -1})
    assert (resp.status, resp.error_type) == (400, "ValidationException")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=fn)


# --------------------------------------------------------------------------------------------------
# Tags


def test_tags_lifecycle(client, fn):
    arn = s.function_arn(fn)
    assert client.list_tags(Resource=arn)["Tags"] == {"owner": "e2e"}
    resp = client.tag_resource(Resource=arn, Tags={"team": "isola", "owner": "someone-else"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags(Resource=arn)["Tags"] == {"owner": "someone-else", "team": "isola"}
    assert client.get_function(FunctionName=fn)["Tags"] == {"owner": "someone-else", "team": "isola"}
    resp = client.untag_resource(Resource=arn, TagKeys=["owner", "not-there"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags(Resource=arn)["Tags"] == {"team": "isola"}


@pytest.mark.parametrize("qualifier", ["$LATEST", "1", "live"])
def test_tags_on_qualified_arn_are_refused(client, fn, qualifier):
    client.publish_version(FunctionName=fn)
    client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    arn = s.function_arn(fn, qualifier)
    for call in (
        lambda: client.tag_resource(Resource=arn, Tags={"a": "b"}),
        lambda: client.untag_resource(Resource=arn, TagKeys=["owner"]),
        lambda: client.list_tags(Resource=arn),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error(err)[:2] == (400, "InvalidParameterValueException")
    assert client.list_tags(Resource=s.function_arn(fn))["Tags"] == {"owner": "e2e"}


def test_tags_on_missing_function(client, fn_name):
    with pytest.raises(ClientError) as err:
        client.list_tags(Resource=s.function_arn(fn_name + "-missing"))
    assert error(err)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as err:
        client.tag_resource(Resource=s.function_arn(fn_name + "-missing"), Tags={"a": "b"})
    assert error(err)[:2] == (404, "ResourceNotFoundException")


# --------------------------------------------------------------------------------------------------
# Account


def test_account_settings_limits(client):
    settings = client.get_account_settings()
    limit = settings["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["CodeSizeZipped"] == 52428800
    assert limit["CodeSizeUnzipped"] == 262144000
    assert limit["TotalCodeSize"] == 80530636800
    assert 100 <= limit["UnreservedConcurrentExecutions"] <= 1000
    assert isinstance(settings["AccountUsage"]["FunctionCount"], int)
    assert isinstance(settings["AccountUsage"]["TotalCodeSize"], int)


def test_account_usage_tracks_functions_and_code(client, fn_name):
    before = client.get_account_settings()["AccountUsage"]
    code = s.make_zip(marker=fn_name)
    client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": code})
    during = client.get_account_settings()["AccountUsage"]
    assert during["FunctionCount"] == before["FunctionCount"] + 1
    assert during["TotalCodeSize"] >= before["TotalCodeSize"] + len(code)
    client.delete_function(FunctionName=fn_name)
    after = client.get_account_settings()["AccountUsage"]
    assert after == before


def test_cli_concurrency_tags_account(server, fn):
    rc, out, err = s.run_aws(server.endpoint, "lambda", "put-function-concurrency", "--function-name", fn,
                             "--reserved-concurrent-executions", "5")
    assert rc == 0, err
    assert out["ReservedConcurrentExecutions"] == 5
    rc, out, err = s.run_aws(server.endpoint, "lambda", "tag-resource", "--resource", s.function_arn(fn),
                             "--tags", "cli=yes")
    assert rc == 0, err
    rc, out, err = s.run_aws(server.endpoint, "lambda", "list-tags", "--resource", s.function_arn(fn))
    assert rc == 0, err
    assert out["Tags"] == {"owner": "e2e", "cli": "yes"}
    rc, out, err = s.run_aws(server.endpoint, "lambda", "get-account-settings")
    assert rc == 0, err
    assert out["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert out["AccountUsage"]["FunctionCount"] >= 1
