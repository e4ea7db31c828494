#!/bin/bash
# bench-plots.sh - the scaling curves of one hl_bench run as plots, PNG and SVG (gnuplot).
# Usage: scripts/bench-plots.sh BENCH.json [OUTDIR]   (OUTDIR default: docs/img)
#   BENCH.json: written by `build/bench/hl_bench --json BENCH.json`.
# Needs python3 and gnuplot (Debian: gnuplot-nox; `scripts/deps.sh plots` installs it).
# Writes OUTDIR/bench-<curve>.png and .svg, one per curve, and says which.
set -euo pipefail
json=${1:?usage: scripts/bench-plots.sh BENCH.json [OUTDIR]}
out=${2:-$(dirname "$0")/../docs/img}
command -v gnuplot >/dev/null || { echo "bench-plots: gnuplot is missing (scripts/deps.sh plots)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd) # gnuplot runs in the scratch directory
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per curve (columns as hl_bench printed them, "NaN" for an
# empty cell) and the run's description for the titles.
python3 - "$json" "$tmp" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1]))
for key, c in d["curves"].items():
    with open(f"{sys.argv[2]}/{key}.dat", "w") as f:
        f.write("# " + "\t".join(c["columns"]) + "\n")
        for row in c["rows"]:
            f.write("\t".join("NaN" if v is None else repr(v) for v in row) + "\n")
floor = d.get("floor_us") or float("nan")
mode = "quick run" if d.get("quick") else "default run"
with open(f"{sys.argv[2]}/run.gp", "w") as f:
    f.write(f'floor = {floor if math.isfinite(floor) else "NaN"}\n')
    f.write(f'run = "{d["platform"]}, {mode}, floor {floor:.1f} us"\n')
PY

plot() { # name, gnuplot commands
	local name=$1 fmt term
	for fmt in png svg; do
		case $fmt in
		# pngcairo comes with gnuplot-qt/-x11; gnuplot-nox has the plain png terminal.
		png) term="png size 800,500 noenhanced"
		     gnuplot -e "set terminal" 2>&1 | grep -q pngcairo && term="pngcairo size 800,500 noenhanced" ;;
		svg) term="svg size 800,500 noenhanced" ;;
		esac
		{
			echo "set terminal $term"
			echo "set output '$out/bench-$name.$fmt'"
			echo "load '$tmp/run.gp'"
			echo "set grid; set key top left"
			echo "$2"
		} >"$tmp/$name.gp"
		gnuplot "$tmp/$name.gp"
	done
	echo "$out/bench-$name.png, .svg"
}

cd "$tmp"
plot restore-vs-pages "
	set title 'Restore against dirtied pages (32 MiB heap)'.\"\\n\".run
	set logscale xy; set xlabel 'pages dirtied'; set ylabel 'microseconds'
	plot 'restore_vs_pages.dat' using 1:2 with linespoints title 'restore', \
	     '' using 1:5 with linespoints title 'the call that dirtied them', \
	     floor with lines dashtype 2 title 'floor (one exit)'"
plot restore-vs-size "
	set title 'Restore against sandbox size'.\"\\n\".run
	set logscale x; set xrange [0.8:1200]; set xlabel 'heap (MiB)'; set ylabel 'microseconds'; set yrange [0:*]
	plot 'restore_vs_size.dat' using 1:2 with linespoints title '1 page dirtied', \
	     '' using 1:3 with linespoints title '16 pages dirtied', \
	     floor with lines dashtype 2 title 'floor (one exit)'"
plot creation-vs-heap "
	set title 'Creation against heap size'.\"\\n\".run
	set logscale x; set xrange [0.8:1200]; set xlabel 'heap (MiB)'; set ylabel 'milliseconds'; set yrange [0:*]
	plot 'creation_vs_heap.dat' using 1:2 with linespoints title 'cold: load + init', \
	     '' using 1:4 with linespoints title 'from a snapshot, to the first result', \
	     '' using 1:3 with linespoints title 'the guest''s own init'"
plot throughput-vs-threads "
	set title 'Throughput against threads (NoOp, a sandbox per thread)'.\"\\n\".run
	set xlabel 'threads'; set ylabel 'calls per second'; set xrange [0.5:2.5]; set xtics 1; set yrange [0:*]
	set boxwidth 0.5; set style fill solid 0.5
	plot 'throughput_vs_threads.dat' using 1:2 with boxes title 'calls/s'"
plot memory-vs-sandboxes "
	set title 'Resident memory against idle sandboxes from one snapshot'.\"\\n\".run
	set logscale xy; set xlabel 'sandboxes'; set ylabel 'MiB (growth)'
	plot 'memory_vs_sandboxes.dat' using 1:6 with linespoints title 'Pss + kernel', \
	     '' using 1:4 with linespoints title 'Pss', \
	     '' using 1:5 with linespoints title 'kernel (memory cgroup)', \
	     '' using 1:3 with linespoints title 'VmRSS (counts shared pages per mapping)'"
