"""What a server leaves on the host: nothing after SIGTERM, and nothing once it restarted after kill -9.

The things a sandbox owns on the host: a crun container (crun's state under <data>/sandbox/crun), a cgroup in
every controller (/sys/fs/cgroup/<controller>/isola/<instance>/<id>), a loop-mounted /tmp volume, the shared
root under /run/isola-<instance>, a bundle under <data>/sandbox/bundles, and processes.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from pathlib import Path

import pytest

import e2e_support as s
import sandbox_support as sb

COUNTER = sb.COUNTER_HANDLER


def leftovers(data_dir: Path) -> dict[str, list[str]]:
    """Everything of this data dir's server still on the host (mounts, crun containers, bundles, /tmp volumes)."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if str(data_dir) in line]
    state = data_dir / "sandbox"
    listing = lambda sub: os.listdir(state / sub) if (state / sub).is_dir() else []
    return {"mounts": mounts, "containers": listing("crun"), "bundles": listing("bundles"), "volumes": listing("scratch")}


def instance_of(data_dir: Path) -> str:
    """The server's instance name: FNV-1a (64-bit) of its data dir path, 12 hex digits (IsolaServer.socketRoot)."""
    value = 14695981039346656037
    for byte in str(data_dir).encode():
        value = ((value ^ byte) * 1099511628211) % (1 << 64)
    return format(value, "x")[:12]


def instance_cgroups(instance: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/isola/{instance}/*/") + glob.glob(f"/sys/fs/cgroup/*/isola/{instance}")


def holders_of(server_pid: int) -> list[int]:
    """The server's mount namespace holder (hybrid cgroup hosts keep one idle `head` reading a pipe for crun)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[:3]
            ppid = int(Path(f"/proc/{entry}/stat").read_text().split(")")[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if cmdline == [b"/usr/bin/head", b"-c", b"1"] and ppid == server_pid:
            found.append(int(entry))
    return found


def gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def start_with_environments(prefix: str, tenants: int = 3):
    context = sb.running_server(prefix)
    server = context.__enter__()
    lam = sb.client(server)
    sb.create(lam, "fn", COUNTER, Runtime="python3.11", TenancyConfig=sb.PER_TENANT)
    for tenant in range(tenants):
        sb.ok(sb.invoke(lam, "fn", {}, tenant=f"t{tenant}"))
    return context, server


def test_sigterm_leaves_no_sandbox_cgroup_mount_socket_or_bundle():
    context, server = start_with_environments("isola-lifecycle-term-")
    try:
        instance = instance_of(server.data_dir)
        assert instance_cgroups(instance), "the running server has environments with cgroups"
        assert os.path.isdir(f"/run/isola-{instance}")
        assert leftovers(server.data_dir)["mounts"], "the running server has /tmp volumes mounted"
        holders = holders_of(server.proc.pid)
        if "hybrid" in s.http_request(server.endpoint + "/health").json["sandbox"]:
            assert len(holders) == 1, "a hybrid host's server keeps crun's mount namespace in one holder process"
        assert server.stop() == 0
        assert gone(holders), "the mount namespace holder stops with the server"
        left = leftovers(server.data_dir)
        assert left["mounts"] == [] and left["containers"] == [] and left["bundles"] == [] and left["volumes"] == [], left
        assert not os.path.exists(f"/run/isola-{instance}"), "the shared-root folder is removed"
        assert instance_cgroups(instance) == [], "no cgroup of this server remains"
        ps = subprocess.run(["pgrep", "-f", f"{instance}"], capture_output=True, text=True)
        assert ps.stdout.strip() == ""
    finally:
        context.__exit__(None, None, None)


def test_restart_after_kill_9_sweeps_what_the_crash_left():
    context, server = start_with_environments("isola-lifecycle-kill-")
    try:
        assert leftovers(server.data_dir)["mounts"], "environments are running"
        crashed_holders = holders_of(server.proc.pid)
        server.kill()
        assert gone(crashed_holders), "the mount namespace holder ends with the server, even on kill -9"
        server.start(keep_ports=True)
        left = leftovers(server.data_dir)
        # Only what the restarted server prepared ahead itself (its /tmp pool) may be mounted; no container,
        # bundle or environment of the crashed run survives, and the function still runs for every tenant.
        assert left["containers"] == [] and left["bundles"] == [], left
        lam = sb.client(server)
        for tenant in range(3):
            sb.ok(sb.invoke(lam, "fn", {}, tenant=f"t{tenant}"))
        holders = holders_of(server.proc.pid)
        assert server.stop() == 0
        assert gone(holders)
        left = leftovers(server.data_dir)
        assert left["mounts"] == [] and left["containers"] == [] and left["bundles"] == [] and left["volumes"] == [], left
    finally:
        context.__exit__(None, None, None)
