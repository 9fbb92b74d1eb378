"""Shared helpers for the Isola end-to-end suite: server processes, zips, raw signed requests.

Imported by conftest.py and the test modules (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

REPO_ROOT = Path(__file__).resolve().parents[2]
ISOLA_BIN = Path(os.environ.get("ISOLA_BIN") or (REPO_ROOT / ".build" / "debug" / "isola"))
AWS_CLI = os.environ.get("AWS_CLI") or shutil.which("aws")

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/isola-e2e"
DUMMY_KEY = "AKIDISOLAE2E"
DUMMY_SECRET = "isola-e2e-secret"

LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
VALID_RUNTIMES = [
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "provided.al2", "provided.al2023",
]
TENANCY_REQUIRED = (
    "The invoked function is enabled with tenancy configuration. "
    "Add a valid tenant ID in your request and try again."
)
TENANCY_FORBIDDEN = (
    "The invoked function is not enabled with tenancy configuration. "
    "Remove the tenant ID from your request and try again."
)
CANNOT_UNZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def unique_name(prefix: str = "fn") -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", prefix)[:40]
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# Zips

_FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def make_zip(files: dict[str, bytes | str] | None = None, marker: str | None = None) -> bytes:
    """A small valid deployment package. `marker` changes the bytes (and so the CodeSha256)."""
    if files is None:
        files = {"app.py": "def handler(event, context):\n    return event\n"}
    if marker is not None:
        files = dict(files)
        files["marker.txt"] = marker
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, content)
    return buf.getvalue()


def zip_with_entry(info: zipfile.ZipInfo, content: bytes | str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(make_zip_info("app.py"), "def handler(e, c):\n    return e\n")
        zf.writestr(info, content)
    return buf.getvalue()


def make_zip_info(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = mode << 16
    return info


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.create_system = 3  # Unix, so external_attr carries the file type
    info.external_attr = (0o120777) << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def zip_bomb(unzipped_bytes: int = 270 * 1024 * 1024) -> bytes:
    """A ~270 KB zip whose single entry inflates to `unzipped_bytes` zeros, written in 1 MiB chunks."""
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(make_zip_info("zeros.bin"), "w", force_zip64=True) as out:
            remaining = unzipped_bytes
            while remaining > 0:
                n = min(remaining, len(chunk))
                out.write(chunk[:n])
                remaining -= n
    return buf.getvalue()


def big_zip(payload_bytes: int) -> bytes:
    """A stored (uncompressed) zip of random bytes: its size is about `payload_bytes`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(make_zip_info("app.py"), "def handler(e, c):\n    return e\n")
        info = make_zip_info("blob.bin")
        info.compress_type = zipfile.ZIP_STORED
        zf.writestr(info, os.urandom(payload_bytes))
    return buf.getvalue()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64_to_hex(sha_b64: str) -> str:
    return base64.b64decode(sha_b64).hex()


# --------------------------------------------------------------------------------------------------
# Raw HTTP


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def http_request(url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 30) -> RawResponse:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request(method, target, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def signed_request(
    endpoint: str,
    method: str,
    path: str,
    body: bytes | str | dict | None = None,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    access_key: str = DUMMY_KEY,
    secret_key: str = DUMMY_SECRET,
    region: str = REGION,
    service: str = "lambda",
    sign: bool = True,
    signed_at: datetime.datetime | None = None,
) -> RawResponse:
    """Sends one request signed with botocore's SigV4Auth (optionally as of `signed_at`, or unsigned)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    body = body or b""
    url = endpoint.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    hdrs = {"Content-Type": "application/json"} if body else {}
    hdrs.update(headers or {})
    request = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    if sign:
        auth = botocore.auth.SigV4Auth(botocore.credentials.Credentials(access_key, secret_key), service, region)
        if signed_at is not None:
            with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
                auth.add_auth(request)
        else:
            auth.add_auth(request)
    prepared = request.prepare()
    return http_request(prepared.url, method, body, dict(prepared.headers))


def client_error(exc) -> tuple[int, str, str]:
    """(HTTP status, Error.Code, Error.Message) of a botocore ClientError."""
    resp = exc.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"].get("Message", "")


# --------------------------------------------------------------------------------------------------
# Server processes


class ServerStartError(RuntimeError):
    pass


@dataclass
class IsolaServer:
    """One `isola serve` process. Restartable: start() again after stop()/kill() reuses the data dir."""

    data_dir: Path
    log_dir: Path
    host: str = "127.0.0.1"
    credentials: Path | None = None
    region: str | None = None
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    gateway_port: int = 0
    proc: subprocess.Popen | None = None
    starts: int = 0
    log_path: Path | None = None

    def command(self) -> list[str]:
        args = [
            str(ISOLA_BIN), "serve",
            "--host", self.host,
            "--port", str(self.port),
            "--gateway-port", str(self.gateway_port),
            "--data-dir", str(self.data_dir),
        ]
        if self.credentials is not None:
            args += ["--credentials", str(self.credentials)]
        if self.region is not None:
            args += ["--region", self.region]
        return args + list(self.extra_args)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    def spawn(self, keep_ports: bool = False) -> subprocess.Popen:
        """Starts the process without waiting for it to be healthy (on new free ports unless keep_ports)."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        if not (keep_ports and self.port):
            self.port, self.gateway_port = free_port(), free_port()
        self.starts += 1
        self.log_path = self.log_dir / f"isola-{self.port}-{self.starts}.log"
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        return self.proc

    def start(self, timeout: float = 60.0, keep_ports: bool = False) -> "IsolaServer":
        last_error = None
        for attempt in range(3):  # a free port can be taken between probing and binding; retry on early exit
            self.spawn(keep_ports=keep_ports and attempt == 0)
            try:
                self.wait_healthy(timeout)
                return self
            except ServerStartError as error:
                last_error = error
                if self.proc.poll() is None:
                    self.kill()
                    raise
        raise last_error

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"isola exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                resp = http_request(self.endpoint + "/health", timeout=2)
                if resp.status == 200 and resp.json.get("status") == "ok":
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.05)
        raise ServerStartError(f"isola did not become healthy within {timeout}s:\n{self.log_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, then SIGKILL. Returns the exit code (negative = killed by a signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill(self) -> int | None:
        """kill -9."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        return self.proc.returncode

    def restart(self, graceful: bool = True) -> "IsolaServer":
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def write_credentials(path: Path, profiles: dict[str, tuple[str, str]]) -> Path:
    lines = []
    for profile, (key, secret) in profiles.items():
        lines += [f"[{profile}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}", ""]
    path.write_text("\n".join(lines))
    return path


# --------------------------------------------------------------------------------------------------
# aws CLI


def cli_env(access_key: str = DUMMY_KEY, secret_key: str = DUMMY_SECRET, region: str = REGION) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        AWS_PAGER="",
    )
    return env


def run_aws(endpoint: str, *args: str, access_key: str = DUMMY_KEY, secret_key: str = DUMMY_SECRET,
            region: str = REGION, timeout: float = 120, cwd: str | None = None):
    """Runs `aws <args> --endpoint-url E --output json`; returns (rc, parsed JSON or stdout, stderr)."""
    if AWS_CLI is None:
        raise RuntimeError("the aws CLI was not found: set AWS_CLI or put aws on PATH")
    cmd = [AWS_CLI, *args, "--endpoint-url", endpoint, "--output", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=cli_env(access_key, secret_key, region), cwd=cwd)
    out = proc.stdout
    try:
        parsed = json.loads(out) if out.strip() else out
    except ValueError:
        parsed = out
    return proc.returncode, parsed, proc.stderr
