"""A hostile tenant against the real crun backend.

Threat model: tenant A of a PER_TENANT function runs arbitrary code. It must not read or disturb tenant B (same
function) or another function, the host's files, the server, the host network or the outside world, and it must not
gain privileges. Each test attacks from a fresh environment of A, asserts the exact refusal, and (through the
`bystander` fixture) that tenant B kept its warm environment and its secrets and that /health still answers.
Never weaken an assertion here to make a test pass: a failure is a finding.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import e2e_support as s
import sandbox_support as sb
from hostile import CANARY, call, call_raw, describe, host_ipv4_addresses, host_pids_with_env, host_status, stream_env

DENIED = {errno.EPERM, errno.EACCES}
GONE_OR_DENIED = {errno.ENOENT, errno.EPERM, errno.EACCES}


# --------------------------------------------------------------------------------------------------
# State: /tmp, globals, processes


def test_tmp_and_globals_are_not_shared_between_tenants(lam, functions, bystander, tenant_a):
    victim = functions["victim"]
    a_secret = "A-secret-" + uuid.uuid4().hex
    planted = call(lam, victim, tenant_a, "plant", secret=a_secret)
    assert planted["stream"] != bystander["stream"]

    # A sees its own secrets (the probe works) ...
    own = call(lam, victim, tenant_a, "look_for_secrets", needle=a_secret)
    assert own["global_secret"] == a_secret and own["tmp_secret"] == a_secret
    assert "/tmp/secret" in own["found"]
    # ... but nothing of B's, anywhere it can look.
    peek = call(lam, victim, tenant_a, "look_for_secrets", needle=bystander["secret"])
    assert peek["found"] == [], describe(peek)
    assert peek["global_secret"] == a_secret and peek["tmp_secret"] == a_secret

    # And B sees nothing of A's.
    b_view = call(lam, victim, "B", "look_for_secrets", needle=a_secret)
    assert b_view["found"] == [], describe(b_view)
    assert b_view["global_secret"] == bystander["secret"] and b_view["tmp_secret"] == bystander["secret"]

    # The same tenant id on another function is another environment: nothing of A's there either.
    other = call(lam, functions["other"], tenant_a, "look_for_secrets", needle=a_secret)
    assert other["found"] == [] and other["global_secret"] is None and other["tmp_secret"] is None
    assert other["stream"] != planted["stream"]


def test_processes_of_other_environments_are_invisible(lam, functions, bystander, tenant_a):
    b_host_pids = host_pids_with_env(stream_env(bystander["stream"]))
    assert b_host_pids, "could not find tenant B's processes on the host"
    report = call(lam, functions["victim"], tenant_a, "processes", needle=bystander["stream"], host_pids=b_host_pids)
    # Only its own agent (pid 1) and runtime: a handful of small pids.
    assert report["pids"][0] == 1 and len(report["pids"]) <= 4, describe(report)
    assert report["environ_hits"] == [], describe(report)
    for pid, cmdline in report["cmdlines"].items():
        assert "/var/isola/agent" in cmdline or "awslambdaric" in cmdline, describe(report)
    # B's host pids do not exist in A's pid namespace.
    for pid, result in report["signal_host_pids"].items():
        assert result["ok"] is False and result["errno"] == errno.ESRCH, describe(report)


def test_sandbox_processes_run_as_distinct_unprivileged_host_users(lam, functions, bystander, tenant_a):
    a = call(lam, functions["victim"], tenant_a, "ping")
    uids = {}
    for who, stream in (("A", a["stream"]), ("B", bystander["stream"])):
        pids = host_pids_with_env(stream_env(stream))
        assert pids, f"no host process found for tenant {who}"
        found = set()
        for pid in pids:
            st = host_status(pid)
            real, effective = (int(x) for x in st["Uid"].split()[:2])
            found |= {real, effective}
            assert st["CapEff"] == "0000000000000000", (who, pid, st["CapEff"])
        assert 0 not in found and all(uid >= 65536 for uid in found), (who, found)
        uids[who] = found
    assert not (uids["A"] & uids["B"]), f"tenants A and B share host uids: {uids}"


def test_kill_pid_1_only_reaches_its_own_agent(lam, functions, bystander, tenant_a):
    """From inside, pid 1 is the environment's own agent; the kernel ignores SIGKILL to a pid namespace's init
    from inside it, so the invocation may complete. If the agent does die, it must be a Runtime.ExitError for A
    alone."""
    victim = functions["victim"]
    call(lam, victim, tenant_a, "ping")
    result = call_raw(lam, victim, tenant_a, "kill_pid1")
    if result.function_error is None:
        assert result.json["kill"]["ok"] is True and result.json["pid1_alive"] is True, result
    else:
        assert result.function_error == "Unhandled"
        assert result.json["errorType"] == "Runtime.ExitError", result
    # A carries on (a fresh environment if the old one died).
    assert call(lam, victim, tenant_a, "ping")["tenant"] == tenant_a


def test_kill_minus_one_reaches_only_its_own_environment(lam, functions, bystander, tenant_a):
    """kill(-1, SIGKILL) signals every process the caller may signal: only A's own child may be hit."""
    victim = functions["victim"]
    other_fn = call(lam, functions["other"], "B", "ping")
    b_host_pids = sorted(host_pids_with_env(stream_env(bystander["stream"])))
    other_host_pids = sorted(host_pids_with_env(stream_env(other_fn["stream"])))
    report = call(lam, victim, tenant_a, "kill_everything")
    assert report["kill"]["ok"] is True, describe(report)
    assert report["child_signal"] == 9 and report["pid1_alive"] is True, describe(report)
    # Every process of B and of the other function is still there, on the host too.
    assert sorted(host_pids_with_env(stream_env(bystander["stream"]))) == b_host_pids
    assert sorted(host_pids_with_env(stream_env(other_fn["stream"]))) == other_host_pids
    again = call(lam, functions["other"], "B", "ping")
    assert again["stream"] == other_fn["stream"] and again["count"] == other_fn["count"] + 1
    assert call(lam, victim, tenant_a, "ping")["stream"] == report["stream"]


