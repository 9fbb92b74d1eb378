#!/usr/bin/env python3
"""Control-plane latency: how long Lambda API calls take against a real `isola serve`.

Starts its own server (a temp data dir, free ports), then times, with one keep-alive HTTP connection and
requests signed by botocore's SigV4 (as the aws CLI signs them):
  - baseline: GET /health (no auth, no store): the HTTP floor of this server on this machine, same run;
  - GetFunctionConfiguration, ListFunctions (50 functions), UpdateFunctionConfiguration, CreateFunction +
    DeleteFunction (1 KB zip), PublishVersion.
Reports p50/p90/p99 in ms and each operation's p50 as a ratio to the baseline p50, as JSON and as a markdown
table. Usage:
  python3 bench/control_plane.py [--bin .build/release/isola] [--iterations 300] [--json out.json]
"""
import argparse, base64, io, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, zipfile
import http.client
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials("bench", "bench")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("app.py", "def handler(event, context):\n    return event\n" + "#" * 1000)
    return buf.getvalue()


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def call(self, method, path, body=None, signed=True):
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"}
        if signed:
            req = AWSRequest(method=method, url=f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers)
            SigV4Auth(CREDS, "lambda", "us-east-1").add_auth(req)
            headers = dict(req.headers.items())
        started = time.perf_counter()
        self.conn.request(method, path, body=data or None, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path} -> {resp.status} {payload[:200]!r}")
        return elapsed, payload


def percentiles(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return {"p50": round(statistics.median(s), 3), "p90": round(pick(0.90), 3), "p99": round(pick(0.99), 3), "n": len(s)}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(root, ".build/release/isola"))
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"no binary at {args.bin}: build it with `swift build -c release` (or pass --bin)")

    data_dir = tempfile.mkdtemp(prefix="isola-bench-")
    port = free_port()
    server = subprocess.Popen([args.bin, "serve", "--port", str(port), "--gateway-port", str(free_port()),
                               "--data-dir", data_dir, "--log-level", "warning"], stderr=subprocess.DEVNULL)
    try:
        client = Client(port)
        for _ in range(100):
            try:
                client.call("GET", "/health", signed=False)
                break
            except (ConnectionError, OSError):
                time.sleep(0.05)
                client = Client(port)
        zip_b64 = base64.b64encode(small_zip()).decode()
        base = {"Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/bench", "Handler": "app.handler",
                "Code": {"ZipFile": zip_b64}}
        for i in range(50):
            client.call("POST", "/2015-03-31/functions", dict(base, FunctionName=f"fn-{i:03d}", TenancyConfig={"TenantIsolationMode": "PER_TENANT"}))
        n = args.iterations
        ops = {
            "baseline GET /health (unsigned, no store)": lambda i: client.call("GET", "/health", signed=False)[0],
            "GetFunctionConfiguration": lambda i: client.call("GET", "/2015-03-31/functions/fn-007/configuration")[0],
            "ListFunctions (50 functions)": lambda i: client.call("GET", "/2015-03-31/functions/")[0],
            "UpdateFunctionConfiguration": lambda i: client.call("PUT", "/2015-03-31/functions/fn-008/configuration", {"Description": f"d{i}"})[0],
            "PublishVersion (after an update)": None,
            "CreateFunction (1 KB zip)": lambda i: client.call("POST", "/2015-03-31/functions", dict(base, FunctionName=f"c-{i}"))[0],
            "DeleteFunction": lambda i: client.call("DELETE", f"/2015-03-31/functions/c-{i}")[0],
        }

        def publish(i):
            client.call("PUT", "/2015-03-31/functions/fn-009/configuration", {"Description": f"p{i}"})
            return client.call("POST", "/2015-03-31/functions/fn-009/versions", {})[0]
        ops["PublishVersion (after an update)"] = publish

        results = {}
        for name, op in ops.items():
            for i in range(10):  # warm-up (not for Create/Delete, whose names must line up)
                if not name.startswith(("Create", "Delete")):
                    op(10_000 + i)
            results[name] = percentiles([op(i) for i in range(n)])
        floor = results["baseline GET /health (unsigned, no store)"]["p50"]
        for r in results.values():
            r["ratio_to_baseline_p50"] = round(r["p50"] / floor, 2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "binary": os.path.relpath(args.bin, root)}
    report = {"benchmark": "control-plane", "iterations": n, "machine": machine, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(f"Control plane, {n} calls each, one keep-alive connection, SigV4-signed ({machine['binary']}, {machine['cpus']} CPUs):\n")
    print("| operation | p50 ms | p90 ms | p99 ms | p50 / baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} | {r['ratio_to_baseline_p50']:.2f} |")


if __name__ == "__main__":
    main()
