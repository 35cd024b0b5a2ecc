#!/usr/bin/env bash
# Every benchmark command of BENCHMARKS.md, run once at a small size: proves they still run
# (after a refactoring, say), measures nothing worth quoting. Takes about 15 minutes.
# Needs what the benchmarks need: PostgreSQL with PostGIS, Redis, ../shared beside the clone.
# Usage: bash bench/smoke.sh   (from the repository root, after scripts/setup.sh test)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {
  echo "== $*"
  started=$SECONDS
  "$@" >"$out/log" 2>&1 || { tail -n 40 "$out/log"; echo "FAILED: $*"; exit 1; }
  echo "   ok in $((SECONDS - started)) s"
}
run $py bench/bench_mask.py --runs 1 --size 1098 --crop 256 --s2cloudless-runs 1 \
  --cache "$out/products" --no-write
run $py bench/bench_semi_transparent.py --runs 1 --size 1098 --levels L1C L2A \
  --cache "$out/products" --no-write
run $py bench/bench_codecs.py --runs 1 --size 732
run $py -m bench.bench_tiles --rounds 1 --requests 40 --workers 1
run $py -m bench.bench_publish --items 500 --rounds 1
run $py -m bench.bench_search --items 2000 --rounds 1 --requests 40
run $py -m bench.bench_search --items 2000 --shape aggregate --rounds 1 --requests 40
run $py -m bench.bench_search_counts --items 2000 --rounds 1 --requests 40
run $py -m bench.bench_million --items 3000 --database kappacat_bench_smoke --reload \
  --rounds 1 --requests 16
run $py -m bench.bench_million_load --items 200 --rounds 1 --million 3000 \
  --database kappacat_bench_smoke
run $py -m bench.million_breakdown --items 3000 --samples 2 --database kappacat_bench_smoke
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS kappacat_bench_smoke" postgres
run $py bench/bench_pipeline.py --workers 1 --products 1 --size 1098
echo "every benchmark command ran"