def test_leftover_processes_die_with_their_environment(lam, functions, bystander, tenant_a):
    victim = functions["victim"]
    report = call(lam, victim, tenant_a, "spawn_orphan")
    stream = report["stream"]
    assert len(host_pids_with_env(stream_env(stream))) >= 3  # agent, runtime, orphan
    crashed = call_raw(lam, victim, tenant_a, "exit", code=7)
    assert crashed.json["errorType"] == "Runtime.ExitError"
    deadline = time.monotonic() + 5
    while host_pids_with_env(stream_env(stream)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_pids_with_env(stream_env(stream)) == [], "a process of a retired environment is still running"


def test_cannot_answer_another_tenants_invocation(lam, functions, bystander, tenant_a):
    """A learns B's in-flight request id and posts a forged result for it to its own Runtime API: the server must
    refuse it, and B must get its own result."""
    victim = functions["victim"]
    call(lam, victim, tenant_a, "ping")
    b_pids = host_pids_with_env(stream_env(bystander["stream"]))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call_raw, lam, victim, "B", "slow_reveal", seconds=2)
        rid = None
        deadline = time.monotonic() + 3
        while rid is None and time.monotonic() < deadline:
            for pid in b_pids:
                try:
                    rid = Path(f"/proc/{pid}/root/tmp/request-id").read_text() or None
                except OSError:
                    pass
                if rid:
                    break
            time.sleep(0.05)
        assert rid, "could not learn B's request id from the host"
        forged = call(lam, victim, tenant_a, "forge", request_ids=[rid, str(uuid.uuid4())])["forged"]
        b_result = pending.result(timeout=15)
    for key, status in forged.items():
        assert isinstance(status, int) and 400 <= status < 500, f"{key}: {forged}"
    assert b_result.function_error is None, b_result
    assert b_result.json["genuine"] == rid == b_result.request_id


def test_stdout_flood_does_not_swell_the_server(server, lam, functions, bystander, tenant_a):
    def rss_mb():
        return int(host_status(server.proc.pid)["VmRSS"].split()[0]) // 1024

    before = rss_mb()
    result = call_raw(lam, functions["victim"], tenant_a, "flood_stdout", mb=64)
    assert result.function_error is None, result
    assert rss_mb() - before < 48, f"server RSS grew from {before} MB to {rss_mb()} MB"


