#!/usr/bin/env python3
"""Invoke latency, cold starts and idle memory of Isola, next to an unsandboxed floor measured in the same run.

The FLOOR is the least any Lambda-compatible server can do on this machine: one Python asyncio process
(bench/invoke_floor.py) that implements the Runtime API (GET .../invocation/next as a long poll, POST
.../invocation/{id}/response and /error) and an HTTP front that takes the same Invoke request as Isola, starts one
`/usr/bin/python3 -m awslambdaric app.handler` per tenant on first use (no sandbox, no auth, no store, no logs)
and queues each invoke straight to that tenant's runtime. Same interpreter, same awslambdaric, same handler:
    def handler(event, context): return {"ok": True, "tenant": context.tenant_id}

ISOLA is `isola serve` (release binary if built, else debug; the output says which) on free ports with a temporary
data folder, one PER_TENANT function, requests SigV4-signed by botocore (dummy keys, signed before the timer starts;
the floor gets the same requests unsigned).

Measured, each after a warm-up:
  1. warm invoke, 1 client and 4 concurrent clients (4 tenants, one each, warmed first; one keep-alive connection
     per client process), floor and Isola alternating over --rounds rounds; every response is checked (200 + body);
  2. cold start: a new tenant's first invoke (--cold tenants, spaced --cold-gap s apart), floor and Isola alternating;
  3. the seed walkthrough's loop scaled up: --tenants new tenants in a row on a server with --keep-alive 5;
  4. idle memory: --idle warm idle environments, PSS of every process in each environment's cgroup plus the
     cgroup's memory usage, the host-side `crun run` processes, and the server's own growth; then a timed shutdown
     and a leak check.
Output: --json (default bench/results/invoke.json), a markdown section `## Invoke` printed and written into
docs/benchmarks.md, and the chart docs/invoke-latency.png. Other `isola serve` processes on the host disturb it (every
server's start-up sweep kills all sandboxes under the /isola cgroups): it waits up to --quiet-wait s for them to exit,
and reports any it sees during the run.

Usage (as root):
  python3 bench/invoke.py [--bin .build/release/isola] [--tenants 200] [--idle 50] [--cold 50] [--rounds 3]
  python3 bench/invoke.py --tenants 1000 --idle 100      # the full run
"""
import argparse, base64, http.client, json, multiprocessing, os, shutil, statistics, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from invoke_servers import (
    INVOKE_PATH, PAYLOAD, Floor, Isola, cgroup_procs, cgroup_usage_bytes, children_of, cpu_ns, host_busy, invoke_once,
    other_isola_servers, percentiles, process_age, pss_kb, rss_kb, signed_dryrun, stop_process,
)


# --------------------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------------------

def client_process(port, requests, warmup, barrier, results, index):
    """One client, one keep-alive connection: `warmup` untimed invokes, then the timed ones."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    errors, latencies = [], []
    for headers, tenant in requests[:warmup]:
        _, error, _ = invoke_once(conn, headers, tenant)
        if error:
            errors.append(error)
    barrier.wait()
    started = time.perf_counter()
    for headers, tenant in requests[warmup:]:
        elapsed, error, _ = invoke_once(conn, headers, tenant)
        latencies.append(elapsed)
        if error:
            errors.append(error)
    finished = time.perf_counter()
    results.put((index, latencies, started, finished, errors[:5], len(errors)))


def warm_run(target, tenants, per_client, warmup):
    """len(tenants) concurrent clients, one per tenant; requests are built (and signed) before the clocks start."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(tenants))
    results = ctx.Queue()
    procs = []
    for index, tenant in enumerate(tenants):
        requests = [(target.headers(tenant), tenant) for _ in range(warmup + per_client)]
        procs.append(ctx.Process(target=client_process, args=(target.port, requests, warmup, barrier, results, index)))
    server_pids, runtime_pids = target.pids()
    cpu_before = (cpu_ns(server_pids), cpu_ns(runtime_pids))
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    cpu = (cpu_ns(server_pids) - cpu_before[0], cpu_ns(runtime_pids) - cpu_before[1])
    total_requests = len(tenants) * (warmup + per_client)
    latencies = [x for o in outcomes for x in o[1]]
    span = max(o[3] for o in outcomes) - min(o[2] for o in outcomes)
    errors = sum(o[5] for o in outcomes)
    if errors:
        print(f"  !! {target.name}: {errors} bad responses, e.g. {[e for o in outcomes for e in o[4]][:3]}", file=sys.stderr)
    return latencies, len(latencies) / span, errors, (cpu[0] / total_requests / 1000, cpu[1] / total_requests / 1000)


