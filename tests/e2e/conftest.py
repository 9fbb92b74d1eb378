"""Fixtures for the Isola end-to-end suite.

Every test talks to a real `isola serve` process over HTTP, through boto3, the aws CLI, or raw SigV4-signed
requests. Environment:
  ISOLA_BIN  the isola binary (default: <repo>/.build/debug/isola)
  AWS_CLI    the aws CLI (default: `aws` on PATH)
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

import e2e_support as s


def _require_binary() -> None:
    if not s.ISOLA_BIN.is_file():
        pytest.fail(f"isola binary not found at {s.ISOLA_BIN}: run `swift build` in {s.REPO_ROOT} or set ISOLA_BIN", pytrace=False)


def make_lambda_client(endpoint: str, *, access_key: str = s.DUMMY_KEY, secret_key: str = s.DUMMY_SECRET,
                       region: str = s.REGION, validate: bool = True):
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            retries={"max_attempts": 1},
            connect_timeout=10,
            read_timeout=120,
            parameter_validation=validate,
        ),
    )


@pytest.fixture(scope="session")
def isola(tmp_path_factory):
    """The shared server: loopback, no credentials, its own temporary data dir."""
    _require_binary()
    root = tmp_path_factory.mktemp("isola-session")
    server = s.IsolaServer(data_dir=root / "data", log_dir=root)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def isola_factory(tmp_path):
    """Starts extra servers (each with its own data dir unless given one); stops them all at the end."""
    _require_binary()
    servers: list[s.IsolaServer] = []

    def start(*, data_dir=None, start=True, **kwargs) -> s.IsolaServer:
        index = len(servers)
        server = s.IsolaServer(data_dir=data_dir or (tmp_path / f"data-{index}"), log_dir=tmp_path, **kwargs)
        servers.append(server)
        if start:
            server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def client_for():
    """client_for(server_or_endpoint, access_key=..., secret_key=..., region=..., validate=True)."""

    def build(target, **kwargs):
        endpoint = target.endpoint if isinstance(target, s.IsolaServer) else target
        return make_lambda_client(endpoint, **kwargs)

    return build


@pytest.fixture(scope="session")
def lambda_client(isola):
    return make_lambda_client(isola.endpoint)


@pytest.fixture(scope="session")
def raw_client(isola):
    """A boto3 client without client-side parameter validation, so the server's validation is what answers."""
    return make_lambda_client(isola.endpoint, validate=False)


@pytest.fixture(scope="session")
def aws_cli(isola):
    """aws_cli(*args, endpoint=None, access_key=..., secret_key=..., region=...) -> (rc, json-or-stdout, stderr)."""
    if s.AWS_CLI is None:
        pytest.fail("aws CLI not found: set AWS_CLI or put aws on PATH", pytrace=False)

    def run(*args, endpoint=None, **kwargs):
        return s.run_aws(endpoint or isola.endpoint, *args, **kwargs)

    return run


@pytest.fixture
def fn_name(request):
    """A function name unique to this test."""
    return s.unique_name(request.node.name.split("[")[0].removeprefix("test_").replace("_", "-"))


@pytest.fixture
def create_function(lambda_client):
    """create_function(name, zip=None, client=None, **params) -> CreateFunction response (ResponseMetadata kept)."""

    def create(name, zip_bytes=None, client=None, **params):
        args = dict(
            FunctionName=name,
            Runtime="python3.12",
            Role=s.ROLE,
            Handler="app.handler",
            Code={"ZipFile": zip_bytes if zip_bytes is not None else s.make_zip(marker=name)},
        )
        args.update(params)
        return (client or lambda_client).create_function(**args)

    return create
