"""The servers of bench/invoke.py and what it reads about them: `isola serve` and the floor as processes,
SigV4 signing, /proc and cgroup helpers (PSS, CPU time, an environment's processes), other Isola servers."""
import argparse, base64, http.client, io, json, os, signal, socket, statistics, subprocess, sys, tempfile, time, zipfile

HANDLER = 'def handler(event, context):\n    return {"ok": True, "tenant": context.tenant_id}\n'
FUNCTION = "bench-fn"
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
PAYLOAD = b'{"bench": true}'
ACCOUNT = "000000000000"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------------------------------------------
# Helpers: ports, stats, signing, processes, memory
# --------------------------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples):
    s = sorted(samples)
    if not s:
        return {"n": 0}
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return {"p50": round(statistics.median(s), 3), "p90": round(pick(0.90), 3), "p99": round(pick(0.99), 3),
            "min": round(s[0], 3), "max": round(s[-1], 3), "n": len(s)}


_signer = None


def signed_headers(port, tenant, tail=False):
    """The Invoke request's headers, SigV4-signed as the aws CLI signs them (botocore, service lambda)."""
    global _signer
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    if _signer is None:
        _signer = SigV4Auth(Credentials("bench", "bench"), "lambda", "us-east-1")
    headers = {"Content-Type": "application/json", "X-Amz-Tenant-Id": tenant}
    if tail:
        headers["X-Amz-Log-Type"] = "Tail"
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}{INVOKE_PATH}", data=PAYLOAD, headers=headers)
    _signer.add_auth(request)
    return dict(request.headers.items())


def plain_headers(tenant):
    return {"Content-Type": "application/json", "X-Amz-Tenant-Id": tenant}


class Target:
    """A server under test: the floor (unsigned) or Isola (signed); `pids()` -> (server pids, runtime-side pids)."""

    def __init__(self, name, port, signed, pids):
        self.name, self.port, self.signed, self.pids = name, port, signed, pids

    def headers(self, tenant, tail=False):
        return signed_headers(self.port, tenant, tail) if self.signed else plain_headers(tenant)


def expected_body(tenant):
    return {"ok": True, "tenant": tenant}


def check(status, body, tenant):
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    try:
        if json.loads(body) != expected_body(tenant):
            return f"body {body[:200]!r}"
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    return None


