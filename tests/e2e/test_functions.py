"""Function lifecycle: CreateFunction, GetFunction(Configuration), ListFunctions, Update*, DeleteFunction."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import e2e_support as s


def strip_meta(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_create_function_returns_aws_shaped_configuration(lambda_client, fn_name):
    code = s.make_zip(marker=fn_name)
    resp = lambda_client.create_function(
        FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler", Code={"ZipFile": code}
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["FunctionName"] == fn_name
    assert resp["FunctionArn"] == s.function_arn(fn_name)
    assert resp["Runtime"] == "python3.12"
    assert resp["Role"] == s.ROLE
    assert resp["Handler"] == "app.handler"
    assert resp["CodeSha256"] == s.sha256_b64(code)
    assert resp["CodeSize"] == len(code)
    assert s.LAST_MODIFIED_RE.match(resp["LastModified"]), resp["LastModified"]
    assert resp["Version"] == "$LATEST"
    assert resp["Timeout"] == 3
    assert resp["MemorySize"] == 128
    assert resp["EphemeralStorage"] == {"Size": 512}
    assert resp["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{fn_name}"
    assert resp["LoggingConfig"]["LogFormat"] == "Text"
    assert resp["State"] == "Active"
    assert resp["LastUpdateStatus"] == "Successful"
    assert resp["PackageType"] == "Zip"
    assert resp["TracingConfig"] == {"Mode": "PassThrough"}
    assert resp["Description"] == ""
    assert isinstance(resp["RevisionId"], str) and resp["RevisionId"]
    assert resp["Architectures"] in (["x86_64"], ["arm64"])
    assert "TenancyConfig" not in resp


def test_get_function_and_configuration_match_create(lambda_client, create_function, fn_name):
    code = s.make_zip(marker=fn_name)
    created = strip_meta(create_function(fn_name, code))

    got = lambda_client.get_function(FunctionName=fn_name)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Configuration"] == created
    assert got["Code"]["RepositoryType"] == "S3"

    config = strip_meta(lambda_client.get_function_configuration(FunctionName=fn_name))
    assert config == created

    # By ARN, and by partial ARN with the $LATEST qualifier (AWS then returns the qualified ARN).
    by_arn = strip_meta(lambda_client.get_function_configuration(FunctionName=s.function_arn(fn_name)))
    assert by_arn == created
    latest = lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="$LATEST")
    assert latest["FunctionArn"] == s.function_arn(fn_name, "$LATEST")
    assert latest["CodeSha256"] == created["CodeSha256"]


def test_code_location_downloads_the_uploaded_zip_without_auth(lambda_client, create_function, fn_name):
    code = s.make_zip({"app.py": "def handler(e, c):\n    return 42\n", "lib/util.py": "X = 1\n"}, marker=fn_name)
    create_function(fn_name, code)
    location = lambda_client.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert location.startswith("http://")
    resp = s.http_request(location)  # no Authorization header: the URL is presigned
    assert resp.status == 200
    assert resp.body == code


def test_code_location_with_tampered_signature_is_refused(lambda_client, create_function, fn_name):
    create_function(fn_name)
    location = lambda_client.get_function(FunctionName=fn_name)["Code"]["Location"]
    assert "signature=" in location
    head, sig = location.rsplit("signature=", 1)
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    resp = s.http_request(head + "signature=" + flipped)
    assert resp.status in (403, 404)
    assert resp.body != s.make_zip(marker=fn_name)


def test_everyday_zip_layouts_are_accepted(lambda_client, create_function, fn_name):
    """Directory entries, './' prefixes, nested packages and an executable bootstrap are all normal."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(s.make_zip_info("lib/", 0o40755), "")
        zf.writestr(s.make_zip_info("lib/pkg/"), "")
        zf.writestr(s.make_zip_info("lib/pkg/__init__.py"), "")
        zf.writestr(s.make_zip_info("./app.py"), "def handler(e, c):\n    return e\n")
        zf.writestr(s.make_zip_info("bootstrap", 0o755), "#!/bin/sh\nexit 0\n")
        zf.writestr(s.make_zip_info("empty.txt"), "")
    code = buf.getvalue()
    created = create_function(fn_name, code)
    assert created["CodeSha256"] == s.sha256_b64(code)
    assert s.http_request(lambda_client.get_function(FunctionName=fn_name)["Code"]["Location"]).body == code


