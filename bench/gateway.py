#!/usr/bin/env python3
"""What the gateway adds: the same function and tenant, warm, through a direct Invoke (SigV4-signed, signed before
the timer starts) and through the gateway (`GET /bench` with `X-Tenant-ID`), alternating, in one run.

The handler is the seed's (it returns an API Gateway proxy response). Through the gateway, Isola also builds the
payload-format 1.0 event and turns the proxy response back into HTTP; the direct Invoke returns the function's
result as is. Every response is checked. Target: the gateway adds at most 0.1 ms at p50.

Usage (as root): .venv/bin/python bench/gateway.py [--requests 2000] [--rounds 3]
"""
import argparse, base64, http.client, io, json, os, statistics, sys, tempfile, time, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdocs import write_section
from invoke_servers import ACCOUNT, Isola, percentiles, signed_headers, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/isola"))
    ap.add_argument("--runtime-dir", default=os.path.join(ROOT, "runtime"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/results/gateway.json"))
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="isola-gateway-bench-")
    os.chmod(workdir, 0o755)
    isola = Isola(args.bin, args.runtime_dir, None, workdir, "gateway", create=False)
    gateway_port = int(isola.command[isola.command.index("--gateway-port") + 1])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", HANDLER)
    try:
        isola.call("POST", "/2015-03-31/functions", {
            "FunctionName": FUNCTION, "Runtime": "python3.11", "Role": f"arn:aws:iam::{ACCOUNT}:role/bench", "Handler": "lambda_function.lambda_handler",
            "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()}, "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
        })
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
    report = {"benchmark": "gateway", "machine": {"cpus": os.cpu_count(), "measured": time.strftime("%Y-%m-%d %H:%M"), "binary": os.path.relpath(args.bin, ROOT)},
              "args": vars(args), "percentiles": p, "added_p50_ms": round(added, 3), "shutdown": isola_stop}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
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
