"""Durability: graceful restart, kill -9, the start-up sweep of code blobs, and kill -9 during CreateFunction.

Everything acknowledged before a stop (graceful or SIGKILL) must be there after a restart on the same data dir,
and nothing half-written may survive: a function exists completely (metadata and a blob with its CodeSha256)
or not at all, and DATA_DIR/code holds exactly the blobs that some version references.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from botocore.exceptions import ClientError

import e2e_support as s
from conftest import make_lambda_client

PER_TENANT = {"TenantIsolationMode": "PER_TENANT"}


def strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "ResponseMetadata"}


def function_names(client) -> list[str]:
    return sorted(f["FunctionName"] for p in client.get_paginator("list_functions").paginate() for f in p["Functions"])


def snapshot(client) -> dict:
    """Everything the API says about every function, with code bytes instead of (port-bearing) URLs."""
    state = {}
    for name in function_names(client):
        got = client.get_function(FunctionName=name)
        versions = [strip(v) for p in client.get_paginator("list_versions_by_function").paginate(FunctionName=name)
                    for v in p["Versions"]]
        aliases = [strip(a) for a in client.list_aliases(FunctionName=name)["Aliases"]]
        codes = {}
        for v in versions:
            loc = client.get_function(FunctionName=name, Qualifier=v["Version"])["Code"]["Location"]
            codes[v["Version"]] = s.http_request(loc).body
        state[name] = {
            "configuration": got["Configuration"],
            "tags": got.get("Tags"),
            "concurrency": got.get("Concurrency"),
            "versions": versions,
            "aliases": aliases,
            "code": codes,
        }
    settings = strip(client.get_account_settings())
    return {"functions": state, "account": settings}


def referenced_blobs(client) -> set[str]:
    return {
        s.b64_to_hex(f["CodeSha256"]) + ".zip"
        for p in client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
        for f in p["Functions"]
    }


def blob_files(server) -> set[str]:
    return set(os.listdir(server.code_dir))


def populate(client, prefix: str) -> dict[str, bytes]:
    """A varied data set: versions, aliases with routing, tags, env, tenancy, concurrency, a deleted function."""
    zips = {}
    a, b, c, d = (f"{prefix}-a", f"{prefix}-b", f"{prefix}-c", f"{prefix}-d")
    zips[a] = s.make_zip(marker=a + "-1")
    client.create_function(FunctionName=a, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": zips[a]}, Environment={"Variables": {"STAGE": "one"}},
                           Tags={"team": "isola"}, TenancyConfig=PER_TENANT, Timeout=10)
    client.publish_version(FunctionName=a, Description="v1")
    zips[a] = s.make_zip(marker=a + "-2")
    client.update_function_code(FunctionName=a, ZipFile=zips[a])
    client.update_function_configuration(FunctionName=a, MemorySize=512, Environment={"Variables": {"STAGE": "two"}})
    client.publish_version(FunctionName=a)
    client.create_alias(FunctionName=a, Name="live", FunctionVersion="2", Description="prod",
                        RoutingConfig={"AdditionalVersionWeights": {"1": 0.2}})
    client.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=7)
    client.tag_resource(Resource=s.function_arn(a), Tags={"extra": "yes"})

    zips[b] = s.make_zip(marker=b)
    client.create_function(FunctionName=b, Runtime="provided.al2023", Role=s.ROLE, Handler="bootstrap",
                           Code={"ZipFile": zips[b]}, LoggingConfig={"LogFormat": "JSON"})

    client.create_function(FunctionName=c, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": s.make_zip(marker=c)})
    client.delete_function(FunctionName=c)

    # Same bytes as b: one blob, two references.
    zips[d] = zips[b]
    client.create_function(FunctionName=d, Runtime="python3.11", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": zips[d]}, Publish=True)
    return zips


def assert_consistent(client, server):
    files = blob_files(server)
    assert not [f for f in files if f.startswith(".tmp-")], f"temporary files left: {files}"
    assert files == referenced_blobs(client), "code dir must hold exactly the referenced blobs"


def test_graceful_restart_loses_nothing(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    zips = populate(client, fn_name)
    before = snapshot(client)
    assert set(before["functions"]) == {f"{fn_name}-a", f"{fn_name}-b", f"{fn_name}-d"}

    assert server.stop() == 0, "SIGTERM must shut down cleanly (exit 0):\n" + server.log_tail()
    server.start()
    client = make_lambda_client(server.endpoint)
    after = snapshot(client)
    assert after == before
    assert after["functions"][f"{fn_name}-a"]["code"]["$LATEST"] == zips[f"{fn_name}-a"]
    assert after["functions"][f"{fn_name}-a"]["configuration"]["TenancyConfig"] == PER_TENANT
    assert_consistent(client, server)

    # The restarted server keeps working on the same data: numbering and name reservations continue.
    client.update_function_configuration(FunctionName=f"{fn_name}-a", Timeout=11)
    assert client.publish_version(FunctionName=f"{fn_name}-a")["Version"] == "3"
    with pytest.raises(ClientError) as err:
        client.create_function(FunctionName=f"{fn_name}-b", Runtime="python3.12", Role=s.ROLE,
                               Handler="app.handler", Code={"ZipFile": s.make_zip()})
    assert s.client_error(err.value)[1] == "ResourceConflictException"


def test_sigint_restart_loses_nothing(isola_factory, fn_name):
    import signal

    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    populate(client, fn_name)
    before = snapshot(client)
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(15) == 0, server.log_tail()
    server.start()
    assert snapshot(make_lambda_client(server.endpoint)) == before


def test_kill_9_restart_loses_nothing_acknowledged(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    populate(client, fn_name)
    # A burst of acknowledged writes, the last one immediately followed by SIGKILL.
    for i in range(5):
        client.create_function(FunctionName=f"{fn_name}-burst{i}", Runtime="python3.12", Role=s.ROLE,
                               Handler="app.handler", Code={"ZipFile": s.make_zip(marker=f"{fn_name}-burst{i}")})
    client.update_function_configuration(FunctionName=f"{fn_name}-burst0", Description="last write")
    before = snapshot(client)
    server.kill()

    server.start()
    client = make_lambda_client(server.endpoint)
    after = snapshot(client)
    assert after == before
    assert after["functions"][f"{fn_name}-burst0"]["configuration"]["Description"] == "last write"
    assert_consistent(client, server)


def test_startup_sweeps_orphans_and_keeps_referenced_blobs(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    zips = populate(client, fn_name)
    before = snapshot(client)
    referenced = referenced_blobs(client)
    assert blob_files(server) == referenced
    server.stop()

    orphan = server.code_dir / (s.sha256_hex(b"nobody references me") + ".zip")
    orphan.write_bytes(s.make_zip(marker="orphan"))
    tmp = server.code_dir / ".tmp-x"
    tmp.write_bytes(b"half a blob")
    tmp_uuid = server.code_dir / ".tmp-3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    tmp_uuid.write_bytes(b"")

    server.start()
    assert not orphan.exists(), "the unreferenced blob must be swept at start-up"
    assert not tmp.exists() and not tmp_uuid.exists(), "temporary files must be swept at start-up"
    assert blob_files(server) == referenced
    client = make_lambda_client(server.endpoint)
    assert snapshot(client) == before
    assert snapshot(client)["functions"][f"{fn_name}-b"]["code"]["$LATEST"] == zips[f"{fn_name}-b"]


def test_deletes_collect_unreferenced_blobs(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    populate(client, fn_name)
    assert_consistent(client, server)
    client.delete_function(FunctionName=f"{fn_name}-b")  # its blob is still used by -d
    assert_consistent(client, server)
    client.delete_alias(FunctionName=f"{fn_name}-a", Name="live")
    client.delete_function(FunctionName=f"{fn_name}-a", Qualifier="1")
    assert_consistent(client, server)
    client.delete_function(FunctionName=f"{fn_name}-a")
    client.delete_function(FunctionName=f"{fn_name}-d")
    assert_consistent(client, server)
    assert blob_files(server) == set()


# --------------------------------------------------------------------------------------------------
# kill -9 in the middle of a CreateFunction of a big package


def _wait_for(predicate, done: threading.Event, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done.is_set():
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


@pytest.mark.parametrize("phase", ["uploading", "blob-tmp-file", "blob-in-place", "just-acknowledged"])
def test_kill_9_during_create_function(isola_factory, fn_name, phase):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    baseline = s.make_zip(marker=fn_name + "-baseline")
    client.create_function(FunctionName=fn_name + "-baseline", Runtime="python3.12", Role=s.ROLE,
                           Handler="app.handler", Code={"ZipFile": baseline})

    name = fn_name + "-big"
    code = s.big_zip(40 * 1024 * 1024)
    digest_b64, blob_name = s.sha256_b64(code), s.sha256_hex(code) + ".zip"
    outcome: dict = {}
    done = threading.Event()

    def create():
        try:
            outcome["response"] = make_lambda_client(server.endpoint).create_function(
                FunctionName=name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler", Code={"ZipFile": code})
        except Exception as error:  # connection reset by the kill, most of the time
            outcome["error"] = error
        finally:
            done.set()

    worker = threading.Thread(target=create, daemon=True)
    worker.start()
    hit = True
    if phase == "uploading":
        done.wait(0.3)
    elif phase == "blob-tmp-file":
        hit = _wait_for(lambda: any(f.startswith(".tmp-") for f in os.listdir(server.code_dir)), done)
    elif phase == "blob-in-place":
        hit = _wait_for(lambda: (server.code_dir / blob_name).exists(), done)
    else:
        done.wait(60)
    server.kill()
    acknowledged_before_kill = "response" in outcome
    worker.join(60)
    assert not worker.is_alive()

    server.start()
    client = make_lambda_client(server.endpoint)
    try:
        got = client.get_function(FunctionName=name)
    except ClientError as error:
        assert s.client_error(error)[1] == "ResourceNotFoundException"
        assert "response" not in outcome, "CreateFunction was acknowledged, then lost by kill -9"
        exists = False
    else:
        exists = True
        assert got["Configuration"]["CodeSha256"] == digest_b64
        assert got["Configuration"]["CodeSize"] == len(code)
        assert s.http_request(got["Code"]["Location"]).body == code
    if "response" in outcome:
        assert exists and outcome["response"]["CodeSha256"] == digest_b64
    # The baseline is untouched, and the code dir holds exactly the referenced blobs.
    assert client.get_function_configuration(FunctionName=fn_name + "-baseline")["CodeSha256"] == s.sha256_b64(baseline)
    assert_consistent(client, server)
    assert (blob_name in blob_files(server)) == exists
    print(f"phase={phase} window-hit={hit} acknowledged-before-kill={acknowledged_before_kill} survived={exists}")

    # What a client does next: retry the create. It either succeeds now or finds the function already there.
    try:
        retried = client.create_function(FunctionName=name, Runtime="python3.12", Role=s.ROLE,
                                         Handler="app.handler", Code={"ZipFile": code})
        assert not exists
        assert retried["CodeSha256"] == digest_b64
    except ClientError as error:
        assert exists
        assert s.client_error(error)[1] == "ResourceConflictException"
    assert client.get_function_configuration(FunctionName=name)["CodeSha256"] == digest_b64
    assert_consistent(client, server)


def test_code_location_issued_before_a_restart_still_works(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    code = s.make_zip(marker=fn_name)
    client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": code})
    location = client.get_function(FunctionName=fn_name)["Code"]["Location"]
    port = server.port
    server.stop()
    server.start(keep_ports=True)
    if server.port != port:
        pytest.skip("the old port was taken by another process meanwhile")
    assert s.http_request(location).body == code


# --------------------------------------------------------------------------------------------------
# Concurrent writers: the store's transactions decide exactly one winner


def _parallel(n, fn):
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            results[i] = ("ok", fn(i))
        except ClientError as error:
            results[i] = ("error", s.client_error(error))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_parallel_creates_of_one_name_have_one_winner(isola_factory, fn_name):
    server = isola_factory()
    zips = [s.make_zip(marker=f"{fn_name}-{i}") for i in range(8)]
    clients = [make_lambda_client(server.endpoint) for _ in range(8)]
    results = _parallel(8, lambda i: clients[i].create_function(
        FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler", Code={"ZipFile": zips[i]}))
    winners = [i for i, r in enumerate(results) if r[0] == "ok"]
    assert len(winners) == 1, results
    for i, r in enumerate(results):
        if i not in winners:
            assert r == ("error", (409, "ResourceConflictException", f"Function already exist: {fn_name}")), r
    client = make_lambda_client(server.endpoint)
    assert client.get_function_configuration(FunctionName=fn_name)["CodeSha256"] == s.sha256_b64(zips[winners[0]])
    assert_consistent(client, server)


def test_parallel_updates_with_one_revision_id_have_one_winner(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    revision = client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                                      Code={"ZipFile": s.make_zip(marker=fn_name)})["RevisionId"]
    clients = [make_lambda_client(server.endpoint) for _ in range(6)]
    results = _parallel(6, lambda i: clients[i].update_function_configuration(
        FunctionName=fn_name, Timeout=10 + i, RevisionId=revision))
    winners = [i for i, r in enumerate(results) if r[0] == "ok"]
    assert len(winners) == 1, results
    assert all(r[1][:2] == (412, "PreconditionFailedException") for r in results if r[0] == "error"), results
    assert client.get_function_configuration(FunctionName=fn_name)["Timeout"] == 10 + winners[0]


def test_parallel_publishes_number_versions_uniquely(isola_factory, fn_name):
    server = isola_factory()
    client = make_lambda_client(server.endpoint)
    client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                           Code={"ZipFile": s.make_zip(marker=fn_name)})
    clients = [make_lambda_client(server.endpoint) for _ in range(6)]
    results = _parallel(6, lambda i: clients[i].publish_version(FunctionName=fn_name)["Version"])
    assert all(r[0] == "ok" for r in results), results
    # $LATEST did not change between the calls: all of them get the one version published.
    assert {r[1] for r in results} == {"1"}
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=fn_name)["Versions"]]
    assert versions == ["$LATEST", "1"]