def test_runtime_api_connections_per_environment_are_capped(server, lam, functions, bystander, tenant_a):
    def open_fds():
        return len(os.listdir(f"/proc/{server.proc.pid}/fd"))

    before = open_fds()
    report = call(lam, functions["victim"], tenant_a, "hold_connections", count=200)
    # The runtime itself holds one or two of the 8 allowed; the rest of the 200 were refused by the host.
    assert report["answered"] <= 8, report
    assert open_fds() - before < 32, f"server fds grew from {before} to {open_fds()}"
    assert call(lam, functions["victim"], tenant_a, "ping")["count"] >= 2, "the environment still serves"


# --------------------------------------------------------------------------------------------------
# Host files


def test_host_files_are_out_of_reach(server, lam, functions, bystander, tenant_a):
    data = server.data_dir.resolve()
    other_code = sorted(data.rglob("other_function_secret.py"))
    assert other_code, "the other function's code was not found on the host"
    paths = [
        str(data), str(data / "db"), str(data / "code"), str(data / "code-unpacked"), str(data / "sandbox"),
        str(other_code[0]), str(other_code[0].parent),
        "/etc/shadow", "/etc/gshadow", "/root", "/root/.ssh", str(s.REPO_ROOT), "/home", "/var/lib",
        "/proc/1/root/etc/shadow", "/dev/vda", "/dev/kvm", "/dev/mem", "/dev/kmsg",
    ]
    report = call(lam, functions["victim"], tenant_a, "paths", paths=paths)["paths"]
    for path in paths:
        probe = report[path]
        assert probe["list"]["ok"] is False and probe["read"]["ok"] is False, f"{path}: {describe(probe)}"
        for key in ("list", "read"):
            assert probe[key]["errno"] in GONE_OR_DENIED | {errno.ENOTDIR, errno.EISDIR}, f"{path}: {describe(probe)}"
    # /var/task holds this function's code only; the cgroup hierarchy is not there to read.
    own = call(lam, functions["victim"], tenant_a, "paths", paths=["/var/task", "/sys/fs/cgroup"])["paths"]
    assert own["/var/task"]["list"]["value"] == ["app.py"], describe(own)
    cgroup = own["/sys/fs/cgroup"]["list"]
    assert (not cgroup["ok"] and cgroup["errno"] in GONE_OR_DENIED) or cgroup["value"] == [], describe(own)


def test_read_only_filesystem(lam, functions, bystander, tenant_a):
    report = call(lam, functions["victim"], tenant_a, "write_paths",
                  paths=["/var/task/app.py", "/var/task/new.py", "/var/runtime/x", "/etc/passwd", "/usr/bin/x", "/x",
                         "/var/isola/agent", "/run/isola/x", "/proc/sys/kernel/hostname", "/sys/kernel/x"],
                  open_only=["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/sys/kernel/uevent_helper"])
    for path, result in {**report["writes"], **report["open_for_write"]}.items():
        assert result["ok"] is False, f"{path} is writable: {describe(report)}"
        assert result["errno"] in {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT}, f"{path}: {describe(result)}"
    assert report["writes"]["/var/task/app.py"]["errno"] in {errno.EROFS, errno.EACCES}
    assert report["writes"]["/var/task/new.py"]["errno"] in {errno.EROFS, errno.EACCES}


def test_no_host_environment_leaks_in(lam, functions, bystander, tenant_a):
    env = call(lam, functions["victim"], tenant_a, "env")["env"]
    assert not [k for k, v in env.items() if CANARY in v or "ISOLA_SECURITY_CANARY" in k], env
    assert "ISOLA_BIN" not in env and "PYTEST_CURRENT_TEST" not in env
    assert not [k for k in env if k.startswith("SSH_") or k in ("SUDO_USER", "PYENV_ROOT")]


# --------------------------------------------------------------------------------------------------
# Network