def measure_warm(floor, isola, rounds, per_client_1, per_client_4, warmup):
    # Every tenant's environment (or floor runtime) exists before any run, so each run sees only warm invokes
    # and the CPU figures cover the runtime processes from the start.
    for target in (floor.target, isola.target):
        conn = http.client.HTTPConnection("127.0.0.1", target.port)
        for tenant in (f"warm-{i}" for i in range(4)):
            for _ in range(3):
                _, error, _ = invoke_once(conn, target.headers(tenant), tenant)
                if error:
                    raise RuntimeError(f"{target.name} cannot warm {tenant}: {error}")
    out = {}
    for clients, per_client in ((1, per_client_1), (4, per_client_4)):
        tenants = [f"warm-{i}" for i in range(clients)]
        pooled = {"floor": [], "Isola": []}
        round_p50 = {"floor": [], "Isola": []}
        rps = {"floor": [], "Isola": []}
        errors = {"floor": 0, "Isola": 0}
        cpu = {"floor": [], "Isola": []}
        for r in range(rounds):
            order = (floor.target, isola.target) if r % 2 == 0 else (isola.target, floor.target)
            for target in order:
                latencies, throughput, bad, cpu_us = warm_run(target, tenants, per_client, warmup)
                cpu[target.name].append(cpu_us)
                pooled[target.name] += latencies
                round_p50[target.name].append(statistics.median(latencies))
                rps[target.name].append(throughput)
                errors[target.name] += bad
                print(f"  warm, {clients} client(s), round {r + 1}: {target.name:5} p50 {statistics.median(latencies):.3f} ms, {throughput:.0f} req/s")
        for name in ("floor", "Isola"):
            out[f"{name} {clients}c"] = dict(percentiles(pooled[name]), clients=clients, rps=round(statistics.median(rps[name]), 1),
                                              rps_rounds=[round(x, 1) for x in rps[name]], errors=errors[name],
                                              server_cpu_us=round(statistics.median(c[0] for c in cpu[name]), 1),
                                              runtime_cpu_us=round(statistics.median(c[1] for c in cpu[name]), 1),
                                              round_p50=[round(x, 4) for x in round_p50[name]], samples=pooled[name])
    return out


def measure_breakdown(isola, tenant, count, warmup=50):
    """Where a warm invoke's time goes, interleaved on one connection: the server's HTTP floor (GET /health,
    unsigned), Invoke DryRun (signed: auth, resolve, tenancy check, no engine), a warm invoke with the log tail,
    whose REPORT line gives Duration (engine -> runtime -> back, measured by the server)."""
    conn = http.client.HTTPConnection("127.0.0.1", isola.port)
    samples = {"health": [], "dryrun": [], "invoke": [], "duration": []}
    errors = 0
    for i in range(warmup + count):
        started = time.perf_counter()
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        health = (time.perf_counter() - started) * 1000
        errors += response.status != 200
        headers = signed_dryrun(isola.port, tenant)
        started = time.perf_counter()
        conn.request("POST", INVOKE_PATH, body=PAYLOAD, headers=headers)
        response = conn.getresponse()
        response.read()
        dryrun = (time.perf_counter() - started) * 1000
        errors += response.status != 204
        elapsed, error, response = invoke_once(conn, isola.target.headers(tenant, tail=True), tenant)
        errors += bool(error)
        tail = base64.b64decode(response.getheader("X-Amz-Log-Result", "") or "").decode(errors="replace")
        if i >= warmup:
            samples["health"].append(health)
            samples["dryrun"].append(dryrun)
            samples["invoke"].append(elapsed)
            if "Duration:" in tail:
                samples["duration"].append(float(tail.split("\tDuration:")[1].split("ms")[0]))
    return dict({k: percentiles(v) for k, v in samples.items()}, errors=errors)


