#!/usr/bin/env bash
# Reproduce every figure of docs/performance.md:
#   1. generate the 1,000,000-route streams if they are not cached yet
#      ($TMPDIR/bgpevpn-bench, or $BGPEVPN_BENCH_CACHE),
#   2. run the benchmarks (pytest-benchmark) into benchmarks/results/latest.json,
#   3. check the targets (exit status of this script) and print a markdown table.
# Extra arguments go to pytest (e.g. -k 'py' or --benchmark-min-rounds).
# BGPEVPN_BENCH_ROUTES=20000 benchmarks/run.sh gives a quick smoke run.
# Besides the codec: RIB (test_rib_speed.py), Speaker over loopback TCP
# (test_speaker_ingest.py, wall time), pcap decode (test_pcap_speed.py) and,
# when `pip install exabgp` was done, ExaBGP on the same stream
# (test_exabgp_speed.py; skipped otherwise).  A full run takes about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
ROUTES=${BGPEVPN_BENCH_ROUTES:-1000000}
OUT=benchmarks/results/latest.json

"$PY" benchmarks/generate.py --routes "$ROUTES" --cached >/dev/null
"$PY" benchmarks/generate.py --routes "$ROUTES" --max-size 4096 --cached >/dev/null
"$PY" benchmarks/pcapwriter.py --cached >/dev/null            # the pcap of the stream (and
"$PY" benchmarks/pcapwriter.py --cached --no-open >/dev/null  # one without OPENs), cached too
mkdir -p benchmarks/results
"$PY" -m pytest benchmarks/ --benchmark-only --benchmark-json="$OUT" \
    --benchmark-sort=name --benchmark-timer=time.process_time \
    -q -p no:cacheprovider "$@"
"$PY" benchmarks/check_targets.py "$OUT" --markdown
