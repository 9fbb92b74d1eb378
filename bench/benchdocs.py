#!/usr/bin/env python3
"""Writes benchmark results into docs/benchmarks.md, one `## <Heading>` section per benchmark.

Each bench replaces only its own section (from its heading to the next `## ` heading) and keeps the others. If the
file does not exist yet it is created with a short introduction (the machine, how to run each bench).

Also a command, to put a control-plane run into the document:
  python3 bench/control_plane.py --json bench/results/control_plane.json
  python3 bench/benchdocs.py control-plane bench/results/control_plane.json
"""
import json, os, re, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
ORDER = ["Control plane", "Invoke", "Fairness under load", "Log capture on the invoke path", "Gateway"]  # the sections' order in the document


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine_line():
    return f"{os.cpu_count()} vCPU ({cpu_model()}), kernel {os.uname().release}"


def intro():
    return f"""# Benchmarks

Measured figures for Isola and how to reproduce them. Each bench starts its own `isola serve` (temporary data
folder, free ports), measures a baseline **in the same run on the same machine**, and reports p50/p90/p99 and ratios
to that baseline.

Machine of the figures below: {machine_line()}.
These are shared, noisy virtual machines (a Firecracker guest, other work running beside): **the ratios matter more
than the absolute milliseconds**; expect the absolutes to move by 20-50% between runs.

**Everything in one command**: `bench/all.sh` (as root, after `scripts/setup`; about 15 minutes). It builds the
release binary, runs every bench below and rewrites each one's section and JSON (`bench/results/`).

How to run one at a time (build the release binary first: `swift build -c release --product isola`):

- Control plane: `python3 bench/control_plane.py --json bench/results/control_plane.json`, then
  `python3 bench/benchdocs.py control-plane bench/results/control_plane.json` to put its table here.
- Invoke (as root: crun sandboxes, cgroups): `python3 bench/invoke.py` (200 new tenants in a row, 50 idle
  environments; about a minute, plus any wait for a quiet host). It writes `bench/results/invoke.json`, the chart
  `docs/invoke-latency.png` and its own section below. The full run, about two minutes:
  `python3 bench/invoke.py --tenants 1000 --idle 100 --json bench/results/invoke-full.json --no-docs`; then
  `python3 bench/invoke.py --from-json bench/results/invoke.json --with-full bench/results/invoke-full.json`
  renders both into the section (measuring nothing).

"""


def write_section(heading, body):
    """Replaces (or appends) the `## heading` section of docs/benchmarks.md with body (which starts with the heading)."""
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    text = open(DOC).read() if os.path.exists(DOC) else intro()
    body = body.rstrip("\n") + "\n"
    pattern = re.compile(r"^## " + re.escape(heading) + r"[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text, count=1)
    else:
        # A new section goes before the first section that comes after it in ORDER, else at the end.
        later = ORDER[ORDER.index(heading) + 1:] if heading in ORDER else []
        spots = [m.start() for h in later for m in [re.search(r"^## " + re.escape(h) + r"[ \t]*\n", text, re.M)] if m]
        if spots:
            text = text[:min(spots)] + body + "\n" + text[min(spots):]
        else:
            text = text.rstrip("\n") + "\n\n" + body
    with open(DOC, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    return DOC


def control_plane_section(report):
    r = report["results"]
    m = report["machine"]
    lines = [
        "## Control plane",
        "",
        f"`python3 bench/control_plane.py` ({m['binary']}, {m['cpus']} CPUs, kernel {m['kernel']}, measured "
        f"{report.get('measured', time.strftime('%Y-%m-%d'))}): {report['iterations']} calls per operation after 10 warm-up "
        "calls, one keep-alive connection, each request SigV4-signed by botocore (signing happens before the timer "
        "starts). The baseline is the same server's `GET /health` (no auth, no store) in the same run.",
        "",
        "| operation | p50 ms | p90 ms | p99 ms | p50 / baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, x in r.items():
        lines.append(f"| {name} | {x['p50']:.2f} | {x['p90']:.2f} | {x['p99']:.2f} | {x['ratio_to_baseline_p50']:.2f} |")
    worst = max((x["p99"], name) for name, x in r.items())
    slowest = max((x["p50"], name) for name, x in r.items())
    lines += [
        "",
        f"Every control-plane call answers in single-digit milliseconds at the median: the slowest p50 is "
        f"{slowest[0]:.2f} ms ({slowest[1]}); the worst p99 is {worst[0]:.2f} ms ({worst[1]})."
        if slowest[0] < 10 else
        f"Not every call answers in single-digit milliseconds at the median: the slowest p50 is {slowest[0]:.2f} ms "
        f"({slowest[1]}).",
    ]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "control-plane":
        sys.exit("usage: bench/benchdocs.py control-plane RESULTS.json")
    with open(sys.argv[2]) as f:
        report = json.load(f)
    report.setdefault("measured", time.strftime("%Y-%m-%d", time.localtime(os.path.getmtime(sys.argv[2]))))
    section = control_plane_section(report)
    print(section)
    print(f"written to {write_section('Control plane', section)}")


if __name__ == "__main__":
    main()
