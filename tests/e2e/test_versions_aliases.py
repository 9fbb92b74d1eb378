"""PublishVersion, ListVersionsByFunction, qualified reads and deletes, and aliases."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import e2e_support as s


def versions_of(client, name, **kwargs):
    return [v for p in client.get_paginator("list_versions_by_function").paginate(FunctionName=name, **kwargs)
            for v in p["Versions"]]


def error(exc_info):
    return s.client_error(exc_info.value)


# --------------------------------------------------------------------------------------------------
# Versions


def test_publish_version_snapshots_latest(lambda_client, create_function, fn_name):
    code = s.make_zip(marker=fn_name)
    latest = create_function(fn_name, code, Timeout=7)
    v1 = lambda_client.publish_version(FunctionName=fn_name, Description="first release")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1"
    assert v1["FunctionArn"] == s.function_arn(fn_name, "1")
    assert v1["CodeSha256"] == latest["CodeSha256"] == s.sha256_b64(code)
    assert v1["Description"] == "first release"
    assert v1["Timeout"] == 7
    assert s.LAST_MODIFIED_RE.match(v1["LastModified"])
    assert v1["State"] == "Active"

    got = lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert got["Version"] == "1"
    assert got["FunctionArn"] == s.function_arn(fn_name, "1")
    by_arn = lambda_client.get_function_configuration(FunctionName=s.function_arn(fn_name, "1"))
    assert by_arn["Version"] == "1"


def test_publish_unchanged_latest_returns_last_version(lambda_client, create_function, fn_name):
    create_function(fn_name)
    v1 = lambda_client.publish_version(FunctionName=fn_name)
    again = lambda_client.publish_version(FunctionName=fn_name)
    assert again["Version"] == "1"
    assert again["RevisionId"] == v1["RevisionId"]
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST", "1"]


def test_publish_after_code_or_configuration_change_makes_new_versions(lambda_client, create_function, fn_name):
    create_function(fn_name)
    assert lambda_client.publish_version(FunctionName=fn_name)["Version"] == "1"
    lambda_client.update_function_code(FunctionName=fn_name, ZipFile=s.make_zip(marker=fn_name + "-2"))
    assert lambda_client.publish_version(FunctionName=fn_name)["Version"] == "2"
    lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=60)
    v3 = lambda_client.publish_version(FunctionName=fn_name)
    assert v3["Version"] == "3"
    assert v3["Timeout"] == 60
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST", "1", "2", "3"]


def test_published_versions_are_immutable(lambda_client, create_function, fn_name):
    first_code = s.make_zip(marker=fn_name + "-1")
    create_function(fn_name, first_code, MemorySize=256)
    lambda_client.publish_version(FunctionName=fn_name)
    second_code = s.make_zip(marker=fn_name + "-2")
    lambda_client.update_function_code(FunctionName=fn_name, ZipFile=second_code)
    lambda_client.update_function_configuration(FunctionName=fn_name, MemorySize=1024)

    v1 = lambda_client.get_function(FunctionName=fn_name, Qualifier="1")
    assert v1["Configuration"]["MemorySize"] == 256
    assert v1["Configuration"]["CodeSha256"] == s.sha256_b64(first_code)
    assert s.http_request(v1["Code"]["Location"]).body == first_code

    latest = lambda_client.get_function(FunctionName=fn_name)
    assert latest["Configuration"]["MemorySize"] == 1024
    assert s.http_request(latest["Code"]["Location"]).body == second_code


def test_publish_version_code_sha_and_revision_preconditions(lambda_client, create_function, fn_name):
    created = create_function(fn_name)
    with pytest.raises(ClientError) as err:
        lambda_client.publish_version(FunctionName=fn_name, CodeSha256=s.sha256_b64(b"something else"))
    assert error(err)[:2] == (400, "InvalidParameterValueException")

    with pytest.raises(ClientError) as err:
        lambda_client.publish_version(FunctionName=fn_name, RevisionId="11111111-2222-3333-4444-555555555555")
    assert error(err)[:2] == (412, "PreconditionFailedException")
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST"]

    ok = lambda_client.publish_version(FunctionName=fn_name, CodeSha256=created["CodeSha256"], RevisionId=created["RevisionId"])
    assert ok["Version"] == "1"


def test_publish_version_of_missing_function(lambda_client, fn_name):
    with pytest.raises(ClientError) as err:
        lambda_client.publish_version(FunctionName=fn_name)
    assert error(err)[:2] == (404, "ResourceNotFoundException")


def test_list_versions_paging(lambda_client, create_function, fn_name):
    create_function(fn_name)
    for i in range(3):
        lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=10 + i)
        lambda_client.publish_version(FunctionName=fn_name)
    seen, marker = [], None
    while True:
        kwargs = {"FunctionName": fn_name, "MaxItems": 1}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_versions_by_function(**kwargs)
        assert len(page["Versions"]) == 1
        seen.append(page["Versions"][0]["Version"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3"]
    arns = {v["Version"]: v["FunctionArn"] for v in versions_of(lambda_client, fn_name)}
    assert arns["2"] == s.function_arn(fn_name, "2")


def test_delete_version(lambda_client, create_function, fn_name):
    create_function(fn_name)
    lambda_client.publish_version(FunctionName=fn_name)
    lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=9)
    lambda_client.publish_version(FunctionName=fn_name)

    resp = lambda_client.delete_function(FunctionName=fn_name, Qualifier="1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    status, code, message = error(err)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Function not found: {s.function_arn(fn_name, '1')}"
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST", "2"]
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["Timeout"] == 9

    # Version numbers are never reused.
    lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=10)
    assert lambda_client.publish_version(FunctionName=fn_name)["Version"] == "3"


def test_delete_latest_qualifier_is_refused(lambda_client, create_function, fn_name):
    create_function(fn_name)
    with pytest.raises(ClientError) as err:
        lambda_client.delete_function(FunctionName=fn_name, Qualifier="$LATEST")
    assert error(err)[:2] == (400, "InvalidParameterValueException")
    assert lambda_client.get_function(FunctionName=fn_name)["Configuration"]["FunctionName"] == fn_name


def test_delete_missing_version(lambda_client, create_function, fn_name):
    create_function(fn_name)
    with pytest.raises(ClientError) as err:
        lambda_client.delete_function(FunctionName=fn_name, Qualifier="7")
    assert error(err)[:2] == (404, "ResourceNotFoundException")


def test_delete_version_referenced_by_alias_is_a_conflict(lambda_client, create_function, fn_name):
    create_function(fn_name)
    lambda_client.publish_version(FunctionName=fn_name)
    lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=11)
    lambda_client.publish_version(FunctionName=fn_name)
    lambda_client.create_alias(FunctionName=fn_name, Name="prod", FunctionVersion="2",
                               RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}})
    for version in ("1", "2"):  # primary target and weighted additional version
        with pytest.raises(ClientError) as err:
            lambda_client.delete_function(FunctionName=fn_name, Qualifier=version)
        assert error(err)[:2] == (409, "ResourceConflictException")
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST", "1", "2"]

    lambda_client.delete_alias(FunctionName=fn_name, Name="prod")
    lambda_client.delete_function(FunctionName=fn_name, Qualifier="1")
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST", "2"]


def test_delete_function_removes_every_version_and_alias(lambda_client, create_function, fn_name):
    create_function(fn_name)
    lambda_client.publish_version(FunctionName=fn_name)
    lambda_client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    lambda_client.delete_function(FunctionName=fn_name)
    for qualifier in ("1", "live"):
        with pytest.raises(ClientError) as err:
            lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier=qualifier)
        assert error(err)[:2] == (404, "ResourceNotFoundException")
    create_function(fn_name)
    assert [v["Version"] for v in versions_of(lambda_client, fn_name)] == ["$LATEST"]
    assert lambda_client.list_aliases(FunctionName=fn_name)["Aliases"] == []


# --------------------------------------------------------------------------------------------------
# Aliases


@pytest.fixture
def two_versions(lambda_client, create_function, fn_name):
    create_function(fn_name)
    lambda_client.publish_version(FunctionName=fn_name)
    lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=20)
    lambda_client.publish_version(FunctionName=fn_name)
    return fn_name


def test_alias_crud(lambda_client, two_versions):
    name = two_versions
    created = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="the live one")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == s.function_arn(name, "live")
    assert created["Name"] == "live"
    assert created["FunctionVersion"] == "1"
    assert created["Description"] == "the live one"
    assert created["RevisionId"]

    got = lambda_client.get_alias(FunctionName=name, Name="live")
    assert {k: got[k] for k in ("AliasArn", "Name", "FunctionVersion", "Description", "RevisionId")} == \
        {k: created[k] for k in ("AliasArn", "Name", "FunctionVersion", "Description", "RevisionId")}

    # Resolving through the alias reads the version it points at.
    via_alias = lambda_client.get_function_configuration(FunctionName=name, Qualifier="live")
    assert via_alias["Version"] == "1"
    assert via_alias["Timeout"] == 3

    updated = lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                                         RevisionId=created["RevisionId"])
    assert updated["FunctionVersion"] == "2"
    assert updated["Description"] == "the live one"
    assert updated["RevisionId"] != created["RevisionId"]
    assert lambda_client.get_function_configuration(FunctionName=name, Qualifier="live")["Timeout"] == 20

    with pytest.raises(ClientError) as err:
        lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="1", RevisionId=created["RevisionId"])
    assert error(err)[:2] == (412, "PreconditionFailedException")
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"

    resp = lambda_client.delete_alias(FunctionName=name, Name="live")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lambda_client.get_alias(FunctionName=name, Name="live")
    assert error(err)[:2] == (404, "ResourceNotFoundException")


def test_list_aliases_filter_and_paging(lambda_client, two_versions):
    name = two_versions
    for alias, version in (("a1", "1"), ("a2", "2"), ("a3", "1"), ("a4", "$LATEST")):
        lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    every = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    assert sorted(a["Name"] for a in every) == ["a1", "a2", "a3", "a4"]
    only_1 = lambda_client.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]
    assert sorted(a["Name"] for a in only_1) == ["a1", "a3"]

    seen, marker = [], None
    while True:
        kwargs = {"FunctionName": name, "MaxItems": 3}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_aliases(**kwargs)
        assert len(page["Aliases"]) <= 3
        seen += [a["Name"] for a in page["Aliases"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == ["a1", "a2", "a3", "a4"] and len(seen) == 4


def test_alias_routing_config(lambda_client, two_versions):
    name = two_versions
    created = lambda_client.create_alias(FunctionName=name, Name="canary", FunctionVersion="2",
                                         RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}})
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    assert lambda_client.get_alias(FunctionName=name, Name="canary")["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    for weight in (0.0, 1.0):
        updated = lambda_client.update_alias(FunctionName=name, Name="canary",
                                             RoutingConfig={"AdditionalVersionWeights": {"1": weight}})
        assert updated["RoutingConfig"]["AdditionalVersionWeights"] == {"1": weight}
    cleared = lambda_client.update_alias(FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}})
    assert not cleared.get("RoutingConfig", {}).get("AdditionalVersionWeights")


@pytest.mark.parametrize(
    "weights, codes",
    [
        ({"1": 1.5}, {"ValidationException"}),
        ({"1": -0.1}, {"ValidationException"}),
        ({"1": 0.1, "3": 0.1}, {"ValidationException", "InvalidParameterValueException"}),  # at most one entry
        ({"99": 0.1}, {"ResourceNotFoundException", "InvalidParameterValueException"}),  # no such version
    ],
    ids=["weight>1", "weight<0", "two-entries", "missing-version"],
)
def test_alias_routing_config_is_validated(raw_client, lambda_client, two_versions, weights, codes):
    name = two_versions
    lambda_client.update_function_configuration(FunctionName=name, Timeout=21)
    lambda_client.publish_version(FunctionName=name)  # version 3 exists for the two-entry case
    with pytest.raises(ClientError) as err:
        raw_client.create_alias(FunctionName=name, Name="bad", FunctionVersion="2",
                                RoutingConfig={"AdditionalVersionWeights": weights})
    status, code, _ = error(err)
    assert code in codes
    assert 400 <= status < 500
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []


def test_alias_errors(raw_client, lambda_client, two_versions):
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as err:
        lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert error(err)[:2] == (409, "ResourceConflictException")
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"

    with pytest.raises(ClientError) as err:
        lambda_client.create_alias(FunctionName=name, Name="ghost", FunctionVersion="42")
    assert error(err)[:2] == (404, "ResourceNotFoundException")

    with pytest.raises(ClientError) as err:
        raw_client.create_alias(FunctionName=name, Name="123", FunctionVersion="1")  # all digits: a version, not an alias
    assert error(err)[:2] == (400, "ValidationException")

    with pytest.raises(ClientError) as err:
        lambda_client.get_alias(FunctionName=name, Name="nope")
    assert error(err)[:2] == (404, "ResourceNotFoundException")

    with pytest.raises(ClientError) as err:
        lambda_client.update_alias(FunctionName=name, Name="nope", FunctionVersion="1")
    assert error(err)[:2] == (404, "ResourceNotFoundException")

    with pytest.raises(ClientError) as err:
        lambda_client.create_alias(FunctionName=name + "-missing", Name="live", FunctionVersion="1")
    assert error(err)[:2] == (404, "ResourceNotFoundException")


def test_dry_run_invoke_through_alias_and_version(lambda_client, two_versions):
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    for qualifier in ("live", "1", "2", "$LATEST"):
        assert lambda_client.invoke(FunctionName=name, Qualifier=qualifier, InvocationType="DryRun")["StatusCode"] == 204
    for qualifier in ("nope", "9"):
        with pytest.raises(ClientError) as err:
            lambda_client.invoke(FunctionName=name, Qualifier=qualifier, InvocationType="DryRun")
        assert error(err)[:2] == (404, "ResourceNotFoundException")


def test_cli_versions_and_aliases(aws_cli, lambda_client, create_function, fn_name):
    create_function(fn_name)
    rc, v1, err = aws_cli("lambda", "publish-version", "--function-name", fn_name, "--description", "cli")
    assert rc == 0, err
    assert v1["Version"] == "1" and v1["Description"] == "cli"

    rc, alias, err = aws_cli("lambda", "create-alias", "--function-name", fn_name, "--name", "prod",
                             "--function-version", "1")
    assert rc == 0, err
    assert alias["AliasArn"] == s.function_arn(fn_name, "prod")

    rc, aliases, err = aws_cli("lambda", "list-aliases", "--function-name", fn_name)
    assert rc == 0, err
    assert [a["Name"] for a in aliases["Aliases"]] == ["prod"]

    rc, versions, err = aws_cli("lambda", "list-versions-by-function", "--function-name", fn_name)
    assert rc == 0, err
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1"]

    rc, out, err = aws_cli("lambda", "delete-function", "--function-name", fn_name, "--qualifier", "1")
    assert rc != 0
    assert "ResourceConflictException" in err
