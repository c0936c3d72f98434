#!/usr/bin/env bash
# scripts/bench-copy.sh: time `cairn copy` of a signed model between two
# cairn servers against `oras cp -r` of the same version (with its
# referrers) in the same run, rounds alternating, each round into a new
# repository of the destination. cairn copy also checks the signature at
# the source (--key) and every digest as it streams; oras cp -r copies.
# Reports the median time of each, their ratio (target <= 1.0) and the
# largest client RSS (target < 100 MiB).
#
# Usage:
#   CAIRN=/path/to/cairn scripts/bench-copy.sh
#
# Environment:
#   CAIRN      path to the cairn binary (required)
#   ORAS       path to oras (default: oras on PATH)
#   SIZE_MIB   model size in MiB, split into 4 safetensors shards (default 1024)
#   ROUNDS     rounds of each command; the median is reported (default 5)
#   BENCH_DIR  parent of the temporary work directory (default /tmp)
{
set -euo pipefail
[[ -x ${CAIRN:-} ]] || { echo "bench-copy.sh: set CAIRN to the cairn binary" >&2; exit 2; }
ORAS=${ORAS:-$(command -v oras || true)}
[[ -x $ORAS ]] || { echo "bench-copy.sh: oras not found (set ORAS)" >&2; exit 2; }
SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/cairn-bench-copy.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
export CAIRN_CACHE=$WORK/cache CAIRN_PASSWORD= HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker
mkdir -p "$HOME"

le64() { local i; for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $((($1 >> (8 * i)) & 255)))"; done; }
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

# serve NAME VAR: a cairn server on a free port below the ephemeral range;
# its address goes to VAR (not printed: a $(...) subshell would keep the
# server's PID from the cleanup).
serve() {
	local port=$((10000 + RANDOM % 22000))
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((10000 + RANDOM % 22000)); done
	"$CAIRN" serve --addr 127.0.0.1:$port --data "$WORK/$1" >"$WORK/$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break; sleep 0.1; done
	printf -v "$2" '%s' "127.0.0.1:$port"
}
serve a A
serve b B
ref=$A/bench/model:v1
"$CAIRN" keygen --out "$WORK/k" >/dev/null 2>&1
"$CAIRN" push "$WORK/src" "$ref" >/dev/null 2>&1
"$CAIRN" sign "$ref" --key "$WORK/k.key" >/dev/null 2>&1

# timed LABEL CMD...: run CMD under /usr/bin/time, append "seconds rss_kib".
timed() {
	local label=$1; shift
	/usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/$label.out" 2>&1 ||
		{ echo "bench-copy.sh: $label failed:" >&2; tail -5 "$WORK/$label.out" >&2; exit 1; }
	cat "$WORK/time" >>"$WORK/$label.times"
}
for r in $(seq "$ROUNDS"); do
	timed cairn "$CAIRN" copy "$ref" "$B/cairn$r/model:v1" --key "$WORK/k.pub"
	timed oras "$ORAS" cp -r --from-plain-http --to-plain-http "$ref" "$B/oras$r/model:v1"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
c=$(cut -d' ' -f1 "$WORK/cairn.times" | median)
o=$(cut -d' ' -f1 "$WORK/oras.times" | median)
crss=$(cut -d' ' -f2 "$WORK/cairn.times" | sort -n | tail -1)
orss=$(cut -d' ' -f2 "$WORK/oras.times" | sort -n | tail -1)
echo "| copy of ${SIZE_MIB} MiB + signature, $ROUNDS rounds | median s | max RSS MiB |"
echo "|---|---|---|"
echo "| cairn copy --key | $c | $((crss / 1024)) |"
echo "| oras cp -r | $o | $((orss / 1024)) |"
awk -v c="$c" -v o="$o" 'BEGIN { printf "ratio cairn/oras: %.2fx (target <= 1.0x)\n", c / o }'
exit 0
}
