"""Helpers for suites that really run functions (Invoke) in the crun sandbox backend.

Shared by tests/e2e/test_invoke.py and tests/security (which puts this folder on sys.path).

Two facts of the real backend shape these helpers:
  * the server must find the static agent and awslambdaric: it is started with `--runtime-dir <repo>/runtime`
    (an absolute path, so the test's working directory does not matter);
  * the sandbox's mapped root must traverse every folder above the data dir (crun mounts the shared rootfs from
    there). pytest's tmp_path lives under /tmp/pytest-of-root, which is 0700, so these servers get a data dir
    under a fresh 0711 folder in /tmp instead. test_invoke.py has a test for the 0700 case on its own.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

import e2e_support as s

RUNTIME_DIR = s.REPO_ROOT / "runtime"
PER_TENANT = {"TenantIsolationMode": "PER_TENANT"}
STREAM_RE = re.compile(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$")


def traversable_tmpdir(prefix: str) -> Path:
    """A fresh folder under /tmp that every uid may traverse (0711) but not list."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    return path


class SandboxServer(s.IsolaServer):
    """An IsolaServer that always passes the repository's runtime dir."""

    def command(self) -> list[str]:
        args = super().command()
        if "--runtime-dir" not in args:
            args += ["--runtime-dir", str(RUNTIME_DIR)]
        return args


@contextlib.contextmanager
def running_server(prefix: str, extra_args: list[str] | None = None, env: dict[str, str] | None = None):
    """Starts a sandbox server in a traversable temp dir; stops it and removes the dir afterwards."""
    if not s.ISOLA_BIN.is_file():
        raise RuntimeError(f"isola binary not found at {s.ISOLA_BIN}: run `swift build` or set ISOLA_BIN")
    if not (RUNTIME_DIR / "agent").is_file():
        raise RuntimeError(f"the sandbox agent is missing at {RUNTIME_DIR / 'agent'}: run scripts/setup")
    root = traversable_tmpdir(prefix)
    server = SandboxServer(data_dir=root / "data", log_dir=root, extra_args=list(extra_args or []))
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        server.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield server
    finally:
        server.stop()
        log = server.log_text()
        if log:
            # Keep the server log beside the suite's output for post-mortems; the data dir goes.
            dump = Path(tempfile.gettempdir()) / f"{prefix}last.log"
            dump.write_text(log)
        shutil.rmtree(root, ignore_errors=True)


def client(server: s.IsolaServer, *, validate: bool = True, read_timeout: float = 120):
    """A boto3 Lambda client for `server` (same settings as the e2e conftest's clients)."""
    return boto3.client(
        "lambda", endpoint_url=server.endpoint, region_name=s.REGION,
        aws_access_key_id=s.DUMMY_KEY, aws_secret_access_key=s.DUMMY_SECRET,
        config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=read_timeout,
                      parameter_validation=validate),
    )


def health(server: s.IsolaServer) -> dict:
    resp = s.http_request(server.endpoint + "/health", timeout=5)
    assert resp.status == 200, resp.body
    return resp.json


def code_zip(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = s.make_zip_info(name, 0o755 if name in executable else 0o644)
            info.create_system = 3
            zf.writestr(info, content)
    return buf.getvalue()


def create(lambda_client, name: str, code: str | dict[str, str], *, wait: bool = True, **params) -> dict:
    files = {"app.py": code} if isinstance(code, str) else code
    args = dict(FunctionName=name, Runtime="python3.12", Role=s.ROLE, Handler="app.handler",
                Code={"ZipFile": code_zip(files, executable=tuple(params.pop("executable", ())))})
    args.update(params)
    created = lambda_client.create_function(**args)
    if wait:
        wait_active(lambda_client, name)
    return created


def wait_active(lambda_client, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        config = lambda_client.get_function_configuration(FunctionName=name)
        if config.get("State", "Active") == "Active" and config.get("LastUpdateStatus", "Successful") == "Successful":
            return config
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not active: {config.get('State')} {config.get('LastUpdateStatus')}")
        time.sleep(0.05)


class Result:
    """One Invoke answer: status, headers, decoded payload."""

    def __init__(self, resp: dict):
        self.raw = resp
        self.status = resp["StatusCode"]
        self.function_error = resp.get("FunctionError")
        self.executed_version = resp.get("ExecutedVersion")
        self.headers = resp["ResponseMetadata"]["HTTPHeaders"]
        self.request_id = resp["ResponseMetadata"]["RequestId"]
        self.body = resp["Payload"].read()
        self.log = base64.b64decode(resp["LogResult"]).decode("utf-8", "replace") if resp.get("LogResult") else None

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"Result(status={self.status}, error={self.function_error}, body={self.body[:2000]!r}, log={self.log!r})"


def invoke(lambda_client, name: str, event=None, *, tenant: str | None = None, **params) -> Result:
    args = dict(FunctionName=name)
    if event is not None:
        args["Payload"] = event if isinstance(event, (bytes, str)) else json.dumps(event)
    if tenant is not None:
        args["TenantId"] = tenant
    args.update(params)
    return Result(lambda_client.invoke(**args))


def ok(result: Result):
    """The decoded payload of a successful invocation (fails with the whole answer otherwise)."""
    assert result.status == 200 and result.function_error is None, result
    return result.json


# A handler that counts invocations in a module global and names its environment.
COUNTER_HANDLER = """
import os, time
COUNT = 0
IDENTITY = f"{os.getpid()}-{id(os)}-{time.time_ns()}"

def handler(event, context):
    global COUNT
    COUNT += 1
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    return {
        "count": COUNT,
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "identity": IDENTITY,
        "tenant": context.tenant_id,
        "event": event,
    }
"""