def test_get_function_without_tags_has_no_tags_member(lambda_client, create_function, fn_name):
    # AWS only returns Tags when the function has some.
    create_function(fn_name)
    assert "Tags" not in lambda_client.get_function(FunctionName=fn_name)


def test_get_function_of_a_version_still_returns_the_function_tags(lambda_client, create_function, fn_name):
    # Tags belong to the function; AWS (and LocalStack's parity-tested emulation) return them for any qualifier.
    create_function(fn_name, Tags={"team": "isola"}, Publish=True)
    assert lambda_client.get_function(FunctionName=fn_name)["Tags"] == {"team": "isola"}
    assert lambda_client.get_function(FunctionName=fn_name, Qualifier="1").get("Tags") == {"team": "isola"}


def test_create_with_every_setting_round_trips(lambda_client, fn_name):
    code = s.make_zip(marker=fn_name)
    resp = lambda_client.create_function(
        FunctionName=fn_name,
        Runtime="provided.al2023",
        Role=s.ROLE,
        Handler="bootstrap",
        Code={"ZipFile": code},
        Description="every setting",
        Timeout=900,
        MemorySize=10240,
        EphemeralStorage={"Size": 10240},
        Environment={"Variables": {"GREETING": "hello", "MODE": "e2e"}},
        TracingConfig={"Mode": "Active"},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/group"},
        Tags={"team": "isola", "env": "test"},
    )
    for config in (resp, lambda_client.get_function_configuration(FunctionName=fn_name)):
        assert config["Runtime"] == "provided.al2023"
        assert config["Handler"] == "bootstrap"
        assert config["Description"] == "every setting"
        assert config["Timeout"] == 900
        assert config["MemorySize"] == 10240
        assert config["EphemeralStorage"] == {"Size": 10240}
        assert config["Environment"] == {"Variables": {"GREETING": "hello", "MODE": "e2e"}}
        assert config["TracingConfig"] == {"Mode": "Active"}
        assert config["LoggingConfig"]["LogFormat"] == "JSON"
        assert config["LoggingConfig"]["LogGroup"] == "/custom/group"
        assert config["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
        assert config["LoggingConfig"]["SystemLogLevel"] == "INFO"
    assert lambda_client.get_function(FunctionName=fn_name)["Tags"] == {"team": "isola", "env": "test"}


def test_create_with_publish_creates_version_1(lambda_client, create_function, fn_name):
    resp = create_function(fn_name, Publish=True)
    assert resp["Version"] == "1"
    assert resp["FunctionArn"] == s.function_arn(fn_name, "1")
    versions = [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=fn_name)["Versions"]]
    assert versions == ["$LATEST", "1"]


def test_list_functions_pages_through_everything_exactly_once(lambda_client, create_function, fn_name):
    created = {f"{fn_name}-{i}" for i in range(5)}
    for name in sorted(created):
        create_function(name)

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lambda_client.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
        assert page["Functions"], "a page with a NextMarker must not be empty"
        assert pages < 10_000
    assert len(seen) == len(set(seen)), "a function was listed twice"
    assert created <= set(seen)
    assert pages >= 3

    # The paginator (what `aws lambda list-functions` uses) agrees.
    paginated = [
        f["FunctionName"]
        for page in lambda_client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3})
        for f in page["Functions"]
    ]
    assert sorted(paginated) == sorted(seen)


def test_list_functions_default_page_size_is_50(isola_factory, client_for, fn_name):
    server = isola_factory()
    client = client_for(server)
    for i in range(51):
        client.create_function(FunctionName=f"{fn_name}-{i:02d}", Runtime="python3.12", Role=s.ROLE,
                               Handler="app.handler", Code={"ZipFile": s.make_zip(marker=fn_name)})
    first = client.list_functions()
    assert len(first["Functions"]) == 50
    assert first.get("NextMarker")
    second = client.list_functions(Marker=first["NextMarker"])
    assert len(second["Functions"]) == 1
    assert not second.get("NextMarker")
    names = [f["FunctionName"] for f in first["Functions"] + second["Functions"]]
    assert sorted(names) == [f"{fn_name}-{i:02d}" for i in range(51)]


def test_list_functions_entries_are_latest_configurations(lambda_client, create_function, fn_name):
    created = strip_meta(create_function(fn_name))
    entries = [f for p in lambda_client.get_paginator("list_functions").paginate() for f in p["Functions"]
               if f["FunctionName"] == fn_name]
    assert len(entries) == 1
    assert entries[0]["FunctionArn"] == s.function_arn(fn_name)
    assert entries[0]["CodeSha256"] == created["CodeSha256"]
    assert entries[0]["Version"] == "$LATEST"


