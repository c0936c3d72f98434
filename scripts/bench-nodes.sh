#!/usr/bin/env bash
# scripts/bench-nodes.sh: the scale-out benchmark, side by side in one run:
#
#   1. pull of one SIZE_MIB blob with oras through one node on the embedded
#      store (files + bbolt) and through one node on MinIO + PostgreSQL
#      (and, for information, with --redirect-blobs: the bytes straight
#      from MinIO);
#   2. aggregate pull throughput of CLIENTS concurrent clients (curl, no
#      hashing, so the servers are measured) of a CONC_MIB blob each, over
#      two nodes (half the clients on each) against one node, on MinIO +
#      PostgreSQL;
#   3. for information: push of the SIZE_MIB blob with oras, and manifest
#      GETs of 16 clients (scripts/loadgen, MANIFEST_SECONDS each), embedded
#      against PostgreSQL.
#
# It prints a Markdown report in the format of docs/benchmarks.md.
#
#   CAIRN=/path/to/cairn scripts/bench-nodes.sh
#   CAIRN=/tmp/cairn OUT=/tmp/nodes.md scripts/bench-nodes.sh
#   CAIRN=/tmp/cairn SIZE_MIB=64 CONC_MIB=16 ROUNDS=1 scripts/bench-nodes.sh   # quick check
#
# Environment: SIZE_MIB (1024), CONC_MIB (256), CLIENTS (8), ROUNDS (3, the
# median is reported), DROP_CACHES (1: sync and drop the page cache before
# each timed transfer when root), ORAS (oras on PATH, else .tools/bin/oras),
# BENCH_DIR (/tmp), OUT (also write the report there). Uses the servers of
# scripts/services.sh when CAIRN_TEST_S3 and CAIRN_TEST_POSTGRES are set,
# else starts its own (MinIO from .tools/bin).
{
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
CONC_MIB=${CONC_MIB:-256}
CLIENTS=${CLIENTS:-8}
ROUNDS=${ROUNDS:-3}
DROP_CACHES=${DROP_CACHES:-1}
MANIFEST_SECONDS=${MANIFEST_SECONDS:-5}
OUT=${OUT:-}
for v in SIZE_MIB CONC_MIB CLIENTS ROUNDS MANIFEST_SECONDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench-nodes: $v must be a positive integer" >&2; exit 2; }
done
: "${CAIRN:?set CAIRN=/path/to/cairn}"
CAIRN=$(cd "$(dirname "$CAIRN")" && pwd)/$(basename "$CAIRN")
ORAS=${ORAS:-$(command -v oras || echo "$ROOT/.tools/bin/oras")}
[[ -x $ORAS ]] || { echo "bench-nodes: oras not found (set ORAS)" >&2; exit 2; }
for t in curl psql awk sha256sum go; do command -v "$t" >/dev/null || { echo "bench-nodes: $t is required" >&2; exit 2; }; done

log() { printf '[bench-nodes %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/cairn-bench-nodes.XXXXXX")
declare -A PIDS=()
OWN_SERVICES= DB=
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -n $DB ]] && psql -q "$CAIRN_TEST_PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
	[[ -n $OWN_SERVICES ]] && SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" stop
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${CAIRN_TEST_S3:-} || -z ${CAIRN_TEST_POSTGRES:-} ]]; then
	OWN_SERVICES=${TMPDIR:-/tmp}/cairn-bench-nodes-services-$$
	SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" start >&2 || die "could not start MinIO and PostgreSQL"
	eval "$(SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" env)"
fi
DB=bench_nodes_$$
psql -q "$CAIRN_TEST_PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
PG="${CAIRN_TEST_PG_ADMIN%/*}/$DB?sslmode=disable"
S3="${CAIRN_TEST_S3%%\?*}/bench-nodes-$$?${CAIRN_TEST_S3#*\?}"

