"""The hostile function (CODE, deployed as app.py) and the helpers that drive it and inspect the host.

The handler takes {"action": ..., ...} and reports what happened instead of raising, so the tests can assert on
the exact refusal (errno, return value). Every probe is bounded: connect() with a 1 s timeout and no traffic beyond
the SYN, at most 1,100 threads or processes, allocations in 1 MiB steps.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import secrets

import sandbox_support as sb

# Put into the server's environment by conftest.py: it must never show up inside a sandbox.
CANARY = "isola-canary-" + secrets.token_hex(8)

CODE = r'''
import ctypes, errno, json, os, signal, socket, stat, sys, threading, time

COUNT = 0
GLOBAL_SECRET = None
libc = ctypes.CDLL(None, use_errno=True)


def oserror(e):
    return {"errno": e.errno, "error": errno.errorcode.get(e.errno, str(e.errno)), "text": str(e)}


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return dict(ok=False, **oserror(e))
    except Exception as e:
        return {"ok": False, "error": type(e).__name__, "text": str(e)}


def libc_call(name, *args):
    ctypes.set_errno(0)
    rc = getattr(libc, name)(*args)
    e = ctypes.get_errno()
    return {"rc": rc, "errno": e, "error": errno.errorcode.get(e, str(e))}


def read_tmp_secret():
    try:
        with open("/tmp/secret") as f:
            return f.read()
    except OSError:
        return None


def status_fields():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def probe_path(path):
    """What this sandbox can learn about a host path: exists? listable? readable?"""
    out = {"exists": os.path.lexists(path)}
    out["list"] = attempt(lambda: sorted(os.listdir(path))[:20])
    out["read"] = attempt(lambda: open(path, "rb").read(64).hex())
    return out


def connect_tcp(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1.0)
    started = time.monotonic()
    try:
        s.connect((host, port))
        result = {"connected": True}
    except OSError as e:
        result = dict(connected=False, **oserror(e))
    finally:
        s.close()
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(path.replace("@", "\0", 1) if path.startswith("@") else path)
        return {"connected": True}
    except OSError as e:
        return dict(connected=False, **oserror(e))
    finally:
        s.close()


def handler(event, context):
    global COUNT, GLOBAL_SECRET
    COUNT += 1
    action = event.get("action", "ping")
    out = {"count": COUNT, "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"), "tenant": context.tenant_id}

    if action == "plant":
        GLOBAL_SECRET = event["secret"]
        with open("/tmp/secret", "w") as f:
            f.write(event["secret"])
    elif action == "ping":
        out["global_secret"] = GLOBAL_SECRET
        out["tmp_secret"] = read_tmp_secret()
    elif action == "look_for_secrets":
        out["global_secret"] = GLOBAL_SECRET
        out["tmp_secret"] = read_tmp_secret()
        out["tmp_listing"] = sorted(os.listdir("/tmp"))
        found = []
        for root in ("/tmp", "/dev/shm", "/var/task", "/run", "/var/runtime"):
            for dirpath, dirnames, filenames in os.walk(root):
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    try:
                        with open(path, "rb") as f:
                            if event["needle"].encode() in f.read(1 << 20):
                                found.append(path)
                    except OSError:
                        pass
        out["found"] = found
    elif action == "processes":
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        out["pids"] = pids
        cmdlines = {}
        environ_hits = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdlines[pid] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError as e:
                cmdlines[pid] = "?" + str(e.errno)
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if event["needle"].encode() in f.read():
                        environ_hits.append(pid)
            except OSError:
                pass
        out["cmdlines"] = cmdlines
        out["environ_hits"] = environ_hits
        out["signal_host_pids"] = {str(p): attempt(lambda p=p: os.kill(p, 0)) for p in event.get("host_pids", [])}
    elif action == "kill_pid1":
        out["kill"] = attempt(lambda: os.kill(1, signal.SIGKILL))
        time.sleep(0.3)
        out["pid1_alive"] = os.path.exists("/proc/1")
    elif action == "kill_everything":
        # A child of its own, so that kill(-1) has something in this environment to hit (it never hits the
        # caller itself, nor the pid namespace's init).
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        out["kill"] = attempt(lambda: os.kill(-1, signal.SIGKILL))
        _, status = os.waitpid(child, 0)
        out["child_signal"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        out["pid1_alive"] = os.path.exists("/proc/1")
    elif action == "spawn_orphan":
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                with open("/tmp/orphan.pid", "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(600)
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.2)
        out["orphan"] = open("/tmp/orphan.pid").read()
    elif action == "exit":
        os._exit(event.get("code", 1))
    elif action == "paths":
        out["paths"] = {p: probe_path(p) for p in event["paths"]}
    elif action == "write_paths":
        results = {}
        for p in event["paths"]:
            results[p] = attempt(lambda p=p: open(p, "w").close())
        out["writes"] = results
        out["open_for_write"] = {p: attempt(lambda p=p: os.close(os.open(p, os.O_WRONLY))) for p in event.get("open_only", [])}
    elif action == "tcp":
        out["tcp"] = {f"{h}|{p}": connect_tcp(h, p) for h, p in event["targets"]}
    elif action == "unix":
        out["unix"] = {p: connect_unix(p) for p in event["paths"]}
        out["run_isola"] = sorted(os.listdir("/run/isola")) if os.path.isdir("/run/isola") else None
    elif action == "interfaces":
        out["net"] = sorted(os.listdir("/sys/class/net"))
        with open("/proc/net/dev") as f:
            out["proc_net_dev"] = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
        out["dev"] = sorted(os.listdir("/dev"))
    elif action == "privileges":
        out["status"] = {k: v for k, v in status_fields().items() if k in ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Groups")}
        out["ids"] = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid()}
        out["unshare_user"] = libc_call("unshare", 0x10000000)
        out["unshare_mount"] = libc_call("unshare", 0x00020000)
        out["unshare_net"] = libc_call("unshare", 0x40000000)
        out["mount"] = libc_call("mount", b"none", b"/tmp", b"tmpfs", 0, None)
        out["umount"] = libc_call("umount2", b"/var/task", 2)
        out["ptrace_traceme"] = libc_call("ptrace", 0, 0, None, None)
        out["ptrace_attach_pid1"] = libc_call("ptrace", 16, 1, None, None)
        out["setuid0"] = libc_call("setuid", 0)
        out["chroot"] = libc_call("chroot", b"/tmp")
        out["mknod"] = libc_call("mknod", b"/tmp/devnode", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        if os.uname().machine == "x86_64":
            numbers = {"setns": 308, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
                       "io_uring_setup": 425, "open_tree": 428, "fsopen": 430, "kexec_load": 246,
                       "init_module": 175, "reboot": 169}
            syscall = libc.syscall
            syscall.restype = ctypes.c_long
            raw = {}
            for name, nr in numbers.items():
                ctypes.set_errno(0)
                # Harmless arguments: every call would fail anyway for an unprivileged user.
                rc = syscall(ctypes.c_long(nr), ctypes.c_long(-1), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
                raw[name] = {"rc": rc, "errno": ctypes.get_errno()}
            out["raw_syscalls"] = raw
    elif action == "slow_reveal":
        with open("/tmp/request-id", "w") as f:
            f.write(context.aws_request_id)
        time.sleep(event["seconds"])
        out["genuine"] = context.aws_request_id
    elif action == "forge":
        import urllib.error, urllib.request
        api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
        results = {}
        for rid in event["request_ids"]:
            for kind in ("response", "error"):
                body = json.dumps({"forged": True, "errorMessage": "forged", "errorType": "Forged"}).encode()
                req = urllib.request.Request(api + rid + "/" + kind, data=body, method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=2) as r:
                        results[f"{rid}/{kind}"] = r.status
                except urllib.error.HTTPError as e:
                    results[f"{rid}/{kind}"] = e.code
                except OSError as e:
                    results[f"{rid}/{kind}"] = str(e)
        out["forged"] = results
    elif action == "hold_connections":
        # Opens many connections to the Runtime API and counts those the host still answers on.
        answered = 0
        held = []
        for _ in range(event["count"]):
            try:
                sock = socket.create_connection(("127.0.0.1", 9001), timeout=2)
                sock.sendall(b"GET /isola-probe HTTP/1.1\r\nHost: x\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/1.1"):
                    answered += 1
                held.append(sock)
            except OSError:
                pass
        out["answered"] = answered
        for sock in held:
            sock.close()
    elif action == "flood_stdout":
        chunk = ("F" * 1023 + "\n") * 1024
        for _ in range(event["mb"]):
            sys.stdout.write(chunk)
        sys.stdout.flush()
    elif action == "env":
        out["env"] = dict(os.environ)
    elif action == "threads":
        stop = threading.Event()
        threads, error = [], None
        for _ in range(event["n"]):
            try:
                t = threading.Thread(target=stop.wait, daemon=True)
                t.start()
                threads.append(t)
            except RuntimeError as e:
                error = str(e)
                break
        out["started"] = len(threads)
        out["error"] = error
        stop.set()
        for t in threads:
            t.join()
    elif action == "forks":
        children, error = [], None
        for _ in range(event["n"]):
            try:
                pid = os.fork()
            except OSError as e:
                error = oserror(e)
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
        out["started"] = len(children)
        out["error"] = error
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
    elif action == "memory":
        hog = []
        for _ in range(event["mb"]):
            chunk = bytearray(1 << 20)
            chunk[::4096] = b"x" * len(chunk[::4096])
            hog.append(chunk)
        out["allocated_mb"] = len(hog)
    elif action == "fill_tmp":
        written, error = 0, None
        block = b"\xab" * (1 << 20)
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(event["mb"]):
                    f.write(block)
                    f.flush()
                    written += 1
        except OSError as e:
            error = oserror(e)
        finally:
            try:
                os.unlink("/tmp/fill")
            except OSError:
                pass
        out["written_mb"] = written
        out["error"] = error
        out["statvfs_mb"] = os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize // (1 << 20)
    return out
'''


def call(lam, function: str, tenant: str, action: str, **fields):
    """Invokes the hostile function; returns its report (fails on a function error)."""
    return sb.ok(sb.invoke(lam, function, dict(action=action, **fields), tenant=tenant))


def call_raw(lam, function: str, tenant: str, action: str, **fields) -> sb.Result:
    return sb.invoke(lam, function, dict(action=action, **fields), tenant=tenant)


# --------------------------------------------------------------------------------------------------
# Host-side inspection (the test runs as root on the host)


def host_pids_with_env(needle: str) -> list[int]:
    """Host pids whose environment contains `needle` (e.g. AWS_LAMBDA_LOG_STREAM_NAME=<stream>)."""
    hits = []
    raw = needle.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if raw in f.read().split(b"\0"):
                    hits.append(int(entry))
        except OSError:
            pass
    return hits


def host_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def stream_env(stream: str) -> str:
    return f"AWS_LAMBDA_LOG_STREAM_NAME={stream}"


def host_ipv4_addresses() -> list[str]:
    """Every IPv4 address of the host (from /proc/net/fib_trie's local entries, falling back to `ip`)."""
    addresses = set()
    try:
        import subprocess

        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            parts = line.split()
            if "inet" in parts:
                addresses.add(parts[parts.index("inet") + 1].split("/")[0])
    except (OSError, ValueError):
        pass
    addresses.add("127.0.0.1")
    return sorted(addresses)


def describe(report) -> str:
    return json.dumps(report, indent=1, sort_keys=True)[:4000]


def find_files(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob(name) if p.is_file()]
