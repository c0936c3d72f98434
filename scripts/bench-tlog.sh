#!/usr/bin/env bash
# scripts/bench-tlog.sh: tag moves with the transparency log on, cairn side
# by side with distribution (issue 14, acceptance 4): -n manifest PUTs by
# tag from -c clients (scripts/tagmoves), rounds interleaved so that load
# changes fall on both, and the median rate of each and their ratio printed
# as a Markdown table.
#
# Usage:
#   CAIRN=/path/to/cairn REGISTRY=/path/to/distribution scripts/bench-tlog.sh
#
# Environment:
#   CAIRN       the cairn binary (required)
#   REGISTRY    the distribution v3 binary (default: as scripts/bench.sh finds it)
#   DIST_CMD    command that starts the peer instead, with {PORT} and {DATA}
#               (default: scripts/bench.sh --serve-distribution {PORT} {DATA});
#               e.g. a cairn built before the log, to see the log's share
#   MOVES       tag moves per round (default 1000)
#   CONC        concurrent clients (default 16)
#   ROUNDS      rounds per server; the median is reported (default 5)
#   OUT         also write the table to this file
{
set -euo pipefail
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SELF_DIR/.." && pwd)
: "${CAIRN:?set CAIRN=/path/to/cairn}"
MOVES=${MOVES:-1000}
CONC=${CONC:-16}
ROUNDS=${ROUNDS:-5}
DIST_CMD=${DIST_CMD:-"$SELF_DIR/bench.sh --serve-distribution {PORT} {DATA}"}
OUT=${OUT:-}
for v in MOVES CONC ROUNDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench-tlog.sh: $v must be a positive integer" >&2; exit 2; }
done
log() { printf '[bench-tlog %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-tlog.XXXXXX")
PID=
cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
(cd "$REPO_DIR" && go build -o "$WORK/tagmoves" ./scripts/tagmoves)

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "bench-tlog.sh: no free port" >&2; exit 2
}

# run NAME ROUND: starts NAME on a fresh data directory, runs the moves,
# stops it and prints the rate.
run() {
	local name=$1 r=$2 port data cmd
	port=$(free_port)
	data="$WORK/$name-$r"
	if [[ $name == cairn ]]; then
		"$CAIRN" serve --addr "127.0.0.1:$port" --data "$data" --gc-interval 0 --log-level error >>"$WORK/cairn.log" 2>&1 &
	else
		cmd=${DIST_CMD//\{PORT\}/$port}
		cmd=${cmd//\{DATA\}/$data}
		bash -c "exec $cmd" >>"$WORK/peer.log" 2>&1 &
	fi
	PID=$!
	for _ in $(seq 200); do
		curl -fso /dev/null "http://127.0.0.1:$port/v2/" && break
		sleep 0.05
	done
	local out
	out=$("$WORK/tagmoves" -url "http://127.0.0.1:$port" -n "$MOVES" -c "$CONC")
	echo "$name round $r: $out" >>"$WORK/rounds.log"
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
	rm -rf "$data"
	sed -E 's/.*"moves_per_s":([0-9.]+).*/\1/' <<<"$out"
}

declare -a C P
for r in $(seq "$ROUNDS"); do
	if ((r % 2)); then
		P+=("$(run peer "$r")"); C+=("$(run cairn "$r")")
	else
		C+=("$(run cairn "$r")"); P+=("$(run peer "$r")")
	fi
	log "round $r: peer ${P[-1]}/s, cairn ${C[-1]}/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${P[@]}"); mc=$(median "${C[@]}")
report=$(printf '| work | peer | cairn (log on) | ratio |\n|---|---|---|---|\n| %d tag moves, %d clients (moves/s, median of %d) | %.0f | %.0f | %.2fx |\n' \
	"$MOVES" "$CONC" "$ROUNDS" "$mp" "$mc" "$(awk -v c="$mc" -v p="$mp" 'BEGIN {print c / p}')")
echo "$report"
[[ -n $OUT ]] && echo "$report" >"$OUT"
exit 0
}