free_port() {
	local p
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % 22000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	die "no free port"
}
# start NAME ARGS...: a cairn serve node; its address in ADDR[NAME].
declare -A ADDR=()
start() {
	local name=$1 port
	shift
	port=$(free_port)
	"$CAIRN" serve --addr "127.0.0.1:$port" --data "$WORK/data-$name" --log-level warn --gc-interval 0 "$@" >>"$WORK/$name.log" 2>&1 &
	PIDS[$name]=$!
	ADDR[$name]=127.0.0.1:$port
	for _ in $(seq 200); do curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && return; sleep 0.1; done
	tail -20 "$WORK/$name.log" >&2
	die "$name did not start"
}
drop() {
	sync
	if [[ $DROP_CACHES == 1 && -w /proc/sys/vm/drop_caches ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
now() { date +%s.%N; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }

log "starting nodes: embedded, two on MinIO + PostgreSQL, one of them also with --redirect-blobs"
start embedded
start s3a --storage "$S3" --metadata "$PG" --log-key "$WORK/log.key"
start s3b --storage "$S3" --metadata "$PG" --log-key "$WORK/log.key"
start s3r --storage "$S3" --metadata "$PG" --log-key "$WORK/log.key" --redirect-blobs

go build -o "$WORK/loadgen" "$ROOT/scripts/loadgen" || die "could not build scripts/loadgen"
log "making ${SIZE_MIB} MiB and ${CONC_MIB} MiB of random data"
mkdir -p "$WORK/in"
if command -v openssl >/dev/null; then
	openssl rand -out "$WORK/in/big.bin" $((SIZE_MIB << 20))
	openssl rand -out "$WORK/in/conc.bin" $((CONC_MIB << 20))
else
	head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/in/big.bin"
	head -c $((CONC_MIB << 20)) /dev/urandom >"$WORK/in/conc.bin"
fi
cp "$WORK/in/big.bin" "$WORK/in/push.bin"
conc_digest=sha256:$(sha256sum "$WORK/in/conc.bin" | cut -d' ' -f1)
log "pushing (embedded node, then the MinIO nodes' store)"
for n in embedded s3a; do
	(cd "$WORK/in" && "$ORAS" push --plain-http "${ADDR[$n]}/bench/big:v1" big.bin >/dev/null)
	(cd "$WORK/in" && "$ORAS" push --plain-http "${ADDR[$n]}/bench/conc:v1" conc.bin >/dev/null)
done

# pull NODE: seconds for an oras pull of the big blob into a new directory.
pull() {
	local dir=$WORK/out t0 t1
	rm -rf "$dir"
	mkdir -p "$dir"
	drop
	t0=$(now)
	(cd "$dir" && "$ORAS" pull --plain-http "${ADDR[$1]}/bench/big:v1" >/dev/null)
	t1=$(now)
	[[ $(stat -c %s "$dir/big.bin") == $((SIZE_MIB << 20)) ]] || die "pull through $1: wrong size"
	rm -rf "$dir"
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}'
}
# push NODE ROUND: seconds for an oras push of the big file, one line
# longer each round so that every push sends a blob the store has not seen.
push() {
	local t0 t1
	echo "round $2" >>"$WORK/in/push.bin"
	drop
	cat "$WORK/in/push.bin" >/dev/null
	t0=$(now)
	(cd "$WORK/in" && "$ORAS" push --plain-http "${ADDR[$1]}/bench/push-$2:v1" push.bin >/dev/null)
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}'
}
# manifests NODE: manifest GETs per second, 16 clients.
manifests() {
	"$WORK/loadgen" -url "http://${ADDR[$1]}/v2/bench/big/manifests/v1" -c 16 -d "${MANIFEST_SECONDS}s" -warmup 1s \
		-accept application/vnd.oci.image.manifest.v1+json | awk -F'"rps":' '{split($2, a, ","); printf "%.0f\n", a[1]}'
}
# aggregate NODE...: MiB/s of CLIENTS concurrent GETs of the conc blob,
# spread over the nodes in turn.
aggregate() {
	local nodes=("$@") i t0 t1 pids=()
	drop
	t0=$(now)
	for i in $(seq 0 $((CLIENTS - 1))); do
		curl -fsSL -o /dev/null "http://${ADDR[${nodes[i % ${#nodes[@]}]}]}/v2/bench/conc/blobs/$conc_digest" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || die "a client failed"; done
	t1=$(now)
	awk -v a="$t0" -v b="$t1" -v n="$CLIENTS" -v m="$CONC_MIB" 'BEGIN {printf "%.0f\n", n*m/(b-a)}'
}

declare -A R=()
for r in $(seq "$ROUNDS"); do
	log "round $r of $ROUNDS"
	# Take turns going first, so drift does not always hit the same one.
	order=(embedded s3a s3r)
	((r % 2 == 0)) && order=(s3a embedded s3r)
	for n in "${order[@]}"; do R[pull_$n]+="$(pull "$n") "; done
	for n in "${order[@]::2}"; do R[push_$n]+="$(push "$n" "$r$n") "; done
	if ((r % 2)); then
		R[agg_one]+="$(aggregate s3a) "
		R[agg_two]+="$(aggregate s3a s3b) "
	else
		R[agg_two]+="$(aggregate s3a s3b) "
		R[agg_one]+="$(aggregate s3a) "
	fi
	R[agg_redirect]+="$(aggregate s3r) "
	for n in "${order[@]::2}"; do R[get_$n]+="$(manifests "$n") "; done
done

pe=$(median <<<"${R[pull_embedded]}")
ps=$(median <<<"${R[pull_s3a]}")
pr=$(median <<<"${R[pull_s3r]}")
ue=$(median <<<"${R[push_embedded]}")
us=$(median <<<"${R[push_s3a]}")
ge=$(median <<<"${R[get_embedded]}")
gs=$(median <<<"${R[get_s3a]}")
a1=$(median <<<"${R[agg_one]}")
a2=$(median <<<"${R[agg_two]}")
ar=$(median <<<"${R[agg_redirect]}")
cached=no
[[ $DROP_CACHES == 1 && -w /proc/sys/vm/drop_caches ]] && cached=yes
report=$(
	cat <<EOF
### cairn scale-out benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)

- machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)
- cairn: $CAIRN (sha256 $(sha256sum "$CAIRN" | cut -c1-12)); $(go version 2>/dev/null | cut -d' ' -f3-4)
- MinIO: $(go version -m "$(command -v minio || echo "$ROOT/.tools/bin/minio")" 2>/dev/null | awk '$1 == "mod" {print $3}'), one drive under ${TMPDIR:-/tmp}; PostgreSQL $(psql -tA "$CAIRN_TEST_PG_ADMIN" -c 'SHOW server_version' 2>/dev/null), fsync off
- client: oras $("$ORAS" version 2>/dev/null | awk '/^Version/ {print $2}') for the pull (hashes what it receives); curl for the concurrent GETs (no hashing)
- SIZE_MIB=$SIZE_MIB CONC_MIB=$CONC_MIB CLIENTS=$CLIENTS ROUNDS=$ROUNDS (median reported); everything on this one machine
- page cache dropped before each timed transfer: $cached
- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)

