#!/usr/bin/env python3
"""What the gateway adds: the same function and tenant, warm, through a direct Invoke (SigV4-signed, signed before
the timer starts) and through the gateway (`GET /bench` with `X-Tenant-ID`), alternating, in one run.

The handler is the seed's (it returns an API Gateway proxy response). Through the gateway, Isola also builds the
payload-format 1.0 event and turns the proxy response back into HTTP; the direct Invoke returns the function's
result as is. Every response is checked. Target: the gateway adds at most 0.1 ms at p50.

Usage (as root): .venv/bin/python bench/gateway.py [--requests 2000] [--rounds 3]
"""
import http.client, json, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdocs import write_section
from invoke_servers import Isola, bench_arguments, bench_workdir, machine, percentiles, signed_headers, stop_process, write_report

FUNCTION = "bench-fn"
HANDLER = """
import json
def lambda_handler(event, context):
    return {'statusCode': 200, 'body': json.dumps({"tenant_id": context.tenant_id})}
"""
TENANT = "7"
EXPECTED = {"tenant_id": TENANT}


def run(port, method, path, headers, body, count, direct, warmup=200):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for i in range(warmup + count):
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        got = json.loads(payload)
        if response.status != 200 or (json.loads(got["body"]) if direct else got) != EXPECTED:
            raise RuntimeError(f"bad response {response.status}: {payload[:200]!r}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def main():
    ap = bench_arguments(__doc__, "gateway.json")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    workdir = bench_workdir("isola-gateway-bench-")
    isola = Isola(args.bin, args.runtime_dir, None, workdir, "gateway", create=False)
    gateway_port = int(isola.command[isola.command.index("--gateway-port") + 1])
    try:
        isola.create_function(FUNCTION, HANDLER, "lambda_function.py", "lambda_function.lambda_handler", "python3.11")
        isola.call("POST", "/isola/v1/routes", {"RouteKey": "ANY /bench", "FunctionName": FUNCTION})
        invoke_path = f"/2015-03-31/functions/{FUNCTION}/invocations"
        direct_headers = signed_headers(isola.port, TENANT)
        del direct_headers["Content-Type"]
        samples = {"direct Invoke": [], "gateway": []}
        for r in range(args.rounds):
            order = ("direct Invoke", "gateway") if r % 2 == 0 else ("gateway", "direct Invoke")
            for name in order:
                if name == "gateway":
                    got = run(gateway_port, "GET", "/bench", {"X-Tenant-ID": TENANT}, None, args.requests, direct=False)
                else:
                    got = run(isola.port, "POST", invoke_path, direct_headers, b'{"bench": true}', args.requests, direct=True)
                samples[name] += got
                print(f"  round {r + 1}: {name:13} p50 {statistics.median(got):.3f} ms", flush=True)
        isola_stop = isola.stop()
    finally:
        stop_process(isola.proc)
    p = {k: percentiles(v) for k, v in samples.items()}
    added = p["gateway"]["p50"] - p["direct Invoke"]["p50"]
    report = {"benchmark": "gateway", "machine": machine(args.bin), "args": vars(args), "percentiles": p, "added_p50_ms": round(added, 3),
              "shutdown": isola_stop}
    write_report(args.json, report)
    lines = [
        "## Gateway",
        "",
        f"`bench/gateway.py --requests {args.requests} --rounds {args.rounds}` ({report['machine']['binary']}, {report['machine']['cpus']} vCPU, "
        f"measured {report['machine']['measured']}). The seed's handler, one warm tenant, 1 client: a direct Invoke (SigV4) and the same "
        "call through the gateway (`GET /bench`, `X-Tenant-ID`), which also builds the 1.0 proxy event and turns the proxy response back "
        "into HTTP. Every response checked.",
        "",
        "| path | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ] + [f"| {name} | {p[name]['p50']:.3f} | {p[name]['p90']:.3f} | {p[name]['p99']:.3f} |" for name in ("direct Invoke", "gateway")] + [
        "",
        f"Target *the gateway adds at most 0.1 ms p50 over a direct Invoke*: {added:+.3f} ms, **{'met' if added <= 0.1 else 'missed'}**.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_docs:
        print("written to", write_section("Gateway", text))


if __name__ == "__main__":
    main()
