#!/usr/bin/env bash
# scripts/bench-verify.sh: time `cairn verify DIR` of a model of 4 shards on
# disk against two floors over the same files, side by side in one run:
#   - a plain parallel SHA-256 pass (Go crypto/sha256, one goroutine per
#     file, 1 MiB reads: the few lines of Go below), the floor cairn must
#     stay within 1.15x of;
#   - sha256sum of the same files, one after the other.
# cairn verify also checks the signature, looks for unexpected files and
# scans every weight file; the floors only hash.
#
# Then the scanner alone on a gzip-wrapped pickle of numbers (WRAPPED_MIB
# MiB of pickle, generated to a temporary file): BenchmarkWrappedPickle of
# verify/scan, which reports MB/s of decompressed pickle (target >= 200)
# and the peak growth of the Go heap during the scan (target < 64 MiB).
#
# Usage:
#   CAIRN=/path/to/cairn scripts/bench-verify.sh
#
# Environment:
#   CAIRN      path to the cairn binary (required)
#   SIZE_MIB   total model size in MiB, split into 4 safetensors shards (default 1024)
#   ROUNDS     timed rounds of each command; the median is reported (default 5)
#   BENCH_DIR  parent of the temporary work directory (default /tmp)
#   OUT        also write the Markdown report to this file
#   WRAPPED_MIB size of the gzip-wrapped pickle in MiB (default 1024; 0 skips it)
#   WRAPPED_ROUNDS scans of it; the benchmark reports their mean (default 3)
#   WRAPPED_DATA weights (normally distributed float32, the default) or
#              quantised (4096 levels, which gzip halves: inflating is the
#              bottleneck then)
#
# Files are read from the page cache: every command runs once untimed
# first, so all three read the same warm files.
{
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -x ${CAIRN:-} ]] || { echo "bench-verify.sh: set CAIRN to the cairn binary" >&2; exit 2; }
SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/cairn-bench-verify.XXXXXX")
SERVER_PID=
cleanup() {
	[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
export CAIRN_CACHE=$WORK/cache CAIRN_PASSWORD= HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker
mkdir -p "$HOME"

# le64 N: N as 8 little-endian bytes (the safetensors header length).
le64() { local i; for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $((($1 >> (8 * i)) & 255)))"; done; }

# The model: 4 safetensors shards, each a valid header over random bytes.
shard_mib=$((SIZE_MIB / 4))
mkdir -p "$WORK/src"
for i in 1 2 3 4; do
	f=$WORK/src/model-0000$i-of-00004.safetensors
	n=$((shard_mib * 1024 * 1024))
	hdr=$(printf '{"w%d":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' "$i" "$n" "$n")
	while (( ${#hdr} % 8 )); do hdr+=" "; done
	le64 "${#hdr}" >"$f"
	printf '%s' "$hdr" >>"$f"
	head -c "$n" /dev/urandom >>"$f"
done
echo '{"model_type":"bench"}' >"$WORK/src/config.json"

# Push, sign and pull it, so that DIR/.cairn holds what verify reads.
# Below the ephemeral range (32768 up), and free.
port=$((10000 + RANDOM % 22000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((10000 + RANDOM % 22000)); done
"$CAIRN" serve --addr 127.0.0.1:$port --data "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/model:v1
"$CAIRN" keygen --out "$WORK/k" >/dev/null 2>&1
"$CAIRN" push "$WORK/src" "$ref" >/dev/null 2>&1
"$CAIRN" sign "$ref" --key "$WORK/k.key" >/dev/null 2>&1
"$CAIRN" pull "$ref" "$WORK/model" >/dev/null 2>&1
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

# The parallel SHA-256 floor: a few lines of Go, built once.
mkdir -p "$WORK/floor"
cat >"$WORK/floor/main.go" <<'EOF'
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	sums := make([]string, len(os.Args)-1)
	for i, p := range os.Args[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(p)
			if err != nil {
				panic(err)
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
				panic(err)
			}
			sums[i] = fmt.Sprintf("%x", h.Sum(nil))
		}()
	}
	wg.Wait()
	for i, s := range sums {
		fmt.Println(s, os.Args[i+1])
	}
}
EOF
(cd "$WORK/floor" && go mod init floor >/dev/null 2>&1 && go build -o floor .)

mapfile -t files < <(cd "$WORK/model" && find . -type f -not -path './.cairn/*' | sort)
abs=()
for f in "${files[@]}"; do abs+=("$WORK/model/${f#./}"); done

# Rounds are interleaved (cairn, floor, sha256sum, cairn, ...) so that a
# change in the machine's load falls on all three alike; each time is the
# median of its rounds.
run_once() { # prints the wall time of one run of CMD in seconds
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "bench-verify.sh: command failed: $*" >&2; "$@"; exit 1; }
	e=$(date +%s.%N)
	echo "$e - $s" | bc -l
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'; }
cairn_cmd=("$CAIRN" verify "$WORK/model" --key "$WORK/k.pub")
floor_cmd=("$WORK/floor/floor" "${abs[@]}")
sum_cmd=(sha256sum "${abs[@]}")
for c in cairn_cmd floor_cmd sum_cmd; do declare -n cmd=$c; run_once "${cmd[@]}" >/dev/null; done # warm up
tc=() tf=() ts=()
for _ in $(seq "$ROUNDS"); do
	tc+=("$(run_once "${cairn_cmd[@]}")")
	tf+=("$(run_once "${floor_cmd[@]}")")
	ts+=("$(run_once "${sum_cmd[@]}")")
done
t_cairn=$(median "${tc[@]}")
t_floor=$(median "${tf[@]}")
t_sum=$(median "${ts[@]}")
ratio_floor=$(echo "$t_cairn / $t_floor" | bc -l)
ratio_sum=$(echo "$t_cairn / $t_sum" | bc -l)

# The gzip-wrapped pickle, scanned by the library (go test -bench).
WRAPPED_MIB=${WRAPPED_MIB:-1024}
wrapped=
if (( WRAPPED_MIB > 0 )); then
	line=$(cd "$REPO_DIR" && TMPDIR=$WORK CAIRN_BENCH_WRAPPED_MIB=$WRAPPED_MIB CAIRN_BENCH_WRAPPED_DATA=${WRAPPED_DATA:-weights} \
		go test -run '^$' -bench '^BenchmarkWrappedPickle$' -benchtime "${WRAPPED_ROUNDS:-3}x" -timeout 30m ./verify/scan |
		grep '^BenchmarkWrappedPickle')
	metric() { awk -v u="$1" '{for (i = 1; i < NF; i++) if ($(i+1) == u) print $i}' <<<"$line"; }
	wrapped=$(cat <<EOF

Scanner alone (\`BenchmarkWrappedPickle\`, mean of ${WRAPPED_ROUNDS:-3} scans): a gzip-wrapped pickle of numbers (${WRAPPED_DATA:-weights}), ${WRAPPED_MIB} MiB uncompressed (compressed at level 3, as \`joblib.dump(compress=3)\` does), read from the page cache.

| measure | value | target |
|---|---|---|
| decompressed pickle scanned per second | $(metric MB/s) MB/s | >= 200 MB/s |
| the same per second of CPU time | $(metric MB/cpu-s) MB/s | |
| peak growth of the Go heap during a scan | $(metric peak-MiB) MiB | < 64 MiB |
| bytes allocated per scan | $(metric alloc-MiB/op) MiB | |
EOF
)
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)

report=$(cat <<EOF
### cairn verify benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)

Model: ${SIZE_MIB} MiB in 4 safetensors shards plus config.json, page cache warm; median of $ROUNDS interleaved rounds; $(nproc) cores; load average at the end: $load.

| command | time | cairn's ratio |
|---|---|---|
| \`cairn verify DIR --key k.pub\` (signature, every digest, extra files, scans) | ${t_cairn} s | 1 |
| parallel SHA-256 floor (Go, one goroutine per file) | ${t_floor} s | $(printf '%.2f' "$ratio_floor")x (target <= 1.15x) |
| \`sha256sum\` of the same files | ${t_sum} s | $(printf '%.2f' "$ratio_sum")x |
${wrapped}

Reproduce: \`go build -o /tmp/cairn ./cmd/cairn && CAIRN=/tmp/cairn scripts/bench-verify.sh\`
EOF
)
echo "$report"
[[ -n ${OUT:-} ]] && echo "$report" >"$OUT"
exit 0
}
