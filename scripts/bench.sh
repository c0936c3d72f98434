#!/usr/bin/env bash
# scripts/bench.sh: benchmark cairn side by side with the CNCF reference
# registry (distribution) on this machine, with the same client (oras and
# scripts/loadgen) for both, and print a Markdown table of ratios.
#
# See docs/benchmarks.md for what each line measures.
#
# Usage:
#   CAIRN=/path/to/cairn scripts/bench.sh
#
# Environment:
#   CAIRN            path to the cairn binary (required unless BENCH_CAIRN_CMD is set)
#   CAIRN_ARGS       extra arguments for `cairn serve` (default none), e.g.
#                    CAIRN_ARGS='--log-level error'
#   REGISTRY         path to the distribution registry binary
#                    (default: `registry` on PATH, else $(go env GOPATH)/bin/registry)
#   ORAS             path to oras (default: `oras` on PATH, else $(go env GOPATH)/bin/oras)
#   SIZE_MIB         size of the push/pull blob in MiB (default 1024)
#   BIG_MIB          size of the blob pushed for the memory test in MiB (default 4096)
#   ROUNDS           rounds per measurement; the median is reported (default 3)
#   MANIFEST_SECONDS duration of one manifest GET run (default 10)
#   MANIFEST_CONC    concurrent clients for manifest GETs (default 16)
#   BENCH_AUTH       1 = also measure manifest GETs against a second cairn
#                    with token auth on (`cairn serve --auth`, loadgen
#                    -login), the issue 6 target (default 1; needs CAIRN)
#   DROP_CACHES      1 = sync and drop the page cache before every timed
#                    transfer if allowed (default 1); 0 = only sync
#   DIST_ACCESSLOG   1 = keep distribution's per-request access log (default 0:
#                    disabled, so distribution does not pay for logging)
#   BENCH_DIR        parent directory of the temporary work dir (default /tmp)
#   OUT              also write the report (Markdown) to this file
#   BENCH_CAIRN_CMD  command that replaces the cairn start command, with
#                    {PORT} and {DATA} placeholders, e.g. to test the script
#                    against a second distribution instance:
#                      BENCH_CAIRN_CMD='scripts/bench.sh --serve-distribution {PORT} {DATA}'
#
# Internal mode: `bench.sh --serve-distribution PORT DATA` writes a
# distribution config for PORT/DATA and execs the registry (used through
# BENCH_CAIRN_CMD while cairn does not build).