def test_list_functions_all_versions(lambda_client, create_function, fn_name):
    create_function(fn_name)
    lambda_client.publish_version(FunctionName=fn_name)

    def entries(**kwargs):
        return [f for p in lambda_client.get_paginator("list_functions").paginate(**kwargs) for f in p["Functions"]
                if f["FunctionName"] == fn_name]

    plain = entries()
    assert [e["Version"] for e in plain] == ["$LATEST"]
    every = entries(FunctionVersion="ALL")
    assert sorted(e["Version"] for e in every) == ["$LATEST", "1"]
    one = next(e for e in every if e["Version"] == "1")
    assert one["FunctionArn"] == s.function_arn(fn_name, "1")


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_list_functions_all_versions_paging(isola_factory, client_for, fn_name, page_size):
    client = client_for(isola_factory())
    expected = []
    for i, published in enumerate([0, 2, 1, 3]):
        name = f"{fn_name}-{i}"
        client.create_function(FunctionName=name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                               Code={"ZipFile": s.make_zip(marker=name)})
        expected.append((name, "$LATEST"))
        for v in range(published):
            client.update_function_configuration(FunctionName=name, Timeout=10 + v)
            client.publish_version(FunctionName=name)
            expected.append((name, str(v + 1)))
    seen, marker = [], None
    while True:
        kwargs = {"FunctionVersion": "ALL", "MaxItems": page_size}
        if marker:
            kwargs["Marker"] = marker
        page = client.list_functions(**kwargs)
        assert len(page["Functions"]) <= page_size
        seen += [(f["FunctionName"], f["Version"]) for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))


def test_update_function_code(lambda_client, create_function, fn_name):
    first = create_function(fn_name, s.make_zip(marker=fn_name + "-one"))
    new_code = s.make_zip({"app.py": "def handler(e, c):\n    return 'two'\n"}, marker=fn_name)

    updated = lambda_client.update_function_code(FunctionName=fn_name, ZipFile=new_code)
    assert updated["CodeSha256"] == s.sha256_b64(new_code)
    assert updated["CodeSize"] == len(new_code)
    assert updated["RevisionId"] != first["RevisionId"]
    assert updated["Version"] == "$LATEST"
    assert s.LAST_MODIFIED_RE.match(updated["LastModified"])
    assert updated["LastModified"] >= first["LastModified"]

    got = lambda_client.get_function(FunctionName=fn_name)
    assert got["Configuration"]["CodeSha256"] == s.sha256_b64(new_code)
    assert s.http_request(got["Code"]["Location"]).body == new_code


def test_update_function_code_dry_run_changes_nothing(lambda_client, create_function, fn_name):
    old_code = s.make_zip(marker=fn_name)
    before = strip_meta(create_function(fn_name, old_code))
    new_code = s.make_zip(marker=fn_name + "-new")
    preview = lambda_client.update_function_code(FunctionName=fn_name, ZipFile=new_code, DryRun=True)
    assert preview["CodeSha256"] == s.sha256_b64(new_code)
    after = strip_meta(lambda_client.get_function_configuration(FunctionName=fn_name))
    assert after == before
    assert s.http_request(lambda_client.get_function(FunctionName=fn_name)["Code"]["Location"]).body == old_code


def test_update_function_code_publish_and_revision_id(lambda_client, create_function, fn_name):
    created = create_function(fn_name)
    with pytest.raises(ClientError) as err:
        lambda_client.update_function_code(
            FunctionName=fn_name, ZipFile=s.make_zip(marker="x"), RevisionId="00000000-0000-0000-0000-000000000000"
        )
    assert s.client_error(err.value)[:2] == (412, "PreconditionFailedException")
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == created["CodeSha256"]

    code = s.make_zip(marker=fn_name + "-v1")
    published = lambda_client.update_function_code(
        FunctionName=fn_name, ZipFile=code, Publish=True, RevisionId=created["RevisionId"]
    )
    assert published["Version"] == "1"
    assert published["CodeSha256"] == s.sha256_b64(code)
    v1 = lambda_client.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert v1["CodeSha256"] == s.sha256_b64(code)


