#!/usr/bin/env python3
"""What log capture costs on the invoke path: a log-heavy function's warm invokes, next to the same function
logging nothing, on Isola and on the unsandboxed floor (bench/invoke_floor.py, which discards the runtime's
output), in one run.

One handler serves both modes, chosen by the payload: `{"heavy": false}` returns at once; `{"heavy": true}`
prints 20 lines and writes 10 `logging` records (30 log events) first. Isola captures, frames, batches and
stores every one of them (and its START/END/REPORT); the floor throws them away. If capture cost nothing on the
invoke path, Isola's heavy/quiet ratio would equal the floor's. Reported:
    overhead = (Isola heavy p50 / Isola quiet p50) / (floor heavy p50 / floor quiet p50)
Target: at most 1.10. Also checks that every line reached the log store.

Usage (as root): .venv/bin/python bench/logs.py [--requests 1000] [--rounds 3]
"""
import http.client, json, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdocs import write_section
from invoke_servers import Floor, Isola, bench_arguments, bench_workdir, machine, percentiles, plain_headers, signed_headers, stop_process, write_report

FUNCTION = "bench-fn"  # the floor serves this name
PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
HANDLER = """
import logging
log = logging.getLogger()
log.setLevel(logging.INFO)

def handler(event, context):
    if event.get("heavy"):
        for i in range(20):
            print("line", i, "of a log-heavy invocation, padded to a realistic length for an application log line")
        for i in range(10):
            log.info("record %d for tenant %s with a little context to carry", i, context.tenant_id)
    return {"ok": True, "tenant": context.tenant_id}
"""
LINES_PER_HEAVY = 30


def run(port, headers, heavy, count, warmup=100):
    body = json.dumps({"heavy": heavy}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for i in range(warmup + count):
        started = time.perf_counter()
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or json.loads(payload).get("ok") is not True:
            raise RuntimeError(f"bad response {response.status}: {payload[:200]!r}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def count_events(isola, pattern):
    """Events in the function's log group matching `pattern`, through the Logs API."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    total, token = 0, None
    while True:
        request = {"logGroupName": f"/aws/lambda/{FUNCTION}", "filterPattern": pattern}
        if token:
            request["nextToken"] = token
        data = json.dumps(request).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.FilterLogEvents"}
        aws = AWSRequest(method="POST", url=f"http://127.0.0.1:{isola.port}/", data=data, headers=headers)
        SigV4Auth(Credentials("bench", "bench"), "logs", "us-east-1").add_auth(aws)
        conn = http.client.HTTPConnection("127.0.0.1", isola.port)
        conn.request("POST", "/", body=data, headers=dict(aws.headers.items()))
        page = json.loads(conn.getresponse().read())
        total += len(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return total


def main():
    ap = bench_arguments(__doc__, "logs.json")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    workdir = bench_workdir("isola-logs-bench-")
    floor = Floor(workdir, args.runtime_dir)
    with open(os.path.join(floor.task_dir, "app.py"), "w") as f:
        f.write(HANDLER)  # before the floor's first invoke starts its runtime
    isola = Isola(args.bin, args.runtime_dir, None, workdir, "logs", create=False)
    try:
        isola.create_function(FUNCTION, HANDLER, runtime="python3.11")
        samples = {k: [] for k in ("floor quiet", "floor heavy", "Isola quiet", "Isola heavy")}
        targets = {"floor": (floor.port, plain_headers("t1")), "Isola": (isola.port, signed_headers(isola.port, "t1"))}
        heavy_invokes = 0
        for r in range(args.rounds):
            order = ("floor", "Isola") if r % 2 == 0 else ("Isola", "floor")
            for name in order:
                port, headers = targets[name]
                for heavy in ((False, True) if r % 2 == 0 else (True, False)):
                    got = run(port, headers, heavy, args.requests)
                    samples[f"{name} {'heavy' if heavy else 'quiet'}"] += got
                    if heavy and name == "Isola":
                        heavy_invokes += args.requests + 100
                    print(f"  round {r + 1}: {name:5} {'heavy' if heavy else 'quiet'} p50 {statistics.median(got):.3f} ms", flush=True)
        time.sleep(1.0)  # the writer flushes every 200 ms
        stored = count_events(isola, '"of a log-heavy invocation"') + count_events(isola, '"with a little context to carry"')
        isola_stop = isola.stop()
    finally:
        stop_process(isola.proc)
        floor.stop()
    p = {k: percentiles(v) for k, v in samples.items()}
    isola_ratio = p["Isola heavy"]["p50"] / p["Isola quiet"]["p50"]
    floor_ratio = p["floor heavy"]["p50"] / p["floor quiet"]["p50"]
    overhead = isola_ratio / floor_ratio
    report = {
        "benchmark": "logs", "machine": machine(args.bin),
        "args": vars(args), "percentiles": p, "isola_heavy_over_quiet": round(isola_ratio, 3), "floor_heavy_over_quiet": round(floor_ratio, 3),
        "overhead": round(overhead, 3), "heavy_invokes": heavy_invokes, "heavy_lines_expected": heavy_invokes * LINES_PER_HEAVY,
        "heavy_lines_stored": stored, "shutdown": isola_stop,
    }
    write_report(args.json, report)
    lines = [
        "## Log capture on the invoke path",
        "",
        f"`bench/logs.py --requests {args.requests} --rounds {args.rounds}` ({report['machine']['binary']}, {report['machine']['cpus']} vCPU, "
        f"measured {report['machine']['measured']}). One handler, two payloads: quiet returns at once; heavy first prints 20 lines and writes 10 "
        "`logging` records. Isola captures, frames, batches and stores all 30 (plus START/END/REPORT); the floor discards them. 1 client, warm, "
        "every response checked.",
        "",
        "| target | quiet p50 ms | heavy p50 ms | heavy / quiet |",
        "|---|---:|---:|---:|",
        f"| floor (output discarded) | {p['floor quiet']['p50']:.3f} | {p['floor heavy']['p50']:.3f} | {floor_ratio:.2f} |",
        f"| Isola (every line stored) | {p['Isola quiet']['p50']:.3f} | {p['Isola heavy']['p50']:.3f} | {isola_ratio:.2f} |",
        "",
        f"Target *a log-heavy function is slowed by at most 10%*: Isola's heavy/quiet over the floor's = {overhead:.2f}, "
        f"**{'met' if overhead <= 1.10 else 'missed'}**. Lines stored: {stored} of {heavy_invokes * LINES_PER_HEAVY} written "
        f"({'all' if stored == heavy_invokes * LINES_PER_HEAVY else 'some missing'}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_docs:
        print("written to", write_section("Log capture on the invoke path", text))


if __name__ == "__main__":
    main()