# The whole script is one { ... } block so that bash parses all of it before
# running anything: editing or checking out this file during a run is safe.
{
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SELF_DIR/.." && pwd)

find_tool() { # name env_value
	local name=$1 val=${2:-}
	if [[ -n $val ]]; then
		echo "$val"
	elif command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
	elif [[ -x $(go env GOPATH)/bin/$name ]]; then
		echo "$(go env GOPATH)/bin/$name"
	else
		echo "bench.sh: cannot find $name (set ${name^^}=...)" >&2
		return 1
	fi
}

REGISTRY=$(find_tool registry "${REGISTRY:-}")
DIST_ACCESSLOG=${DIST_ACCESSLOG:-0}

# write_dist_config PORT DATA FILE
write_dist_config() {
	local port=$1 data=$2 file=$3 accesslog=true
	[[ $DIST_ACCESSLOG == 1 ]] && accesslog=false
	cat >"$file" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: $accesslog
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
}

if [[ ${1:-} == --serve-distribution ]]; then
	[[ $# -eq 3 ]] || { echo "usage: $0 --serve-distribution PORT DATA" >&2; exit 2; }
	mkdir -p "$3"
	cfg="${3%/}.dist.yml"
	write_dist_config "$2" "$3" "$cfg"
	exec "$REGISTRY" serve "$cfg"
fi

ORAS=$(find_tool oras "${ORAS:-}")
SIZE_MIB=${SIZE_MIB:-1024}
BIG_MIB=${BIG_MIB:-4096}
ROUNDS=${ROUNDS:-3}
MANIFEST_SECONDS=${MANIFEST_SECONDS:-10}
MANIFEST_CONC=${MANIFEST_CONC:-16}
DROP_CACHES=${DROP_CACHES:-1}
BENCH_CAIRN_CMD=${BENCH_CAIRN_CMD:-}
CAIRN_ARGS=${CAIRN_ARGS:-}
OUT=${OUT:-}
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

if [[ -z $BENCH_CAIRN_CMD ]]; then
	: "${CAIRN:?set CAIRN=/path/to/cairn (or BENCH_CAIRN_CMD)}"
	[[ -x $CAIRN ]] || { echo "bench.sh: CAIRN=$CAIRN is not executable" >&2; exit 2; }
	CAIRN=$(cd "$(dirname "$CAIRN")" && pwd)/$(basename "$CAIRN")
fi
[[ -x $REGISTRY ]] || { echo "bench.sh: REGISTRY=$REGISTRY is not executable" >&2; exit 2; }
for t in curl go awk; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench.sh: $t is required" >&2; exit 2; }
done
for v in SIZE_MIB BIG_MIB ROUNDS MANIFEST_SECONDS MANIFEST_CONC; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: $v must be a positive integer" >&2; exit 2; }
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/cairn-bench.XXXXXX")
declare -A PID PORT DATA LPID
SERVERS=(distribution cairn)
BENCH_AUTH=${BENCH_AUTH:-1}
[[ -n $BENCH_CAIRN_CMD ]] && BENCH_AUTH=0 # no cairn binary to start with --auth
AUTH_PASS=bench-admin-password

cleanup() {
	local rc=$? s
	trap - EXIT INT TERM
	for s in "${!PID[@]}"; do
		[[ -n ${PID[$s]:-} ]] && stop_server "$s" || true
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p i
	for i in $(seq 200); do
		p=$((10000 + RANDOM % 22000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# start_server NAME DATADIR: starts NAME (distribution, cairn or null) on a
# free port with DATADIR. null is scripts/nullreg, serving $NULL_BLOB if set.
start_server() {
	local s=$1 data=$2 port cmd i code
	port=$(free_port) || die "no free port"
	mkdir -p "$data"
	case $s in
	distribution)
		write_dist_config "$port" "$data" "$WORK/distribution.yml"
		"$REGISTRY" serve "$WORK/distribution.yml" >>"$WORK/distribution.log" 2>&1 &
		;;
	cairn)
		if [[ -n $BENCH_CAIRN_CMD ]]; then
			cmd=${BENCH_CAIRN_CMD//\{PORT\}/$port}
			cmd=${cmd//\{DATA\}/$data}
			(cd "$REPO_DIR" && exec bash -c "exec $cmd") >>"$WORK/cairn.log" 2>&1 &
		else
			# shellcheck disable=SC2086 # CAIRN_ARGS is split on purpose
			"$CAIRN" serve --addr "127.0.0.1:$port" --data "$data" $CAIRN_ARGS >>"$WORK/cairn.log" 2>&1 &
		fi
		;;
	cairn-auth)
		# shellcheck disable=SC2086 # CAIRN_ARGS is split on purpose
		CAIRN_ADMIN_PASSWORD=$AUTH_PASS "$CAIRN" serve --addr "127.0.0.1:$port" --data "$data" --auth $CAIRN_ARGS >>"$WORK/cairn-auth.log" 2>&1 &
		;;
	null)
		local args=(-addr "127.0.0.1:$port")
		[[ -n ${NULL_BLOB:-} ]] && args+=(-blob "$NULL_BLOB")
		"$WORK/nullreg" "${args[@]}" >>"$WORK/null.log" 2>&1 &
		;;
	esac
	PID[$s]=$!
	PORT[$s]=$port
	DATA[$s]=$data
	for i in $(seq 600); do
		kill -0 "${PID[$s]}" 2>/dev/null || { tail -20 "$WORK/$s.log" >&2; die "$s exited during start-up"; }
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
		[[ $code == 200 || $code == 401 ]] && break
		sleep 0.1
	done
	[[ $code == 200 || $code == 401 ]] || { tail -20 "$WORK/$s.log" >&2; die "$s did not answer /v2/ on port $port"; }
	# The process that owns the listening socket (differs from $! only if a
	# BENCH_CAIRN_CMD wrapper does not exec); its VmHWM is the one we read.
	LPID[$s]=${PID[$s]}
	if command -v ss >/dev/null 2>&1; then
		local lp
		lp=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
		[[ -n $lp ]] && LPID[$s]=$lp
	fi
	log "$s listening on 127.0.0.1:$port (pid ${LPID[$s]}), data $data"
}

stop_server() {
	local s=$1 p=${PID[$1]:-} i
	[[ -n $p ]] || return 0
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null || true
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
	fi
	if [[ ${LPID[$s]:-$p} != "$p" ]] && kill -0 "${LPID[$s]}" 2>/dev/null; then
		kill -TERM "${LPID[$s]}" 2>/dev/null || true
		sleep 1
		kill -KILL "${LPID[$s]}" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || true
	PID[$s]=
}

CACHES_DROPPED=unknown
drop_caches() {
	sync
	[[ $DROP_CACHES == 1 ]] || { CACHES_DROPPED=no; return 0; }
	if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		[[ $CACHES_DROPPED == no ]] || CACHES_DROPPED=yes
	else
		CACHES_DROPPED=no
	fi
}

# gen_random FILE MIB: MIB MiB of pseudo-random data (AES-CTR keystream with a
# random key, falls back to /dev/urandom).
gen_random() {
	local f=$1 n=$(($2 * 1024 * 1024)) key
	key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	{ openssl enc -aes-256-ctr -pbkdf2 -nosalt -pass "pass:$key" </dev/zero 2>/dev/null || true; } | head -c "$n" >"$f" || true
	if [[ $(stat -c %s "$f" 2>/dev/null || echo 0) != "$n" ]]; then
		head -c "$n" /dev/urandom >"$f"
	fi
}

# gen_safetensors FILE MIB: a valid safetensors file of one U8 tensor of
# MIB MiB of gen_random data (cairn pull scans every file and refuses a
# malformed header, which random bytes are).
gen_safetensors() {
	local f=$1 n=$(($2 * 1024 * 1024)) i hdr
	hdr="{\"w\":{\"dtype\":\"U8\",\"shape\":[$n],\"data_offsets\":[0,$n]}}"
	while ((${#hdr} % 8)); do hdr+=" "; done
	gen_random "$f.data" "$2"
	{
		for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((${#hdr} >> (8 * i)) & 255)))"; done
		printf '%s' "$hdr"
		cat "$f.data"
	} >"$f"
	rm -f "$f.data"
}

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a-b}'; }

median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) printf "%.3f", a[(NR+1)/2]; else printf "%.3f", (a[NR/2]+a[NR/2+1])/2 }'
}

# timed OUTVAR RSSVAR cmd...: runs cmd, stores elapsed seconds and the
# client's peak RSS in KiB (if /usr/bin/time exists).
HAVE_TIME=0
[[ -x /usr/bin/time ]] && HAVE_TIME=1
timed() {
	local __t=$1 __r=$2 t0 t1 rc=0
	shift 2
	t0=$(now)
	if [[ $HAVE_TIME == 1 ]]; then
		/usr/bin/time -f '%M' -o "$WORK/time.out" "$@" >>"$WORK/client.log" 2>&1 || rc=$?
	else
		"$@" >>"$WORK/client.log" 2>&1 || rc=$?
	fi
	t1=$(now)
	if [[ $rc != 0 ]]; then
		tail -20 "$WORK/client.log" >&2
		die "command failed ($rc): $*"
	fi
	printf -v "$__t" '%s' "$(sub "$t1" "$t0")"
	if [[ $HAVE_TIME == 1 ]]; then
		printf -v "$__r" '%s' "$(tail -1 "$WORK/time.out")"
	else
		printf -v "$__r" '%s' ""
	fi
}

# order ROUND: alternate which server goes first, to even out drift.
order() { if (($1 % 2)); then echo distribution cairn; else echo cairn distribution; fi; }

json_field() { sed -E "s/.*\"$2\":(\"[^\"]*\"|[^,}]*).*/\1/" <<<"$1" | tr -d '"'; }

# ---------------------------------------------------------------- machine info

CPU_MODEL=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
MEM_GIB=$(awk '/^MemTotal/{printf "%.1f", $2/1048576}' /proc/meminfo 2>/dev/null || echo "?")
GO_VERSION=$(go version 2>/dev/null || echo "go: not found")
DIST_VERSION=$("$REGISTRY" --version 2>/dev/null | awk '{print $NF}' || true)
ORAS_VERSION=$("$ORAS" version 2>/dev/null | awk '/^Version/{print $2}' || true)
FS_INFO=$(df -hT "$WORK" | awk 'NR==2{print $2" on "$1}')
if [[ -n $BENCH_CAIRN_CMD ]]; then
	CAIRN_DESC="BENCH_CAIRN_CMD='$BENCH_CAIRN_CMD' (NOT cairn)"
else
	CAIRN_DESC="$CAIRN (sha256 $(sha256sum "$CAIRN" | cut -c1-12)), started as \`cairn serve --addr 127.0.0.1:PORT --data DIR${CAIRN_ARGS:+ $CAIRN_ARGS}\`"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "work dir $WORK"
log "building scripts/loadgen and scripts/nullreg"
(cd "$REPO_DIR" && go build -o "$WORK/loadgen" ./scripts/loadgen && go build -o "$WORK/nullreg" ./scripts/nullreg) ||
	die "cannot build scripts/loadgen or scripts/nullreg"

# ---------------------------------------------------------------- push / pull

for s in "${SERVERS[@]}"; do start_server "$s" "$WORK/data-$s"; done
start_server null "$WORK/data-null" # stores nothing

SRC=$WORK/src
mkdir -p "$SRC"
log "generating ${SIZE_MIB} MiB of random data"
gen_random "$SRC/blob.bin" "$SIZE_MIB"

declare -A PUSH_T PULL_T WPULL_T RPS P50 P99 ERRS BIG_T BIG_CLIENT HWM
PUSH_T[null]=""; PULL_T[null]=""; WPULL_T[null]=""
for s in "${SERVERS[@]}"; do PUSH_T[$s]=""; PULL_T[$s]=""; WPULL_T[$s]=""; RPS[$s]=""; P50[$s]=""; P99[$s]=""; ERRS[$s]=0; done
RPS[cairn-auth]=""; P50[cairn-auth]=""; P99[cairn-auth]=""; ERRS[cairn-auth]=0

cd "$SRC" # oras records the file name; keep it relative
for r in $(seq "$ROUNDS"); do
	# Change the content each round (append the round number) so that no
	# blob is deduplicated against an earlier round.
	printf 'cairn-bench round %d\n' "$r" >>blob.bin
	for s in $(order "$r"); do
		drop_caches
		cat blob.bin >/dev/null # the client's input is in the page cache for both
		timed t rss "$ORAS" push --plain-http --no-tty \
			"127.0.0.1:${PORT[$s]}/bench/push-$r:latest" blob.bin
		PUSH_T[$s]+="$t "
		log "push round $r/$ROUNDS $s: ${t}s (oras peak RSS ${rss:-?} KiB)"
	done
	# The same push to scripts/nullreg, which discards everything: the
	# client's own share of the push time.
	drop_caches
	cat blob.bin >/dev/null
	timed t rss "$ORAS" push --plain-http --no-tty "127.0.0.1:${PORT[null]}/bench/push-$r:latest" blob.bin
	PUSH_T[null]+="$t "
	log "push round $r/$ROUNDS null: ${t}s"
done
# The same push with a client that does no hashing of its own: curl, with
# the digest computed before the clock starts, POST then PUT of the whole
# body (distribution takes no body on POST). What remains is the servers'
# own cost: receive, hash, write (and for cairn, fsync).
curl_put() { # HOSTPORT REPO DIGEST FILE
	local loc sep
	loc=$(curl -fsS -D - -o /dev/null -X POST "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
	[[ $loc == http* ]] || loc=http://$1$loc
	sep='?'; [[ $loc == *\?* ]] && sep='&'
	curl -fsS -o /dev/null -T "$4" -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$3"
}
declare -A CPUSH_T
cp blob.bin curl.bin
for s in "${SERVERS[@]}"; do CPUSH_T[$s]=""; done
for r in $(seq "$ROUNDS"); do
	printf 'cairn-bench curl round %d\n' "$r" >>curl.bin
	dig=sha256:$(sha256sum curl.bin | cut -d' ' -f1)
	for s in $(order "$r"); do
		drop_caches
		cat curl.bin >/dev/null
		t0=$(now)
		curl_put "127.0.0.1:${PORT[$s]}" "bench/curl-$r" "$dig" curl.bin || die "curl push to $s failed"
		t=$(sub "$(now)" "$t0")
		CPUSH_T[$s]+="$t "
		log "curl push round $r/$ROUNDS $s: ${t}s"
	done
done
rm -f curl.bin

# From now on nullreg serves blob.bin (as it is after the last round) for
# pulls, with as little work as possible: the client's share of pull times.
stop_server null
NULL_BLOB=$SRC/blob.bin start_server null "$WORK/data-null"
null_size=$(stat -c %s blob.bin)

# Every round pulls bench/push-1 (the same artifact) into a fresh directory.
# bench/push-1 holds the random data plus the line appended in round 1.
want_size=$((SIZE_MIB * 1024 * 1024 + $(printf 'cairn-bench round %d\n' 1 | wc -c)))
for r in $(seq "$ROUNDS"); do
	for s in $(order "$r") null; do
		dst=$WORK/pull-$s-$r
		mkdir -p "$dst"
		drop_caches
		timed t rss "$ORAS" pull --plain-http --no-tty -o "$dst" \
			"127.0.0.1:${PORT[$s]}/bench/push-1:latest"
		got=$(stat -c %s "$dst/blob.bin" 2>/dev/null || echo 0)
		want=$want_size
		[[ $s == null ]] && want=$null_size
		[[ $got == "$want" ]] || die "pull from $s: got $got bytes, want $want"
		rm -rf "$dst"
		PULL_T[$s]+="$t "
		log "pull round $r/$ROUNDS $s: ${t}s (oras peak RSS ${rss:-?} KiB)"
	done
done
# Informational: the same pulls with the blob already in the page cache (the
# previous pull left it there; no drop), i.e. server CPU cost rather than disk.
# One untimed pull from each server first puts its blob in the page cache.
for s in "${SERVERS[@]}" null; do
	"$ORAS" pull --plain-http --no-tty -o "$WORK/prime-$s" "127.0.0.1:${PORT[$s]}/bench/push-1:latest" >>"$WORK/client.log" 2>&1 ||
		die "priming pull from $s failed"
	rm -rf "$WORK/prime-$s"
done
for r in $(seq "$ROUNDS"); do
	for s in $(order "$r") null; do
		dst=$WORK/pull-$s-$r
		mkdir -p "$dst"
		sync
		timed t rss "$ORAS" pull --plain-http --no-tty -o "$dst" \
			"127.0.0.1:${PORT[$s]}/bench/push-1:latest"
		got=$(stat -c %s "$dst/blob.bin" 2>/dev/null || echo 0)
		want=$want_size
		[[ $s == null ]] && want=$null_size
		[[ $got == "$want" ]] || die "pull from $s: got $got bytes, want $want"
		rm -rf "$dst"
		WPULL_T[$s]+="$t "
		log "warm pull round $r/$ROUNDS $s: ${t}s"
	done
done
stop_server null
cd "$WORK"

# ---------------------------------------------------------------- manifest GETs

declare -A MSIZE
NOTES=()
for s in "${SERVERS[@]}"; do
	read -r code MSIZE[$s] < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' -H "Accept: $OCI_MANIFEST" \
		"http://127.0.0.1:${PORT[$s]}/v2/bench/push-1/manifests/latest")
	[[ $code == 200 ]] || die "manifest GET on $s answered $code"
done
MSERVERS=("${SERVERS[@]}")
LOGIN=()
if [[ $BENCH_AUTH == 1 ]]; then
	# A second cairn with token auth on, holding a manifest of the same
	# shape (one layer titled blob.bin): loadgen logs in through the token
	# flow once, then every GET carries the bearer token.
	start_server cairn-auth "$WORK/data-cairn-auth"
	mkdir -p "$WORK/authsrc"
	head -c 1024 /dev/urandom >"$WORK/authsrc/blob.bin"
	(cd "$WORK/authsrc" && "$ORAS" push --plain-http --no-tty -u admin -p "$AUTH_PASS" \
		"127.0.0.1:${PORT[cairn-auth]}/bench/push-1:latest" blob.bin) >>"$WORK/client.log" 2>&1 || die "push to cairn-auth failed"
	tok=$(curl -s -u "admin:$AUTH_PASS" "http://127.0.0.1:${PORT[cairn-auth]}/token?service=bench&scope=repository:bench/push-1:pull" |
		sed -E 's/.*"token":"([^"]*)".*/\1/')
	read -r code MSIZE[cairn-auth] < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' -H "Accept: $OCI_MANIFEST" \
		-H "Authorization: Bearer $tok" "http://127.0.0.1:${PORT[cairn-auth]}/v2/bench/push-1/manifests/latest")
	[[ $code == 200 ]] || die "manifest GET with a token on cairn-auth answered $code"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[cairn-auth]}/v2/bench/push-1/manifests/latest")
	[[ $code == 401 ]] || die "manifest GET without a token on cairn-auth answered $code, want 401"
	MSERVERS+=(cairn-auth)
	LOGIN=(-login "admin:$AUTH_PASS")
fi
# morder ROUND: the manifest servers, rotated each round.
morder() { local i n=${#MSERVERS[@]}; for ((i = 0; i < n; i++)); do echo "${MSERVERS[(i + $1) % n]}"; done; }
for r in $(seq "$ROUNDS"); do
	for s in $(morder "$r"); do
		args=()
		[[ $s == cairn-auth ]] && args=("${LOGIN[@]}")
		out=$("$WORK/loadgen" -url "http://127.0.0.1:${PORT[$s]}/v2/bench/push-1/manifests/latest" \
			-accept "$OCI_MANIFEST" -c "$MANIFEST_CONC" -d "${MANIFEST_SECONDS}s" -warmup 1s "${args[@]}")
		echo "$s round $r: $out" >>"$WORK/loadgen.log"
		RPS[$s]+="$(json_field "$out" rps) "
		P50[$s]+="$(json_field "$out" p50_ms) "
		P99[$s]+="$(json_field "$out" p99_ms) "
		ERRS[$s]=$((ERRS[$s] + $(json_field "$out" errors)))
		body=$(json_field "$out" avg_body_bytes)
		if ! awk -v a="$body" -v b="${MSIZE[$s]}" 'BEGIN{exit !(a == b)}'; then
			NOTES+=("WARNING: $s manifest GET round $r: mean body $body bytes, expected ${MSIZE[$s]}")
			log "${NOTES[-1]}"
		fi
		log "manifest GETs round $r/$ROUNDS $s: $out"
	done
done

[[ $BENCH_AUTH == 1 ]] && stop_server cairn-auth

# ---------------------------------------------------------------- models

# A SIZE_MIB model of 4 safetensors files: cairn push to cairn serve against
# oras push to distribution, and cairn pull (every digest checked, fresh
# cache) against oras pull. Each round changes every file so nothing is
# deduplicated.
declare -A MPUSH_T MPULL_T MRSS
for k in oras cairn; do MPUSH_T[$k]=""; MPULL_T[$k]=""; MRSS[$k]=0; done
if [[ -n ${CAIRN:-} ]]; then
	MODEL=$WORK/model
	mkdir -p "$MODEL"
	log "generating a ${SIZE_MIB} MiB model of 4 files"
	for i in 1 2 3 4; do gen_safetensors "$MODEL/model-0000$i-of-00004.safetensors" $((SIZE_MIB / 4)); done
	peak() { local k=$1 v=$2; [[ -n $v ]] && ((v > MRSS[$k])) && MRSS[$k]=$v; return 0; }
	for r in $(seq "$ROUNDS"); do
		# Overwrite the last bytes of each tensor (appending would make the
		# safetensors file invalid).
		msg=$(printf 'cairn-bench model round %06d' "$r")
		for f in "$MODEL"/*.safetensors; do printf '%s' "$msg" | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - ${#msg})) conv=notrunc status=none; done
		for k in $( ((r % 2)) && echo oras cairn || echo cairn oras); do
			drop_caches
			cat "$MODEL"/* >/dev/null
			if [[ $k == oras ]]; then
				cd "$MODEL"
				timed t rss "$ORAS" push --plain-http --no-tty "127.0.0.1:${PORT[distribution]}/bench/model-$r:v1" \
					model-00001-of-00004.safetensors model-00002-of-00004.safetensors model-00003-of-00004.safetensors model-00004-of-00004.safetensors
				cd "$WORK"
			else
				timed t rss "$CAIRN" push "$MODEL" "127.0.0.1:${PORT[cairn]}/bench/model-$r:v1" --cache "$WORK/pushcache-$r"
				rm -rf "$WORK/pushcache-$r"
				peak cairn "$rss"
			fi
			MPUSH_T[$k]+="$t "
			log "model push round $r/$ROUNDS $k: ${t}s"
		done
	done
	for r in $(seq "$ROUNDS"); do
		for k in $( ((r % 2)) && echo oras cairn || echo cairn oras); do
			dst=$WORK/mpull-$k-$r
			drop_caches
			if [[ $k == oras ]]; then
				timed t rss "$ORAS" pull --plain-http --no-tty -o "$dst" "127.0.0.1:${PORT[distribution]}/bench/model-1:v1"
			else
				timed t rss "$CAIRN" pull "127.0.0.1:${PORT[cairn]}/bench/model-1:v1" "$dst" --cache "$WORK/pullcache-$r"
				peak cairn "$rss"
			fi
			n=$(find "$dst" -name '*.safetensors' -type f | wc -l)
			[[ $n == 4 ]] || die "model pull with $k gave $n files"
			rm -rf "$dst" "$WORK/pullcache-$r"
			MPULL_T[$k]+="$t "
			log "model pull round $r/$ROUNDS $k: ${t}s"
		done
	done
	rm -rf "$MODEL"
fi

# ---------------------------------------------------------------- memory

# Free the disk used so far, then push a BIG_MIB blob to a freshly started
# server (fresh data dir) so that VmHWM covers start-up plus this push only.
for s in "${SERVERS[@]}"; do stop_server "$s"; rm -rf "${DATA[$s]}" "$WORK/data-$s.dist.yml"; done
rm -rf "$SRC"
mkdir -p "$WORK/big"
cd "$WORK/big"
log "generating ${BIG_MIB} MiB of random data"
gen_random big.bin "$BIG_MIB"
for s in $(order 1); do
	start_server "$s" "$WORK/bigdata-$s"
	drop_caches
	cat big.bin >/dev/null
	timed t rss "$ORAS" push --plain-http --no-tty "127.0.0.1:${PORT[$s]}/bench/big:latest" big.bin
	hwm=$(awk '/^VmHWM/{print $2}' "/proc/${LPID[$s]}/status" 2>/dev/null || true)
	[[ -n $hwm ]] || die "cannot read VmHWM of $s (pid ${LPID[$s]})"
	HWM[$s]=$hwm
	BIG_T[$s]=$t
	BIG_CLIENT[$s]=$rss
	log "big push $s: ${t}s, server VmHWM $hwm KiB, oras peak RSS ${rss:-?} KiB"
	stop_server "$s"
	rm -rf "$WORK/bigdata-$s" "$WORK/bigdata-$s.dist.yml"
done
cd "$WORK"
rm -rf "$WORK/big"

# ---------------------------------------------------------------- report

fmt() { awk -v v="$1" -v f="$2" 'BEGIN{ if (v == "") print "n/a"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || a+0 == 0) print "n/a"; else printf "%.2fx", b/a }'; }
# met VALUE OP LIMIT
met() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN{ if (v == "") { print "n/a"; exit }
	ok = (op == "<=") ? (v+0 <= l+0) : (v+0 >= l+0); print ok ? "yes" : "no" }'; }
rawratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 == 0) print ""; else print b/a }'; }
kib2mib() { [[ -n $1 ]] && awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}' || true; }

# shellcheck disable=SC2086
{
	d_push=$(median ${PUSH_T[distribution]}); c_push=$(median ${PUSH_T[cairn]})
	n_push=$(median ${PUSH_T[null]}); n_pull=$(median ${PULL_T[null]}); n_wpull=$(median ${WPULL_T[null]})
	d_pull=$(median ${PULL_T[distribution]}); c_pull=$(median ${PULL_T[cairn]})
	d_cpush=$(median ${CPUSH_T[distribution]}); c_cpush=$(median ${CPUSH_T[cairn]})
	o_mpush=$(median ${MPUSH_T[oras]}); c_mpush=$(median ${MPUSH_T[cairn]})
	o_mpull=$(median ${MPULL_T[oras]}); c_mpull=$(median ${MPULL_T[cairn]})
	d_wpull=$(median ${WPULL_T[distribution]}); c_wpull=$(median ${WPULL_T[cairn]})
	d_rps=$(median ${RPS[distribution]}); c_rps=$(median ${RPS[cairn]})
	a_rps=""; a_p50=""; a_p99=""
	if [[ $BENCH_AUTH == 1 ]]; then
		a_rps=$(median ${RPS[cairn-auth]}); a_p50=$(median ${P50[cairn-auth]}); a_p99=$(median ${P99[cairn-auth]})
	fi
	d_p50=$(median ${P50[distribution]}); c_p50=$(median ${P50[cairn]})
	d_p99=$(median ${P99[distribution]}); c_p99=$(median ${P99[cairn]})
}
d_hwm=$(kib2mib "${HWM[distribution]}"); c_hwm=$(kib2mib "${HWM[cairn]}")
d_cl=$(kib2mib "${BIG_CLIENT[distribution]}"); c_cl=$(kib2mib "${BIG_CLIENT[cairn]}")
roundlist() { local p=$1; shift; printf "%.${p}f " "$@" | sed 's/ $//'; }
mibps() { awk -v t="$1" -v m="$2" 'BEGIN{ if (t+0 > 0) printf "%.0f", m/t; else print "n/a" }'; }

REPORT=$WORK/report.md
{
	echo "## cairn benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "- machine: $(nproc) cores, $CPU_MODEL, ${MEM_GIB} GiB RAM, $(uname -sr)"
	echo "- disk: $FS_INFO (work dir under ${BENCH_DIR:-/tmp})"
	echo "- $GO_VERSION"
	echo "- distribution: $(basename "$REGISTRY") ($DIST_VERSION), access log $([[ $DIST_ACCESSLOG == 1 ]] && echo on || echo off)"
	echo "- cairn column: $CAIRN_DESC"
	echo "- client: oras $ORAS_VERSION; scripts/loadgen ($MANIFEST_CONC clients, ${MANIFEST_SECONDS}s per run)"
	echo "- SIZE_MIB=$SIZE_MIB BIG_MIB=$BIG_MIB ROUNDS=$ROUNDS (median reported)"
	echo "- load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?") (other work on the machine skews results)"
	echo "- page cache dropped before each timed transfer: $CACHES_DROPPED"
	echo
	echo "| work | distribution | cairn | ratio (cairn/distribution) | target | met |"
	echo "|---|---|---|---|---|---|"
	echo "| push ${SIZE_MIB} MiB (s) | $(fmt "$d_push" %.2f) | $(fmt "$c_push" %.2f) | $(ratio "$d_push" "$c_push") | <= 0.4x | $(met "$(rawratio "$d_push" "$c_push")" '<=' 0.4) |"
	echo "| pull ${SIZE_MIB} MiB (s) | $(fmt "$d_pull" %.2f) | $(fmt "$c_pull" %.2f) | $(ratio "$d_pull" "$c_pull") | <= 0.8x | $(met "$(rawratio "$d_pull" "$c_pull")" '<=' 0.8) |"
	echo "| manifest GETs, $MANIFEST_CONC clients (req/s) | $(fmt "$d_rps" %.0f) | $(fmt "$c_rps" %.0f) | $(ratio "$d_rps" "$c_rps") | >= 1.5x | $(met "$(rawratio "$d_rps" "$c_rps")" '>=' 1.5) |"
	if [[ $BENCH_AUTH == 1 ]]; then
		echo "| manifest GETs, $MANIFEST_CONC clients, cairn with token auth on vs distribution without auth (req/s) | $(fmt "$d_rps" %.0f) | $(fmt "$a_rps" %.0f) | $(ratio "$d_rps" "$a_rps") | >= 1.5x | $(met "$(rawratio "$d_rps" "$a_rps")" '>=' 1.5) |"
	fi
	echo "| server peak RSS, ${BIG_MIB} MiB push (MiB) | $(fmt "$d_hwm" %.1f) | $(fmt "$c_hwm" %.1f) | $(ratio "$d_hwm" "$c_hwm") | cairn <= 100 MiB | $(met "$c_hwm" '<=' 100) |"
	echo "| model of 4 files, ${SIZE_MIB} MiB: oras push to distribution vs cairn push to cairn (s) | $(fmt "$o_mpush" %.2f) | $(fmt "$c_mpush" %.2f) | $(ratio "$o_mpush" "$c_mpush") | <= 0.4x | $(met "$(rawratio "$o_mpush" "$c_mpush")" '<=' 0.4) |"
	echo "| same model: oras pull from distribution vs cairn pull, digests checked (s) | $(fmt "$o_mpull" %.2f) | $(fmt "$c_mpull" %.2f) | $(ratio "$o_mpull" "$c_mpull") | <= 0.8x | $(met "$(rawratio "$o_mpull" "$c_mpull")" '<=' 0.8) |"
	echo "| cairn client peak RSS, model push and pull (MiB) | | $(kib2mib "${MRSS[cairn]}") | | <= 100 MiB | $(met "$(kib2mib "${MRSS[cairn]}")" '<=' 100) |"
	echo "| _info:_ client floor: push ${SIZE_MIB} MiB to nullreg (s) | $(fmt "$n_push" %.2f) | $(fmt "$n_push" %.2f) | $(ratio "$d_push" "$n_push") | best reachable push ratio | |"
	echo "| _info:_ client floor: pull ${SIZE_MIB} MiB from nullreg (s) | $(fmt "$n_pull" %.2f) | $(fmt "$n_pull" %.2f) | $(ratio "$d_pull" "$n_pull") | best reachable pull ratio | |"
	echo "| _info:_ push ${SIZE_MIB} MiB with curl, no client hashing (s) | $(fmt "$d_cpush" %.2f) | $(fmt "$c_cpush" %.2f) | $(ratio "$d_cpush" "$c_cpush") | server's own share | |"
	echo "| _info:_ pull ${SIZE_MIB} MiB, blob in page cache (s) | $(fmt "$d_wpull" %.2f) | $(fmt "$c_wpull" %.2f) | $(ratio "$d_wpull" "$c_wpull") | | |"
	echo "| _info:_ client floor: pull from nullreg, blob in page cache (s) | $(fmt "$n_wpull" %.2f) | $(fmt "$n_wpull" %.2f) | $(ratio "$d_wpull" "$n_wpull") | | |"
	echo "| _info:_ push throughput (MiB/s) | $(mibps "$d_push" "$SIZE_MIB") | $(mibps "$c_push" "$SIZE_MIB") | | | |"
	echo "| _info:_ pull throughput (MiB/s) | $(mibps "$d_pull" "$SIZE_MIB") | $(mibps "$c_pull" "$SIZE_MIB") | | | |"
	echo "| _info:_ manifest GET p50 / p99 (ms) | $(fmt "$d_p50" %.2f) / $(fmt "$d_p99" %.2f) | $(fmt "$c_p50" %.2f) / $(fmt "$c_p99" %.2f) | | | |"
	echo "| _info:_ manifest GET errors (all rounds) | ${ERRS[distribution]} | ${ERRS[cairn]} | | | |"
	if [[ $BENCH_AUTH == 1 ]]; then
		echo "| _info:_ cairn with token auth: manifest GET p50 / p99 (ms), errors | | $(fmt "$a_p50" %.2f) / $(fmt "$a_p99" %.2f), ${ERRS[cairn-auth]} | | | |"
		echo "| _info:_ cost of token auth: cairn with auth / cairn without (req/s) | | $(fmt "$a_rps" %.0f) / $(fmt "$c_rps" %.0f) | $(ratio "$c_rps" "$a_rps") | | |"
	fi
	echo "| _info:_ ${BIG_MIB} MiB push (s) | $(fmt "${BIG_T[distribution]}" %.2f) | $(fmt "${BIG_T[cairn]}" %.2f) | $(ratio "${BIG_T[distribution]}" "${BIG_T[cairn]}") | | |"
	echo "| _info:_ oras peak RSS, ${BIG_MIB} MiB push (MiB) | $(fmt "$d_cl" %.1f) | $(fmt "$c_cl" %.1f) | | | |"
	for n in "${NOTES[@]}"; do echo; echo "$n"; done
	echo
	echo "Per-round values (in run order of rounds; servers alternate going first):"
	echo
	for s in "${SERVERS[@]}"; do
		echo "- $s: push s [$(roundlist 2 ${PUSH_T[$s]})], pull s [$(roundlist 2 ${PULL_T[$s]})]," \
			"warm pull s [$(roundlist 2 ${WPULL_T[$s]})], curl push s [$(roundlist 2 ${CPUSH_T[$s]})], manifest req/s [$(roundlist 0 ${RPS[$s]})]"
	done
	[[ $BENCH_AUTH == 1 ]] && echo "- cairn with token auth (cairn serve --auth, loadgen -login): manifest req/s [$(roundlist 0 ${RPS[cairn-auth]})]"
	echo "- models: oras push s [$(roundlist 2 ${MPUSH_T[oras]})], cairn push s [$(roundlist 2 ${MPUSH_T[cairn]})], oras pull s [$(roundlist 2 ${MPULL_T[oras]})], cairn pull s [$(roundlist 2 ${MPULL_T[cairn]})]"
	echo "- nullreg (client floor): push s [$(roundlist 2 ${PUSH_T[null]})], pull s [$(roundlist 2 ${PULL_T[null]})]," \
		"warm pull s [$(roundlist 2 ${WPULL_T[null]})]"
} >"$REPORT"

echo
cat "$REPORT"
if [[ -n $OUT ]]; then
	cp "$REPORT" "$OUT"
	log "report written to $OUT"
fi
exit 0
}