def test_update_function_configuration(lambda_client, create_function, fn_name):
    created = create_function(fn_name, Environment={"Variables": {"FIRST": "1"}})
    updated = lambda_client.update_function_configuration(
        FunctionName=fn_name,
        Timeout=30,
        MemorySize=512,
        Description="updated",
        Environment={"Variables": {"SECOND": "2"}},
        EphemeralStorage={"Size": 1024},
        RevisionId=created["RevisionId"],
    )
    assert updated["Timeout"] == 30
    assert updated["MemorySize"] == 512
    assert updated["Description"] == "updated"
    assert updated["Environment"] == {"Variables": {"SECOND": "2"}}
    assert updated["EphemeralStorage"] == {"Size": 1024}
    assert updated["RevisionId"] != created["RevisionId"]
    # Unchanged settings are kept.
    assert updated["Handler"] == created["Handler"]
    assert updated["Runtime"] == created["Runtime"]
    assert updated["CodeSha256"] == created["CodeSha256"]
    assert strip_meta(lambda_client.get_function_configuration(FunctionName=fn_name)) == strip_meta(updated)

    with pytest.raises(ClientError) as err:
        lambda_client.update_function_configuration(FunctionName=fn_name, Timeout=5, RevisionId=created["RevisionId"])
    assert s.client_error(err.value)[:2] == (412, "PreconditionFailedException")
    assert lambda_client.get_function_configuration(FunctionName=fn_name)["Timeout"] == 30


def test_delete_function(lambda_client, create_function, fn_name):
    create_function(fn_name)
    resp = lambda_client.delete_function(FunctionName=fn_name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lambda_client.get_function(FunctionName=fn_name)
    status, code, message = s.client_error(err.value)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Function not found: {s.function_arn(fn_name)}"
    names = [f["FunctionName"] for p in lambda_client.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert fn_name not in names
    # The name is free again.
    recreated = lambda_client.create_function(
        FunctionName=fn_name, Runtime="python3.13", Role=s.ROLE, Handler="app.handler",
        Code={"ZipFile": s.make_zip(marker="again")},
    )
    assert recreated["Runtime"] == "python3.13"


# --------------------------------------------------------------------------------------------------
# The same lifecycle through the real aws CLI


def test_cli_function_lifecycle(aws_cli, lambda_client, fn_name, tmp_path):
    code = s.make_zip(marker=fn_name)
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(code)

    rc, created, err = aws_cli(
        "lambda", "create-function", "--function-name", fn_name, "--runtime", "python3.12",
        "--role", s.ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}",
        "--environment", "Variables={KEY1=VAL1}",
    )
    assert rc == 0, err
    assert created["FunctionArn"] == s.function_arn(fn_name)
    assert created["CodeSha256"] == s.sha256_b64(code)
    assert created["Environment"] == {"Variables": {"KEY1": "VAL1"}}
    assert created["State"] == "Active"

    rc, config, err = aws_cli("lambda", "get-function-configuration", "--function-name", fn_name)
    assert rc == 0, err
    assert config["CodeSha256"] == s.sha256_b64(code)
    assert config["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{fn_name}"

    rc, listed, err = aws_cli("lambda", "list-functions")
    assert rc == 0, err
    assert fn_name in [f["FunctionName"] for f in listed["Functions"]]

    rc, updated, err = aws_cli("lambda", "update-function-configuration", "--function-name", fn_name,
                               "--timeout", "10", "--memory-size", "256")
    assert rc == 0, err
    assert (updated["Timeout"], updated["MemorySize"]) == (10, 256)

    new_code = s.make_zip(marker=fn_name + "-2")
    zip_path.write_bytes(new_code)
    rc, updated, err = aws_cli("lambda", "update-function-code", "--function-name", fn_name,
                               "--zip-file", f"fileb://{zip_path}", "--publish")
    assert rc == 0, err
    assert updated["CodeSha256"] == s.sha256_b64(new_code)
    assert updated["Version"] == "1"

    rc, got, err = aws_cli("lambda", "get-function", "--function-name", fn_name)
    assert rc == 0, err
    assert s.http_request(got["Code"]["Location"]).body == new_code

    rc, out, err = aws_cli("lambda", "delete-function", "--function-name", fn_name)
    assert rc == 0, err

    rc, out, err = aws_cli("lambda", "get-function", "--function-name", fn_name)
    assert rc != 0
    assert "ResourceNotFoundException" in err
    assert f"Function not found: {s.function_arn(fn_name)}" in err
