"""Fixtures for the hostile-tenant suite: one real `isola serve` (crun backend) shared by the whole suite.

The e2e helpers (tests/e2e/e2e_support.py, sandbox_support.py) are imported from their folder.
Tenant A attacks; tenant B of the same function, warmed before each attack and holding its own secrets, must come
through every attack with the same warm environment and its secrets intact, and the server must stay healthy.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sandbox_support as sb  # noqa: E402
import hostile  # noqa: E402

from hostile import CANARY  # noqa: E402


@pytest.fixture(scope="session")
def server():
    with sb.running_server("isola-security-", env={"ISOLA_SECURITY_CANARY": CANARY}) as srv:
        yield srv


@pytest.fixture(scope="session")
def lam(server):
    return sb.client(server)


@pytest.fixture(scope="session")
def functions(lam):
    """victim: PER_TENANT, 128 MB (tenants A and B); other: a second PER_TENANT function with its own code;
    roomy: 1024 MB, so that a fork bomb meets the pids limit before the memory limit."""
    suffix = secrets.token_hex(4)
    names = {"victim": f"victim-{suffix}", "other": f"other-{suffix}", "roomy": f"roomy-{suffix}"}
    sb.create(lam, names["victim"], hostile.CODE, MemorySize=128, Timeout=10, TenancyConfig=sb.PER_TENANT)
    sb.create(lam, names["other"], {"app.py": hostile.CODE, "other_function_secret.py": f"SECRET = '{suffix}'\n"},
              MemorySize=128, Timeout=10, TenancyConfig=sb.PER_TENANT)
    sb.create(lam, names["roomy"], hostile.CODE, MemorySize=1024, Timeout=20, EphemeralStorage={"Size": 512},
              TenancyConfig=sb.PER_TENANT)
    return names


@pytest.fixture(scope="session")
def tenant_b(lam, functions):
    """Tenant B of the victim function, with a secret in /tmp and in a module global, warmed once."""
    secret = "B-secret-" + secrets.token_hex(8)
    body = hostile.call(lam, functions["victim"], "B", "plant", secret=secret)
    return {"secret": secret, "stream": body["stream"]}


@pytest.fixture
def bystander(server, lam, functions, tenant_b):
    """Checks, after the test, that tenant B and the server came through unharmed."""
    before = hostile.call(lam, functions["victim"], "B", "ping")
    assert before["stream"] == tenant_b["stream"]
    yield tenant_b
    assert server.running(), f"the server died:\n{server.log_tail()}"
    health = sb.health(server)
    assert health["status"] == "ok" and "crun" in health["sandbox"]
    after = hostile.call(lam, functions["victim"], "B", "ping")
    assert after["stream"] == tenant_b["stream"], "tenant B lost its warm environment"
    assert after["count"] > before["count"]
    assert after["global_secret"] == tenant_b["secret"] and after["tmp_secret"] == tenant_b["secret"]


@pytest.fixture
def tenant_a(request):
    """A tenant id of its own for each attack, so one attack's wreckage never meets the next."""
    return "A-" + request.node.name.split("[")[0].removeprefix("test_")[:40].replace("_", "-") + "-" + secrets.token_hex(3)