def measure_pooled(isola, count, gap):
    """A new tenant's first invoke with the pool on (--prewarm 1), spaced so the pool refills between tenants;
    counts how many claimed a prewarmed environment (the server's cold-start counter did not move for them).

    The gap matters: the first request after a pause is slower everywhere (idle CPUs, cold caches), while the
    warm runs are back to back. So each new tenant's first invoke comes right after a warm invoke of an existing
    tenant on the same connection, and is followed by its own second invoke: the warm invoke just before it is
    the like-for-like baseline, reported beside the back-to-back warm p50."""
    conn = http.client.HTTPConnection("127.0.0.1", isola.port)
    invoke_once(conn, isola.target.headers("pool-first"), "pool-first")  # the version's first invoke starts its pool
    for _ in range(3):
        invoke_once(conn, isola.target.headers("pool-warm"), "pool-warm")
    time.sleep(1.0)
    def cold_starts():
        metrics = http.client.HTTPConnection("127.0.0.1", isola.port)
        metrics.request("GET", "/metrics")
        for line in metrics.getresponse().read().decode().splitlines():
            if line.startswith("isola_cold_starts_total"):
                return int(float(line.split()[-1]))
        return 0

    before = cold_starts()
    firsts, warm_before, seconds, errors = [], [], [], 0
    for i in range(count):
        time.sleep(gap)
        tenant = f"pooled-{i}"
        # The same request as the warm runs (no log tail), so the two compare.
        for _ in range(3):
            warm, error, _ = invoke_once(conn, isola.target.headers("pool-warm"), "pool-warm")
        first, first_error, _ = invoke_once(conn, isola.target.headers(tenant), tenant)
        second, second_error, _ = invoke_once(conn, isola.target.headers(tenant), tenant)
        for bad in (error, first_error, second_error):
            if bad:
                errors += 1
                print(f"  !! pooled {tenant}: {bad}", file=sys.stderr)
        firsts.append(first)
        warm_before.append(warm)
        seconds.append(second)
    claimed = count - (cold_starts() - before)
    return dict(percentiles(firsts), errors=errors, claimed=claimed, samples=firsts,
                warm_before=percentiles(warm_before), second=percentiles(seconds))


def measure_cold(floor, isola, count, gap, warmup=3):
    """A new tenant's first invoke, floor and Isola alternating; Isola's asks for the log tail (its Init Duration)."""
    conns = {"floor": http.client.HTTPConnection("127.0.0.1", floor.port), "Isola": http.client.HTTPConnection("127.0.0.1", isola.port)}
    samples = {"floor": [], "Isola": []}
    init_ms, errors = [], {"floor": 0, "Isola": 0}
    for i in range(-warmup, count):
        for target in ((floor.target, isola.target) if i % 2 == 0 else (isola.target, floor.target)):
            tenant = f"cold-{i + warmup}"
            headers = target.headers(tenant, tail=target.signed)
            elapsed, error, response = invoke_once(conns[target.name], headers, tenant)
            if error:
                errors[target.name] += 1
                print(f"  !! cold {target.name} {tenant}: {error}", file=sys.stderr)
            if i < 0:
                continue
            samples[target.name].append(elapsed)
            if target.signed:
                tail = base64.b64decode(response.getheader("X-Amz-Log-Result", "") or "").decode(errors="replace")
                if "Init Duration:" in tail:
                    init_ms.append(float(tail.split("Init Duration:")[1].split("ms")[0]))
            time.sleep(gap)
    return {
        "floor": dict(percentiles(samples["floor"]), errors=errors["floor"], samples=samples["floor"]),
        "Isola": dict(percentiles(samples["Isola"]), errors=errors["Isola"], samples=samples["Isola"]),
        "Isola init duration (server's REPORT line)": percentiles(init_ms),
    }