def invoke_once(conn, headers, tenant):
    """One timed invoke on an open connection; returns (ms, error or None, response headers)."""
    started = time.perf_counter()
    conn.request("POST", INVOKE_PATH, body=PAYLOAD, headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, check(response.status, body, tenant), response


def wait_ready(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer /health within {timeout}s")


def stop_process(proc, timeout=60):
    """SIGTERM, then wait; returns seconds to exit (SIGKILL after timeout)."""
    started = time.perf_counter()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return time.perf_counter() - started


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid):
    """Direct children of pid (from /proc/*/stat)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return kids


def cpu_ns(pids):
    """CPU time (ns) of every thread of these processes, from /proc/<pid>/task/*/schedstat."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def process_age(pid):
    """Seconds since the process started."""
    with open(f"/proc/{pid}/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def other_isola_servers(own_prefix, younger_than=None):
    """`isola serve` processes that are not this bench's (optionally only those started less than `younger_than`
    s ago: test suites, which start servers again and again and compete for the CPUs; before each server had its
    own cgroup subtree, every server's start-up sweep also SIGKILLed every other server's sandboxes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace")
        if len(argv) > 1 and argv[0].endswith(b"isola") and argv[1] == b"serve" and own_prefix not in text:
            try:
                if younger_than is not None and process_age(int(entry)) >= younger_than:
                    continue
            except (OSError, ValueError, IndexError):
                continue
            found.append(f"{entry}: {text.strip()}")
    return found


def host_busy(seconds=3.0):
    """Fraction of all CPUs busy over `seconds`, from /proc/stat (everyone's work, this bench's included)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


_cgroup_dirs = {}


def cgroup_dir(env_id):
    """An environment's memory cgroup: /sys/fs/cgroup/memory/isola/<server instance>/<id> (the server's own subtree),
    or /sys/fs/cgroup/memory/isola/<id> (builds before the per-server subtree); the unified tree on cgroup v2."""
    if env_id in _cgroup_dirs and os.path.isdir(_cgroup_dirs[env_id]):
        return _cgroup_dirs[env_id]
    root = "/sys/fs/cgroup/memory/isola" if os.path.isdir("/sys/fs/cgroup/memory/isola") else "/sys/fs/cgroup/isola"
    candidates = [f"{root}/{env_id}"]
    try:
        candidates += [f"{root}/{sub}/{env_id}" for sub in os.listdir(root)]
    except OSError:
        pass
    for path in candidates:
        if os.path.isdir(path):
            _cgroup_dirs[env_id] = path
            return path
    return candidates[0]


def cgroup_usage_bytes(env_id):
    d = cgroup_dir(env_id)
    for name in ("memory.usage_in_bytes", "memory.current"):
        try:
            with open(f"{d}/{name}") as f:
                return int(f.read())
        except OSError:
            continue
    return None


def cgroup_procs(env_id):
    try:
        with open(f"{cgroup_dir(env_id)}/cgroup.procs") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------------------

def bench_arguments(doc, json_name):
    """The options every bench shares: the binary (release if built), the runtime folder, where its JSON goes,
    and --no-docs. Callers add their own and parse."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    release, debug = os.path.join(ROOT, ".build/release/isola"), os.path.join(ROOT, ".build/debug/isola")
    ap.add_argument("--bin", default=release if os.path.exists(release) else debug)
    ap.add_argument("--runtime-dir", default=os.path.join(ROOT, "runtime"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/results", json_name))
    ap.add_argument("--no-docs", action="store_true", help="print the markdown, do not write it into docs/benchmarks.md")
    return ap


def bench_workdir(prefix):
    """A temporary folder for a bench's servers. mkdtemp makes it 0700; the sandboxes' mapped users must traverse it."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(workdir, 0o755)
    return workdir


def machine(binary):
    return {"cpus": os.cpu_count(), "measured": time.strftime("%Y-%m-%d %H:%M"), "binary": os.path.relpath(binary, ROOT)}


def write_report(path, report):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def function_zip(source=HANDLER, file="app.py"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(file, source)
    return buf.getvalue()


class Isola:
    def __init__(self, binary, runtime_dir, keep_alive, workdir, label, create=True, prewarm=0, extra_args=()):
        self.data_dir = os.path.join(workdir, f"data-{label}")
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"isola-{label}.log")
        self.log = open(self.log_path, "w")
        command = [binary, "serve", "--port", str(self.port), "--gateway-port", str(free_port()), "--data-dir", self.data_dir,
                   "--runtime-dir", runtime_dir, "--log-level", "warning"]
        if keep_alive is not None:
            command += ["--keep-alive", str(keep_alive)]
        # No prewarmed environments unless asked: the cold-start figures are of a real cold start.
        command += ["--prewarm", str(prewarm)] + list(extra_args)
        self.command = command
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(self.port, self.proc, "isola serve")
        self.target = Target("Isola", self.port, signed=True, pids=lambda: (
            [self.proc.pid], [p for env_id in self.env_ids() for p in cgroup_procs(env_id)]))
        if create:
            self.create_function()

    def call(self, method, path, body):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        data = json.dumps(body).encode()
        request = AWSRequest(method=method, url=f"http://127.0.0.1:{self.port}{path}", data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials("bench", "bench"), "lambda", "us-east-1").add_auth(request)
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request(method, path, body=data, headers=dict(request.headers.items()))
        response = conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status} {payload[:300]!r}")
        return json.loads(payload or b"{}")

    def create_function(self, name=FUNCTION, source=HANDLER, file="app.py", handler="app.handler", runtime="python3.12"):
        """A PER_TENANT function whose code is `source` in `file`."""
        self.call("POST", "/2015-03-31/functions", {
            "FunctionName": name, "Runtime": runtime, "Role": f"arn:aws:iam::{ACCOUNT}:role/bench", "Handler": handler,
            "Code": {"ZipFile": base64.b64encode(function_zip(source, file)).decode()}, "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
        })

    def env_ids(self):
        """This server's live sandboxes (crun's state folder is per data folder; the cgroup parent is shared)."""
        try:
            return sorted(os.listdir(os.path.join(self.data_dir, "sandbox", "crun")))
        except OSError:
            return []

    def stop(self):
        """Graceful shutdown: seconds it took, and whatever of this server's sandboxes it left behind."""
        ids = self.env_ids()
        seconds = stop_process(self.proc)
        self.log.close()
        left_state = self.env_ids()
        left_cgroups = [i for i in ids if os.path.isdir(cgroup_dir(i))]
        left_procs = sum(len(cgroup_procs(i)) for i in ids)
        return {"environments": len(ids), "seconds": round(seconds, 3), "exit_code": self.proc.returncode,
                "leftover_crun_state": len(left_state), "leftover_cgroups": len(left_cgroups), "leftover_processes": left_procs}

    def log_findings(self):
        """Log lines beyond the two expected start-up warnings (no auth on loopback; python3.12 served by 3.11)."""
        try:
            lines = open(self.log_path, errors="replace").read().splitlines()
        except OSError:
            return []
        expected = ("NO AUTHENTICATION", "runtime served by another interpreter")
        return [line for line in lines if line.strip() and not any(e in line for e in expected)]


class Floor:
    def __init__(self, workdir, runtime_dir):
        self.task_dir = os.path.join(workdir, "floor-task")
        os.makedirs(self.task_dir, exist_ok=True)
        with open(os.path.join(self.task_dir, "app.py"), "w") as f:
            f.write(HANDLER)
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "invoke_floor.py"), "--port", str(self.port),
                                      "--task-dir", self.task_dir, "--runtime-python", os.path.join(runtime_dir, "python")])
        wait_ready(self.port, self.proc, "floor server")
        self.target = Target("floor", self.port, signed=False, pids=lambda: ([self.proc.pid], list(self.runtime_pids().values())))

    def runtime_pids(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request("GET", "/pids")
        return json.loads(conn.getresponse().read())

    def stop(self):
        return stop_process(self.proc)



def signed_dryrun(port, tenant):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    headers = {"Content-Type": "application/json", "X-Amz-Tenant-Id": tenant, "X-Amz-Invocation-Type": "DryRun"}
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}{INVOKE_PATH}", data=PAYLOAD, headers=headers)
    SigV4Auth(Credentials("bench", "bench"), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())
