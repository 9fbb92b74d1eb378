"""The report of bench/invoke.py: the latency chart (PNG) and the `## Invoke` markdown section."""
import os


def chart(report, path, full=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def cdf(ax, samples, label, **style):
        s = sorted(samples)
        if s:
            ax.plot(s, [(i + 1) / len(s) for i in range(len(s))], label=label, **style)

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    warm = report["warm"]
    for key, style in (("floor 1c", dict(color="tab:gray")), ("Isola 1c", dict(color="tab:blue")),
                       ("floor 4c", dict(color="tab:gray", linestyle="--")), ("Isola 4c", dict(color="tab:blue", linestyle="--"))):
        name, clients = key.split()
        cdf(left, warm[key]["samples"], f"{name}, {clients[0]} client{'s' if clients[0] != '1' else ''} (p50 {warm[key]['p50']:.2f} ms)", **style)
    left.set_xscale("log")
    left.set_title("Warm invoke latency (CDF)")
    left.set_xlabel("ms (log)")
    left.set_ylabel("fraction of requests")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    cold = report["cold"]
    cdf(right, cold["floor"]["samples"], f"floor: fresh awslambdaric process (p50 {cold['floor']['p50']:.1f} ms)", color="tab:gray")
    cdf(right, cold["Isola"]["samples"], f"Isola: new tenant, spaced (p50 {cold['Isola']['p50']:.1f} ms)", color="tab:blue")
    loop = report["loop"]
    cdf(right, loop["samples"], f"Isola: {loop['tenants']} new tenants in a row (p50 {loop['p50']:.1f} ms)", color="tab:orange")
    if full:
        loop = full["loop"]
        cdf(right, loop["samples"], f"Isola: {loop['tenants']} new tenants in a row (p50 {loop['p50']:.1f} ms)", color="tab:orange", linestyle="--")
    right.axvline(60, color="tab:red", linestyle=":", label="target: 60 ms")
    right.set_xscale("log")
    right.set_title("Cold start: a new tenant's first invoke (CDF)")
    right.set_xlabel("ms (log)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}".lstrip("0.")[:1] in ("2", "5") else ""))
        ax.tick_params(axis="x", which="minor", labelsize=7)
    fig.suptitle(f"Isola invoke ({report['machine']['binary']}, {report['machine']['cpus']} vCPU, {report['machine']['measured']})", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def markdown(report, chart_rel, full=None):
    """The `## Invoke` section; `full`, a second run's report (e.g. --tenants 1000 --idle 100), adds its loop,
    memory and shutdown rows, and one line with its warm and cold figures."""
    runs = [report] + ([full] if full else [])
    m, a, warm, cold, mem = report["machine"], report["args"], report["warm"], report["cold"], report["memory"]
    f1, i1, f4, i4 = warm["floor 1c"], warm["Isola 1c"], warm["floor 4c"], warm["Isola 4c"]
    ratio1, ratio4 = i1["p50"] / f1["p50"], i4["p50"] / f4["p50"]
    per_round = ""
    if i1.get("round_p50") and f1.get("round_p50"):
        pairs = [b / a for a, b in zip(f1["round_p50"], i1["round_p50"])]
        per_round = (" Round by round (each round measures the floor and Isola one right after the other, so each pair "
                     "saw the same machine), 1 client: " + ", ".join(f"{x:.2f}x" for x in pairs) + ".")
    cold_ratio = cold["Isola"]["p50"] / i1["p50"]
    out = [
        "## Invoke",
        "",
        f"`python3 bench/invoke.py{report['argv']}` ({m['binary']}, {m['cpus']} vCPU, kernel {m['kernel']}, measured {m['measured']}; "
        f"CPUs {m.get('host_busy_before_start', 0):.0%} busy with other work just before it started, load average "
        f"{m['loadavg_start']}). Handler: "
        "`def handler(event, context): return {\"ok\": True, \"tenant\": context.tenant_id}` on `/usr/bin/python3` with "
        "awslambdaric 4.2.2. Every response is checked (status 200 and the body).",
        "",
        "The **floor** is measured in the same run: a minimal, unsandboxed Runtime API server written for the bench "
        "(one Python asyncio process: the Runtime API's long-polled `next`, `response` and `error`, plus an HTTP front "
        "taking the same Invoke request) that starts one `/usr/bin/python3 -m awslambdaric app.handler` per tenant "
        "(`PYTHONPATH=runtime/python`) and queues each invoke straight to it: no sandbox, no auth, no store, no logs. "
        "Isola requests are SigV4-signed with botocore (dummy keys) before the timer starts; the floor's are the same "
        "requests unsigned.",
        "",
        "### Warm invoke",
        "",
        f"{a['rounds']} rounds, floor and Isola alternating; per round and client {a['warmup']} warm-up invokes, then "
        f"{a['requests_1']} (1 client) or {a['requests_4']} (4 clients) timed ones. 4 clients = 4 processes, each with "
        "one keep-alive connection and **its own tenant** (4 tenants, each warmed first, so 4 warm environments). "
        "req/s is the median over rounds of requests / wall time.",
        "",
        "| target | clients | p50 ms | p90 ms | p99 ms | req/s | p50 / floor p50 | server CPU µs/invoke | runtime-side CPU µs/invoke | bad responses |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, base in (("floor 1c", f1), ("Isola 1c", f1), ("floor 4c", f4), ("Isola 4c", f4)):
        x = warm[key]
        out.append(f"| {key.split()[0]} | {x['clients']} | {x['p50']:.3f} | {x['p90']:.3f} | {x['p99']:.3f} | {x['rps']:.0f} | "
                   f"{x['p50'] / base['p50']:.2f} | {x['server_cpu_us']:.0f} | {x['runtime_cpu_us']:.0f} | {x['errors']} |")
    bd = report["breakdown"]
    out += [
        "",
        "CPU per invoke: the server process (Isola, or the floor's asyncio process), and the runtime side (in Isola: "
        "every process in the environments' cgroups, i.e. the agent (PID 1, idle while it waits) plus python; in the "
        "floor: the python processes), from `/proc/<pid>/task/*/schedstat`, over warm-up and timed invokes.",
        "",
        f"Target *warm invoke p50 within 1.5x of the floor*: 1 client {ratio1:.2f}x, {verdict(ratio1 <= 1.5)}; "
        f"4 clients {ratio4:.2f}x, {verdict(ratio4 <= 1.5)}.{per_round}",
        "",
        f"Target *with 4 clients, throughput >= 1.5x the 1-client figure*: {i4['rps'] / i1['rps']:.2f}x ({i4['rps']:.0f} vs "
        f"{i1['rps']:.0f} req/s), {verdict(i4['rps'] >= 1.5 * i1['rps'])}. The floor scales {f4['rps'] / f1['rps']:.2f}x here: on 2 "
        "vCPUs the 4 client processes, the server and the runtimes share the same two CPUs, and the Python clients alone "
        "use a large part of them.",
        "",
        f"Where Isola's warm invoke goes (1 client, one connection, {bd['invoke']['n']} of each, interleaved):",
        "",
        "| request | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| `GET /health` (unsigned, no store): the server's HTTP floor | {bd['health']['p50']:.3f} | {bd['health']['p90']:.3f} | {bd['health']['p99']:.3f} |",
        f"| Invoke `DryRun` (SigV4, resolve, tenancy check; no engine) | {bd['dryrun']['p50']:.3f} | {bd['dryrun']['p90']:.3f} | {bd['dryrun']['p99']:.3f} |",
        f"| Invoke, warm (with `X-Amz-Log-Type: Tail`) | {bd['invoke']['p50']:.3f} | {bd['invoke']['p90']:.3f} | {bd['invoke']['p99']:.3f} |",
    ]
    if bd["duration"].get("n"):
        out.append(f"| its REPORT `Duration` (engine -> runtime -> back, server-measured) | {bd['duration']['p50']:.3f} | "
                   f"{bd['duration']['p90']:.3f} | {bd['duration']['p99']:.3f} |")
    out += [
        "",
        f"The whole warm round trip of the floor (client -> server -> python -> back) is {f1['p50']:.3f} ms at p50.",
        "",
        "### Cold start: a new tenant's first invoke",
        "",
        f"{a['cold']} new tenants (after 3 warm-up ones), {a['cold_gap']} s apart, with an empty pool for each (no "
        "prewarmed environment). Isola's requests ask for the log tail (`X-Amz-Log-Type: Tail`) to read the server's "
        "own `Init Duration` (sandbox start to the runtime's first `next`). The floor's cold start is a fresh "
        "awslambdaric process on the host, started by the same request, to its first response.",
        "",
        "| target | p50 ms | p90 ms | p99 ms | max ms | p50 / Isola warm p50 (1 client) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, x in (("floor: fresh unsandboxed process", cold["floor"]), ("Isola: new tenant", cold["Isola"])):
        out.append(f"| {label} | {x['p50']:.1f} | {x['p90']:.1f} | {x['p99']:.1f} | {x['max']:.1f} | {x['p50'] / i1['p50']:.0f}x |")
    init = cold["Isola init duration (server's REPORT line)"]
    if init.get("n"):
        out.append(f"| Isola: its Init Duration only | {init['p50']:.1f} | {init['p90']:.1f} | {init['p99']:.1f} | {init['max']:.1f} | |")
    out += [
        "",
        f"Target *a new tenant's first invoke p50 under 60 ms*: {cold['Isola']['p50']:.1f} ms, {verdict(cold['Isola']['p50'] < 60)} "
        f"({cold_ratio:.0f}x Isola's warm p50; {cold['Isola']['p50'] / cold['floor']['p50']:.2f}x the floor's unsandboxed cold start). "
        f"Target *with the pool empty, p50 <= 45 ms*: {verdict(cold['Isola']['p50'] <= 45)}.",
    ]
    pooled = report.get("cold_pooled")
    if pooled:
        out += [
            "",
            f"With the pool on (`--prewarm 1`, a separate server, {pooled['n']} new tenants spaced so the pool refills): "
            f"p50 {pooled['p50']:.3f} ms, p90 {pooled['p90']:.3f} ms, p99 {pooled['p99']:.3f} ms; {pooled['claimed']} of {pooled['n']} claimed a "
            f"prewarmed environment (the server counted no cold start for them), {pooled['errors']} errors.",
            "",
        ]
        if "warm_before" in pooled:
            same = pooled["warm_before"]["p50"]
            out += [
                f"Each first invoke came right after a warm invoke of an existing tenant (same connection, same pause before "
                f"it): those warm invokes' p50 was {same:.3f} ms, and each new tenant's second invoke "
                f"{pooled['second']['p50']:.3f} ms. Target *a new tenant's first invoke with the pool on p50 <= 1.5x Isola's "
                f"warm p50*: {pooled['p50'] / same:.2f}x the warm invoke made in the same conditions, "
                f"{verdict(pooled['p50'] <= 1.5 * same)}; {pooled['p50'] / i1['p50']:.2f}x the back-to-back warm runs' p50 "
                f"({verdict(pooled['p50'] <= 1.5 * i1['p50'])} against that stricter baseline).",
            ]
        else:
            out += [
                f"Target *a new tenant's first invoke with the pool on p50 <= 1.5x Isola's warm p50*: "
                f"{pooled['p50'] / i1['p50']:.2f}x, {verdict(pooled['p50'] <= 1.5 * i1['p50'])}.",
            ]
        out += [""]
    if full:
        fw, fc = full["warm"], full["cold"]
        out += [f"The second run (`python3 bench/invoke.py{full['argv']}`, {full['machine']['measured']}, its own warm and "
                f"cold phases) measured: warm p50 {fw['Isola 1c']['p50']:.3f} ms vs floor {fw['floor 1c']['p50']:.3f} ms "
                f"({fw['Isola 1c']['p50'] / fw['floor 1c']['p50']:.2f}x) with 1 client, {fw['Isola 4c']['p50']:.3f} vs "
                f"{fw['floor 4c']['p50']:.3f} ms ({fw['Isola 4c']['p50'] / fw['floor 4c']['p50']:.2f}x) with 4; a new "
                f"tenant's first invoke p50 {fc['Isola']['p50']:.1f} ms (p99 {fc['Isola']['p99']:.1f}), floor "
                f"{fc['floor']['p50']:.1f} ms.", ""]
    out += [
        "### New tenants in a row",
        "",
        "The seed walkthrough's loop (`for i in {1..20}; do curl -H \"X-Tenant-ID: $i\"; done`) scaled up: "
        f"{' and '.join(str(r['loop']['tenants']) for r in runs)} new tenants back to back on one connection, against a "
        "server started with `--keep-alive 5` (idle environments are torn down after 5 s, by the reaper that runs every "
        "5 s, while the loop goes on).",
        "",
        "| tenants | total s | tenants/s | p50 ms | p90 ms | p99 ms | max ms | p50 first quarter | p50 last quarter | peak live envs | peak env memory MB | peak server RSS MB | bad |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        x = r["loop"]
        out.append(f"| {x['tenants']} | {x['wall_seconds']:.1f} | {x['per_second']:.1f} | {x['p50']:.1f} | {x['p90']:.1f} | "
                   f"{x['p99']:.1f} | {x['max']:.1f} | {x['first_quarter_p50']:.1f} | {x['last_quarter_p50']:.1f} | "
                   f"{x['peak_live_environments']} | {x['peak_cgroup_memory_mb']:.0f} | {x['peak_server_rss_mb']:.0f} | {x['errors']} |")
    out += ["", "Total includes the client's SigV4 signing (about 0.1-0.2 ms per request); per-request times do not."]
    big = max(runs, key=lambda r: r["loop"]["tenants"])["loop"]
    out += ["", f"Target *{big['tenants']} new tenants in a row: no errors, p99 <= 3x p50*: {big['errors']} errors, p99 "
            f"{big['p99'] / big['p50']:.2f}x p50, {verdict(big['errors'] == 0 and big['p99'] <= 3 * big['p50'])}."]
    for r in runs:
        x, spikes = r["loop"], r["loop"].get("spikes", [])
        if not spikes:
            continue
        during = [y for y in spikes if y["environments_torn_down_meanwhile"] > 0]
        out += ["", f"{x['tenants']} tenants: {len(spikes)} request{'s' if len(spikes) != 1 else ''} took more than 5x the "
                f"median (up to {max(y['ms'] for y in spikes):.0f} ms); {len(during)} of them ran while the keep-alive "
                "reaper was tearing environments down (" + (", ".join(str(y["environments_torn_down_meanwhile"]) for y in during) or "none")
                + " environments at those moments). Reaps during the loop (time s: live before -> after): "
                + ", ".join(f"{q['at_s']:.1f}: {q['from']} -> {q['to']}" for q in x.get("reaps", [])) + "."]
    mems = [r["memory"] for r in runs]
    out += [
        "",
        "### Idle memory per environment",
        "",
        f"{' and '.join(str(x['environments']) for x in mems)} warm idle environments (each tenant invoked twice, then "
        f"{a['settle']} s idle) on a fresh server. PSS sums `Pss` from `/proc/<pid>/smaps_rollup` over every process "
        f"listed in each environment's `cgroup.procs` ({mem['processes_per_environment']:.0f} per environment: the agent "
        "and python); cgroup = `memory.usage_in_bytes` of the environment's memory cgroup (includes page cache charged "
        "to it). Host side = the processes the server keeps outside the cgroups, one `crun run` per environment.",
        "",
        "| MB per environment | " + " | ".join(f"{x['environments']} environments" for x in mems) + " |",
        "|---|" + "---:|" * len(mems),
        "| PSS inside the sandbox (agent + python + awslambdaric) | " + " | ".join(f"{x['pss_mb_per_environment']:.2f}" for x in mems) + " |",
        "| cgroup memory usage | " + " | ".join(f"{x['cgroup_usage_mb_per_environment']:.2f}" for x in mems) + " |",
        "| host side: the `crun run` parent, PSS | " + " | ".join(f"{x['host_side_pss_mb_per_environment']:.2f}" for x in mems) + " |",
        "| server growth (isola PSS before -> after) | " + " | ".join(
            f"{x['server_growth_mb_per_environment']:.3f} ({x['server_pss_mb_before']:.0f} -> {x['server_pss_mb_after']:.0f} MB)" for x in mems) + " |",
        f"| floor: one unsandboxed awslambdaric process, PSS (mean of {mem['floor_runtimes']}) | "
        + " | ".join(f"{x['floor_pss_mb_per_runtime']:.2f}" for x in mems) + " |",
        "",
        f"Target *idle environment <= 10 MiB*: {mem['pss_mb_per_environment'] + mem['host_side_pss_mb_per_environment']:.2f} MB (PSS inside plus its "
        f"`crun run` parent), {verdict(mem['pss_mb_per_environment'] + mem['host_side_pss_mb_per_environment'] <= 10.49)}. Capacity: "
        f"{int(report['machine'].get('memory_budget_mb', 0) // max(0.01, mem['cgroup_usage_mb_per_environment'] + mem['host_side_pss_mb_per_environment'])) if report['machine'].get('memory_budget_mb') else '-'} "
        f"idle environments fit in the default memory budget ({report['machine'].get('memory_budget_mb', '-')} MB, 75% of RAM) by what they really use; "
        "the engine reserves each one's MemorySize (128 MB here), so `--memory-budget` / 128 of them are admitted, and `--max-environments` caps them.",
        "",
        "### Shutdown",
        "",
        "| server | environments | SIGTERM to exit, s | exit code | leftover crun state / cgroups / processes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in runs:
        for label, x in r["shutdown"].items():
            label = f"{label}, {r['loop']['tenants']}-tenant run" if full else label
            out.append(f"| {label} | {x['environments']} | {x['seconds']:.2f} | {x['exit_code']} | "
                       f"{x['leftover_crun_state']} / {x['leftover_cgroups']} / {x['leftover_processes']} |")
    lost = {k: v for r in runs for k, v in r["live_environments"].items() if v["live"] != v["expected"]}
    out += ["", "Environments alive at each checkpoint (keep-alive 600 s, so none should go): " + "; ".join(
        f"{(str(r['loop']['tenants']) + '-tenant run, ') if full else ''}{k}: {v['live']} of {v['expected']}"
        for r in runs for k, v in r["live_environments"].items()) + "."]
    if lost:
        out.append("**Some environments disappeared before their keep-alive ran out** (see the server log lines below, if any).")
    others = {"seen_during_run": sorted({x for r in runs for x in r["other_servers"]["seen_during_run"]})}
    started = [x for r in runs for x in r["other_servers"].get("started_during_run", [])]
    if started:
        out += ["", f"**{len(started)} other `isola serve` processes started during this bench** (a test suite on the "
                "same host, competing for the CPUs): treat these figures with care."]
    elif others["seen_during_run"]:
        out += ["", f"{len(others['seen_during_run'])} other long-running `isola serve` process(es) ran beside these runs "
                "(none started during them)."]
    out += ["", f"![Warm and cold invoke latency distributions]({chart_rel})", ""]
    if report["server_log_findings"]:
        out += ["Server log lines beyond the expected start-up warnings (first 5):", "", "```"]
        out += [line[:300] for line in report["server_log_findings"][:5]]
        out += ["```", ""]
    return "\n".join(out)