class NeighbourWatch(threading.Thread):
    """Records every other `isola serve` seen while the bench runs, and which started during it."""

    def __init__(self, own_prefix):
        super().__init__(daemon=True)
        self.own_prefix = own_prefix
        self.started = time.time()
        self.seen, self.started_during_run = {}, {}
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            for line in other_isola_servers(self.own_prefix):
                pid = line.split(":")[0]
                self.seen.setdefault(pid, line)
                try:
                    if time.time() - process_age(int(pid)) > self.started:
                        self.started_during_run.setdefault(pid, line)
                except (OSError, ValueError, IndexError):
                    pass
            self.stop_event.wait(0.5)


class Sampler(threading.Thread):
    """Samples live environments, their cgroups' memory and the server's RSS while the loop runs."""

    def __init__(self, isola, every=0.25):
        super().__init__(daemon=True)
        self.isola, self.every = isola, every
        self.stop_event = threading.Event()
        self.points = []

    def run(self):
        started = time.perf_counter()
        while not self.stop_event.is_set():
            ids = self.isola.env_ids()
            usage = sum(cgroup_usage_bytes(i) or 0 for i in ids)
            self.points.append((round(time.perf_counter() - started, 2), len(ids), usage, rss_kb(self.isola.proc.pid)))
            self.stop_event.wait(self.every)


