"""Shared fixtures of the Invoke suites (test_invoke.py, test_invoke_errors.py): each module gets its own sandbox
server, boto3 clients and helpers."""

from __future__ import annotations

import pytest

import e2e_support as s
import sandbox_support as sb
from botocore.exceptions import ClientError
@pytest.fixture(scope="module")
def server():
    with sb.running_server("isola-invoke-") as srv:
        yield srv


@pytest.fixture(scope="module")
def lam(server):
    return sb.client(server)


@pytest.fixture(scope="module")
def raw_lam(server):
    """No client-side validation: the server's own validation answers."""
    return sb.client(server, validate=False)


@pytest.fixture
def name(request):
    return s.unique_name(request.node.name.split("[")[0].removeprefix("test_").replace("_", "-"))


def cli(server, *args, cwd=None):
    if s.AWS_CLI is None:
        pytest.fail("aws CLI not found: set AWS_CLI or put aws on PATH", pytrace=False)
    return s.run_aws(server.endpoint, *args, cwd=cwd)


def expect_client_error(call, status, code, message=None):
    with pytest.raises(ClientError) as err:
        call()
    got = s.client_error(err.value)
    assert got[:2] == (status, code), got
    if message is not None:
        assert got[2] == message
    return got


def isola(*args, timeout=60):
    """Runs the `isola` client CLI with the dummy keys; returns the CompletedProcess."""
    import subprocess
    return subprocess.run([str(s.ISOLA_BIN), *args], capture_output=True, text=True, env={**s.cli_env(), "PATH": "/usr/bin:/bin"}, timeout=timeout)