| work | embedded (files + bbolt) | MinIO + PostgreSQL | ratio | note |
|---|---|---|---|---|
| pull ${SIZE_MIB} MiB through one node, oras (s) | $pe | $ps | $(ratio "$ps" "$pe") | MinIO/embedded, lower is better |
| _info:_ same pull with --redirect-blobs (307 to MinIO) (s) | $pe | $pr | $(ratio "$pr" "$pe") | the node sends no blob bytes |
| _info:_ push ${SIZE_MIB} MiB through one node, oras (s) | $ue | $us | $(ratio "$us" "$ue") | MinIO: parts, then a server-side copy to the blob's key |
| _info:_ manifest GETs, 16 clients, one node (req/s) | $ge | $gs | $(ratio "$gs" "$ge") | PostgreSQL/bbolt, higher is better |

| work | one node | two nodes | ratio | note |
|---|---|---|---|---|
| aggregate pull, $CLIENTS clients x ${CONC_MIB} MiB, MinIO + PostgreSQL (MiB/s) | $a1 | $a2 | $(ratio "$a2" "$a1") | two/one, higher is better |
| _info:_ same, one node with --redirect-blobs (MiB/s) | $a1 | $ar | $(ratio "$ar" "$a1") | redirect/one node |

Per-round values: pull s embedded [${R[pull_embedded]% }], MinIO [${R[pull_s3a]% }], redirect [${R[pull_s3r]% }];
push s embedded [${R[push_embedded]% }], MinIO [${R[push_s3a]% }];
manifest req/s embedded [${R[get_embedded]% }], PostgreSQL [${R[get_s3a]% }];
aggregate MiB/s one node [${R[agg_one]% }], two nodes [${R[agg_two]% }], redirect [${R[agg_redirect]% }]
EOF
)
printf '%s\n' "$report"
[[ -n $OUT ]] && printf '%s\n' "$report" >"$OUT"
exit 0
}
