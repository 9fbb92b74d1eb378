#!/usr/bin/env bash
# Every benchmark, one after the other, each measuring its own baseline in the same run, and each writing its
# JSON (bench/results/) and its section of docs/benchmarks.md (the invoke bench also the chart). About 15 minutes
# on a 2-vCPU machine; run it as root on a quiet machine after scripts/setup:
#   bench/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || { echo "bench/all.sh: run scripts/setup first (no .venv)" >&2; exit 2; }
"$python" -c "import matplotlib" 2>/dev/null || .venv/bin/pip install -q -r bench/requirements.txt
swift build -c release --product isola 2>&1 | grep -E "error|Compiling|Build of product" || true
echo "== control plane";      "$python" bench/control_plane.py --json bench/results/control_plane.json
"$python" bench/benchdocs.py control-plane bench/results/control_plane.json
echo "== invoke (warm, cold with and without the pool, 1,000 tenants, 100 idle environments)"; "$python" bench/invoke.py
echo "== gateway";            "$python" bench/gateway.py
echo "== log capture";        "$python" bench/logs.py
echo "== fairness under load"; "$python" bench/fairness.py