def pending_connections(sock: socket.socket) -> int:
    """Accepts (and closes) whatever is queued on a non-blocking listener; returns how many."""
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.fixture
def host_listeners():
    """A TCP listener on 0.0.0.0 (so host addresses have something to reach) and an abstract Unix socket."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("0.0.0.0", 0))
    tcp.listen(64)
    tcp.setblocking(False)
    name = f"isola-security-{uuid.uuid4().hex[:12]}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + name)
    unix.listen(64)
    unix.setblocking(False)
    yield {"tcp_port": tcp.getsockname()[1], "abstract": "@" + name, "tcp": tcp, "unix": unix}
    tcp.close()
    unix.close()


def test_cannot_reach_the_server_or_host_services(server, lam, functions, bystander, tenant_a, host_listeners):
    ports = [server.port, server.gateway_port, host_listeners["tcp_port"]]
    targets = [(address, port) for address in host_ipv4_addresses() for port in ports]
    targets += [("::1", server.port), ("::1", host_listeners["tcp_port"])]
    report = call(lam, functions["victim"], tenant_a, "tcp", targets=targets)["tcp"]
    for key, result in report.items():
        assert result["connected"] is False, f"{key}: connected from inside the sandbox"
        assert result["seconds"] < 1.2, f"{key}: {describe(result)}"
    assert pending_connections(host_listeners["tcp"]) == 0, "a sandbox connected to the host's 0.0.0.0 listener"
    # Sanity: the same listeners answer from the host, on every address.
    for address in host_ipv4_addresses():
        with socket.create_connection((address, host_listeners["tcp_port"]), timeout=2):
            pass
    for port in ports[:2]:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    deadline = time.monotonic() + 2
    accepted = 0
    while accepted < len(host_ipv4_addresses()) and time.monotonic() < deadline:
        accepted += pending_connections(host_listeners["tcp"])
        time.sleep(0.02)
    assert accepted == len(host_ipv4_addresses())


def test_cannot_reach_the_outside(lam, functions, bystander, tenant_a):
    report = call(lam, functions["victim"], tenant_a, "tcp", targets=[["1.1.1.1", 53]])["tcp"]["1.1.1.1|53"]
    assert report["connected"] is False
    assert report["errno"] in {errno.ENETUNREACH, errno.EHOSTUNREACH}, describe(report)
    assert report["seconds"] < 0.5, describe(report)


def test_only_loopback_interface(lam, functions, bystander, tenant_a):
    report = call(lam, functions["victim"], tenant_a, "interfaces")
    assert report["net"] == ["lo"], describe(report)
    assert report["proc_net_dev"] == ["lo"], describe(report)
    assert not [d for d in report["dev"] if d.startswith(("vd", "sd", "nvme", "loop", "kvm", "mem", "kmsg", "port"))], report["dev"]


def test_cannot_reach_host_unix_or_abstract_sockets(server, lam, functions, bystander, tenant_a, host_listeners):
    report = call(lam, functions["victim"], tenant_a, "unix", paths=[host_listeners["abstract"]])
    for path, result in report["unix"].items():
        assert result["connected"] is False, f"{path}: connected from inside the sandbox"
    assert report["unix"][host_listeners["abstract"]]["errno"] == errno.ECONNREFUSED
    assert pending_connections(host_listeners["unix"]) == 0
    # No host socket is mounted in: the Runtime API is a listener inside the sandbox's own network namespace,
    # handed to the host by the agent, so no path leads from one sandbox to another's.
    assert report["run_isola"] is None, describe(report)


# --------------------------------------------------------------------------------------------------
# Privileges


def test_no_privileges(lam, functions, bystander, tenant_a):
    r = call(lam, functions["victim"], tenant_a, "privileges")
    status = r["status"]
    assert status["CapEff"] == "0000000000000000", describe(r)
    assert status["CapPrm"] == "0000000000000000" and status["CapBnd"] == "0000000000000000", describe(r)
    assert status["CapAmb"] == "0000000000000000" and status["CapInh"] == "0000000000000000", describe(r)
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert r["ids"]["uid"] == 993 and r["ids"]["euid"] == 993 and r["ids"]["euid"] != 0
    assert status["Uid"].split() == ["993"] * 4
    for name in ("unshare_user", "unshare_mount", "unshare_net", "mount", "umount", "ptrace_traceme",
                 "ptrace_attach_pid1", "setuid0", "chroot", "mknod"):
        assert r[name]["rc"] == -1, f"{name} succeeded: {describe(r)}"
        assert r[name]["errno"] in DENIED, f"{name}: {describe(r[name])}"
    # What seccomp denies outright answers EPERM (ENOSYS where the kernel lacks the call).
    for name, result in r.get("raw_syscalls", {}).items():
        assert result["rc"] == -1 and result["errno"] in {errno.EPERM, errno.ENOSYS}, f"{name}: {describe(result)}"


# --------------------------------------------------------------------------------------------------
# Resource exhaustion


def test_thread_bomb_is_capped(lam, functions, bystander, tenant_a):
    r = call(lam, functions["victim"], tenant_a, "threads", n=1100)
    assert r["started"] < 1024, describe(r)  # pids limit 1024 includes the agent and the runtime
    assert r["started"] > 100, describe(r)
    assert r["error"] and "can't start new thread" in r["error"], describe(r)
    # A itself recovers.
    assert call(lam, functions["victim"], tenant_a, "ping")["tenant"] == tenant_a


def test_fork_bomb_is_capped(lam, functions, bystander, tenant_a):
    # On the 1024 MB function: at 128 MB the memory limit kills a fork bomb before the pids limit is reached.
    r = call(lam, functions["roomy"], tenant_a, "forks", n=1100)
    assert r["started"] < 1024, describe(r)
    assert r["error"] is not None and r["error"]["errno"] == errno.EAGAIN, describe(r)
    assert call(lam, functions["roomy"], tenant_a, "ping")["tenant"] == tenant_a


def test_fork_bomb_at_128mb_is_contained(lam, functions, bystander, tenant_a):
    result = call_raw(lam, functions["victim"], tenant_a, "forks", n=1100)
    if result.function_error is None:
        assert result.json["started"] < 1024 and result.json["error"]["errno"] == errno.EAGAIN, result
    else:
        assert result.json["errorType"] in ("Runtime.ExitError", "Runtime.OutOfMemory"), result
    assert call(lam, functions["victim"], tenant_a, "ping")["tenant"] == tenant_a


def test_memory_hog_is_killed(server, lam, functions, bystander, tenant_a):
    victim = functions["victim"]
    first = call(lam, victim, tenant_a, "ping")
    started = time.monotonic()
    result = call_raw(lam, victim, tenant_a, "memory", mb=400)
    assert time.monotonic() - started < 9, "the hog was not stopped before the function timeout"
    assert result.status == 200 and result.function_error == "Unhandled", result
    assert result.json["errorType"] in ("Runtime.ExitError", "Runtime.OutOfMemory"), result
    after = call(lam, victim, tenant_a, "ping")
    assert after["count"] == 1 and after["stream"] != first["stream"]


def test_writing_past_ephemeral_storage_fails_with_enospc(lam, functions, bystander, tenant_a):
    """EphemeralStorage 512 (the default) on a 128 MB function: /tmp holds about 512 MB, then ENOSPC.

    AWS's 512 MB /tmp lets a function write about 514 MiB (df shows 526M size, 514M available); allow that much.
    """
    r = call(lam, functions["victim"], tenant_a, "fill_tmp", mb=600)
    assert r["error"] is not None and r["error"]["errno"] == errno.ENOSPC, describe(r)
    assert 500 <= r["written_mb"] <= 515, f"/tmp took {r['written_mb']} MiB for EphemeralStorage 512: {describe(r)}"
    # The space is back once the file is gone: the same environment can write again.
    again = call(lam, functions["victim"], tenant_a, "fill_tmp", mb=8)
    assert again["error"] is None and again["written_mb"] == 8 and again["stream"] == r["stream"]


# --------------------------------------------------------------------------------------------------
# Shutdown


def run_root(data_dir: Path) -> Path:
    """The sandboxes' shared read-only root lives here: /run/isola-<FNV-1a 64 of the data dir, 12 hex digits>."""
    h = 14695981039346656037
    for byte in str(data_dir).encode():
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return Path("/run") / f"isola-{format(h, 'x')[:12]}"


def test_server_stop_leaves_no_sandbox_behind():
    with sb.running_server("isola-security-stop-") as srv:
        root = str(srv.data_dir.parent)
        shared = run_root(srv.data_dir)
        lam = sb.client(srv)
        sb.create(lam, "leftovers", __import__("hostile").CODE, TenancyConfig=sb.PER_TENANT)
        streams = [call(lam, "leftovers", t, "spawn_orphan")["stream"] for t in ("x", "y")]
        assert all(host_pids_with_env(stream_env(st)) for st in streams)
        assert shared.is_dir(), f"expected the sandboxes' shared root in {shared}"
    deadline = time.monotonic() + 5
    while any(host_pids_with_env(stream_env(st)) for st in streams) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(host_pids_with_env(stream_env(st)) for st in streams), "sandbox processes outlived the server"
    assert root not in Path("/proc/mounts").read_text(), "a mount of the stopped server is still there"
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert root not in loops, f"a loop device of the stopped server is still attached: {loops}"
    assert not shared.exists(), f"the shared root {shared} outlived the server"