def measure_loop(isola, tenants, warmup=5):
    """The seed's `for i in {1..N}; do curl -H "X-Tenant-ID: $i"; done`: N new tenants in a row, one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", isola.port)
    for i in range(warmup):
        invoke_once(conn, isola.target.headers(f"loop-warmup-{i}"), f"loop-warmup-{i}")
    sampler = Sampler(isola)
    sampler.start()
    latencies, starts, errors = [], [], 0
    started = time.perf_counter()
    for i in range(tenants):
        tenant = f"loop-{i}"
        headers = isola.target.headers(tenant)  # signing is inside the wall time, outside each request's time
        starts.append(time.perf_counter() - started)
        elapsed, error, _ = invoke_once(conn, headers, tenant)
        latencies.append(elapsed)
        if error:
            errors += 1
            print(f"  !! loop {tenant}: {error}", file=sys.stderr)
    wall = time.perf_counter() - started
    sampler.stop_event.set()
    sampler.join()
    quarter = max(1, tenants // 4)
    # Spikes (> 5x the median) and whether the reaper was tearing environments down meanwhile (live count drops;
    # the sampler's clock starts a moment before the loop's, which the 0.5 s margin absorbs).
    median = statistics.median(latencies)
    drops = [(b[0], a[1], b[1]) for a, b in zip(sampler.points, sampler.points[1:]) if b[1] < a[1]]
    merged = []  # one reap shows as a few consecutive drops: merge those less than 1 s apart
    for when, before, after in drops:
        if merged and when - merged[-1][0] <= 1.0:
            merged[-1] = (when, merged[-1][1], after)
        else:
            merged.append((when, before, after))
    drops = merged
    spikes = []
    for t, ms in zip(starts, latencies):
        if ms > 5 * median:
            torn = sum(before - after for when, before, after in drops if t - 0.5 <= when <= t + ms / 1000 + 0.5)
            spikes.append({"at_s": round(t, 2), "ms": round(ms, 1), "environments_torn_down_meanwhile": torn})
    return dict(percentiles(latencies), tenants=tenants, errors=errors, wall_seconds=round(wall, 3),
                per_second=round(tenants / wall, 1),
                first_quarter_p50=round(statistics.median(latencies[:quarter]), 3),
                last_quarter_p50=round(statistics.median(latencies[-quarter:]), 3),
                peak_live_environments=max((p[1] for p in sampler.points), default=0),
                peak_cgroup_memory_mb=round(max((p[2] for p in sampler.points), default=0) / 2**20, 1),
                peak_server_rss_mb=round(max((p[3] for p in sampler.points), default=0) / 1024, 1),
                spikes=spikes, reaps=[{"at_s": t, "from": a, "to": b} for t, a, b in drops],
                timeline=sampler.points, samples=latencies)


def measure_memory(isola, floor, count, settle):
    """`count` warm idle environments (each invoked twice), then PSS and cgroup usage per environment."""
    server_before = pss_kb(isola.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", isola.port)
    errors = 0
    for i in range(count):
        tenant = f"idle-{i}"
        for _ in range(2):
            _, error, _ = invoke_once(conn, isola.target.headers(tenant), tenant)
            errors += bool(error)
    time.sleep(settle)
    ids = isola.env_ids()
    per_env = []
    for env_id in ids:
        procs = cgroup_procs(env_id)
        per_env.append({"id": env_id, "processes": len(procs), "pss_kb": sum(pss_kb(p) for p in procs),
                        "cgroup_usage_bytes": cgroup_usage_bytes(env_id)})
    # Host side, outside the cgroups: one `crun run` per environment stays as the container's parent.
    inside = {p for env_id in ids for p in cgroup_procs(env_id)}
    host_side = [p for p in children_of(isola.proc.pid) if p not in inside]
    host_side_pss = sum(pss_kb(p) for p in host_side)
    server_after = pss_kb(isola.proc.pid)
    n = max(1, len(per_env))
    floor_pids = list(floor.runtime_pids().values())
    floor_pss = [pss_kb(p) for p in floor_pids]
    return {
        "environments": len(per_env), "requested": count, "errors": errors,
        "processes_per_environment": round(sum(e["processes"] for e in per_env) / n, 2),
        "pss_mb_per_environment": round(sum(e["pss_kb"] for e in per_env) / n / 1024, 2),
        "cgroup_usage_mb_per_environment": round(sum(e["cgroup_usage_bytes"] or 0 for e in per_env) / n / 2**20, 2),
        "host_side_processes": len(host_side),
        "host_side_pss_mb_per_environment": round(host_side_pss / n / 1024, 2),
        "server_pss_mb_before": round(server_before / 1024, 1), "server_pss_mb_after": round(server_after / 1024, 1),
        "server_growth_mb_per_environment": round((server_after - server_before) / n / 1024, 3),
        "floor_runtimes": len(floor_pids),
        "floor_pss_mb_per_runtime": round(sum(floor_pss) / max(1, len(floor_pss)) / 1024, 2),
        "environments_detail": per_env,
    }


# --------------------------------------------------------------------------------------------------------------



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    release, debug = os.path.join(ROOT, ".build/release/isola"), os.path.join(ROOT, ".build/debug/isola")
    ap.add_argument("--bin", default=release if os.path.exists(release) else debug)
    ap.add_argument("--runtime-dir", default=os.path.join(ROOT, "runtime"))
    ap.add_argument("--rounds", type=int, default=3, help="warm rounds, floor and Isola alternating")
    ap.add_argument("--requests-1", type=int, default=1000, help="timed invokes per round, 1 client")
    ap.add_argument("--requests-4", type=int, default=500, help="timed invokes per round and client, 4 clients")
    ap.add_argument("--warmup", type=int, default=100, help="untimed invokes per client before each warm run")
    ap.add_argument("--cold", type=int, default=50, help="new tenants for the cold-start figures (at least 50)")
    ap.add_argument("--cold-gap", type=float, default=0.1, help="seconds between cold starts")
    ap.add_argument("--tenants", type=int, default=1000, help="new tenants in a row (the seed's loop scaled up)")
    ap.add_argument("--idle", type=int, default=100, help="warm idle environments for the memory figures")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds idle before memory is read")
    ap.add_argument("--breakdown", type=int, default=500, help="interleaved health / DryRun / invoke triples")
    ap.add_argument("--quiet-wait", type=float, default=600,
                    help="seconds to wait for other isola servers to exit and for a quiet host (then run anyway)")
    ap.add_argument("--max-busy", type=float, default=0.25, help="how busy the CPUs may be (other work) before starting")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/results/invoke.json"))
    ap.add_argument("--chart", default=os.path.join(ROOT, "docs/invoke-latency.png"))
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--from-json", help="measure nothing: render the chart and the markdown from a saved --json")
    ap.add_argument("--with-full", help="a saved --json of a --tenants 1000 --idle 100 run, whose rows join the markdown")
    args = ap.parse_args()

    if args.from_json:
        with open(args.from_json) as f:
            publish(json.load(f), args)
        return
    if not os.path.exists(args.bin):
        sys.exit(f"no binary at {args.bin}: build it with `swift build -c release --product isola` (or pass --bin)")
    if os.geteuid() != 0:
        sys.exit("run as root: Isola's sandboxes need crun and cgroups")
    args.cold = max(50, args.cold)
    binary = os.path.relpath(os.path.abspath(args.bin), ROOT)
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    with open("/proc/meminfo") as f:
        ram_mb = int(f.readline().split()[1]) // 1024
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "binary": binary, "measured": time.strftime("%Y-%m-%d %H:%M"),
               "ram_mb": ram_mb, "memory_budget_mb": ram_mb * 3 // 4,
               "loadavg_start": loadavg}
    try:
        from benchdocs import cpu_model
        machine["cpu"] = cpu_model()
    except ImportError:
        pass
    print(f"Invoke bench: binary {binary}, {machine['cpus']} vCPU, kernel {machine['kernel']}, load {loadavg}", flush=True)

    prefix = "isola-bench-invoke-"
    deadline = time.time() + args.quiet_wait
    # Test suites start servers again and again and load the CPUs: wait until none has started for a minute.
    # A long-running server is only reported.
    while other_isola_servers(prefix, younger_than=60) and time.time() < deadline:
        print(f"  waiting: isola servers started less than a minute ago (a test suite?): "
              f"{len(other_isola_servers(prefix, younger_than=60))}", flush=True)
        time.sleep(10)
    busy = host_busy()
    while busy > args.max_busy and time.time() < deadline:
        print(f"  waiting for a quiet host: {busy:.0%} of the CPUs busy (other work), want <= {args.max_busy:.0%}", flush=True)
        time.sleep(10)
        busy = host_busy()
    machine["host_busy_before_start"] = round(busy, 3)
    neighbours_at_start = other_isola_servers(prefix)
    watch = NeighbourWatch(prefix)
    watch.start()
    workdir = tempfile.mkdtemp(prefix=prefix)
    # mkdtemp makes it 0700. Builds that kept the sandboxes' shared rootfs inside the data folder need it traversable
    # (else crun fails with "make `.../sandbox/rootfs` private: Permission denied" on every invoke).
    os.chmod(workdir, 0o755)
    report = {"benchmark": "invoke", "machine": machine, "argv": "".join(" " + a for a in sys.argv[1:]),
              "args": vars(args),
              "shutdown": {}}
    floor = isola = loop_server = mem_server = None
    findings, live = [], {}
    try:
        floor = Floor(workdir, args.runtime_dir)
        isola = Isola(args.bin, args.runtime_dir, None, workdir, "main")

        print("1/4 warm invoke", flush=True)
        report["warm"] = measure_warm(floor, isola, args.rounds, args.requests_1, args.requests_4, args.warmup)
        live["after warm (4 tenants)"] = (4, len(isola.env_ids()))
        report["breakdown"] = measure_breakdown(isola, "warm-0", args.breakdown)
        b = report["breakdown"]
        print(f"  breakdown p50: health {b['health']['p50']:.3f}, DryRun {b['dryrun']['p50']:.3f}, invoke {b['invoke']['p50']:.3f}, "
              f"REPORT Duration {b['duration'].get('p50', 0):.3f} ms", flush=True)

        print("2/4 cold start", flush=True)
        report["cold"] = measure_cold(floor, isola, args.cold, args.cold_gap)
        print(f"  floor p50 {report['cold']['floor']['p50']:.1f} ms, Isola p50 {report['cold']['Isola']['p50']:.1f} ms", flush=True)
        live["after cold (4 + 3 + cold tenants)"] = (4 + 3 + args.cold, len(isola.env_ids()))
        findings += isola.log_findings()
        report["shutdown"]["main server (warm + cold tenants)"] = isola.stop()
        isola = None
        pool_server = Isola(args.bin, args.runtime_dir, None, workdir, "pool", prewarm=1)
        report["cold_pooled"] = measure_pooled(pool_server, args.cold, max(args.cold_gap, 0.2))
        print(f"  pool on: p50 {report['cold_pooled']['p50']:.1f} ms, {report['cold_pooled']['claimed']} of {args.cold} claimed a prewarmed environment", flush=True)
        report["shutdown"]["pool server (--prewarm 1)"] = pool_server.stop()

        print(f"3/4 {args.tenants} new tenants in a row (--keep-alive 5)", flush=True)
        loop_server = Isola(args.bin, args.runtime_dir, 5, workdir, "loop")
        report["loop"] = measure_loop(loop_server, args.tenants)
        print(f"  {report['loop']['wall_seconds']:.1f} s, p50 {report['loop']['p50']:.1f} ms, p99 {report['loop']['p99']:.1f} ms", flush=True)
        findings += loop_server.log_findings()
        report["shutdown"]["loop server (--keep-alive 5)"] = loop_server.stop()
        loop_server = None

        print(f"4/4 idle memory, {args.idle} environments", flush=True)
        mem_server = Isola(args.bin, args.runtime_dir, None, workdir, "memory")
        report["memory"] = measure_memory(mem_server, floor, args.idle, args.settle)
        live[f"memory server ({args.idle} tenants)"] = (args.idle, report["memory"]["environments"])
        findings += mem_server.log_findings()
        report["shutdown"][f"memory server ({args.idle} idle environments)"] = mem_server.stop()
        mem_server = None
    finally:
        for server in (isola, loop_server, mem_server):
            if server is not None:
                stop_process(server.proc)
        if floor is not None:
            floor.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    watch.stop_event.set()
    with open("/proc/loadavg") as f:
        machine["loadavg_end"] = " ".join(f.read().split()[:3])
    report["server_log_findings"] = findings
    report["live_environments"] = {k: {"expected": e, "live": n} for k, (e, n) in live.items()}
    report["other_servers"] = {"at_start": neighbours_at_start, "seen_during_run": sorted(watch.seen.values()),
                               "started_during_run": sorted(watch.started_during_run.values())}

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    print(f"results: {args.json}")
    publish(report, args)


def publish(report, args):
    """The chart, the markdown section (printed, and written into docs/benchmarks.md unless --no-docs)."""
    from invoke_report import chart, markdown
    full = None
    if args.with_full:
        with open(args.with_full) as f:
            full = json.load(f)
    chart(report, args.chart, full)
    chart_rel = os.path.relpath(os.path.abspath(args.chart), os.path.join(ROOT, "docs"))
    section = markdown(report, chart_rel, full)
    print()
    print(section)
    if not args.no_docs:
        from benchdocs import write_section
        print(f"written to {write_section('Invoke', section)}, {args.chart}")


if __name__ == "__main__":
    main()
