#!/usr/bin/env bash
# End-to-end test of several cairn serve nodes on one MinIO bucket and one
# PostgreSQL database:
#
#   1. cairn push through node A, cairn pull through node B: byte-identical
#   2. a chunked upload started on A, continued and finished on B
#   3. 50 concurrent tag moves split between A and B: 50 history entries, one chain
#   4. garbage collection: one node holds the lease; cairn gc beside them is refused
#   5. the access log holds the pushes of both nodes in one hash chain, and
#      cairn log verify passes
#   6. kill -9 of node A during pushes: B keeps serving, acknowledged pushes
#      are all there, cairn scrub is clean, cut-off pushes succeed through B
#   7. node C with --redirect-blobs: blob GETs answer 307 to MinIO, and oras,
#      crane and cairn pull follow them
#
#   CAIRN=/path/to/cairn scripts/e2e-nodes.sh
#
# Uses the servers of scripts/services.sh when CAIRN_TEST_S3 and
# CAIRN_TEST_POSTGRES are set (scripts/test sets them), else starts its own.
# Each run gets its own database and bucket prefix. Prints "ok   - <check>"
# or "FAIL - <check>: <why>" per check; exits 1 if any failed, 2 if the
# set-up failed.
set -uo pipefail

die() { printf 'e2e-nodes: %s\n' "$*" >&2; exit 2; }
for tool in oras crane jq curl cmp psql sha256sum; do
	command -v "$tool" >/dev/null || die "missing tool on PATH: $tool (scripts/test installs it)"
done
[[ -x ${CAIRN:-} ]] || die "set CAIRN to the cairn binary"
ROOT=$(cd "$(dirname "$0")/.." && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e-nodes.XXXXXX")
declare -A PIDS=()
OWN_SERVICES=
DB=
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[[ -n $DB ]] && psql -q "$CAIRN_TEST_PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
	[[ -n $OWN_SERVICES ]] && SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" stop
	rm -rf "$TMP"
}
trap cleanup EXIT
export HOME=$TMP/home DOCKER_CONFIG=$TMP/home/.docker CAIRN_CACHE=$TMP/cache
mkdir -p "$HOME"

if [[ -z ${CAIRN_TEST_S3:-} || -z ${CAIRN_TEST_POSTGRES:-} ]]; then
	OWN_SERVICES=${TMPDIR:-/tmp}/cairn-e2e-nodes-services-$$ # not under $TMP: the postgres user must reach it
	SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" start >/dev/null || die "could not start MinIO and PostgreSQL"
	eval "$(SERVICES_DIR=$OWN_SERVICES "$ROOT/scripts/services.sh" env)"
fi
DB=e2e_nodes_$$_$RANDOM
psql -q "$CAIRN_TEST_PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null || die "could not create database $DB"
PG="${CAIRN_TEST_PG_ADMIN%/*}/$DB?sslmode=disable"
S3_QUERY=${CAIRN_TEST_S3#*\?}
S3_BUCKET=${CAIRN_TEST_S3%%\?*}
# Parts of 5 MiB, so that the uploads below span several.
S3="$S3_BUCKET/e2e-nodes-$$-$RANDOM?$S3_QUERY&part-size=5MiB"
MINIO_HOST=$(sed -E 's|.*endpoint=https?://([^&]*).*|\1|' <<<"$CAIRN_TEST_S3")
STORES=(--storage "$S3" --metadata "$PG")

# start_node NAME [ARGS...]: a node on a free port; its address in $NAME.
start_node() {
	local name=$1 port addr
	shift
	port=$((10000 + RANDOM % 22000))
	addr=127.0.0.1:$port
	# Every node of one database signs its transparency log with one key.
	"$CAIRN" serve --addr "$addr" --data "$TMP/data-$name" "${STORES[@]}" --log-key "$TMP/log.key" --gc-interval 2s --gc-grace 10m "$@" \
		>"$TMP/$name.log" 2>&1 &
	PIDS[$name]=$!
	for _ in $(seq 100); do curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null && break; sleep 0.1; done
	curl -fsS -o /dev/null "http://$addr/v2/" || { tail -20 "$TMP/$name.log" >&2; die "node $name did not start"; }
	printf -v "$name" '%s' "$addr"
}
start_node A
start_node B

pass=0 fail=0
ok() { printf 'ok   - %s\n' "$1"; pass=$((pass + 1)); }
bad() { printf 'FAIL - %s: %s\n' "$1" "$2"; fail=$((fail + 1)); }
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(tail -5 <<<"$out")"; fi
}
# same_tree DIR1 DIR2: every file of DIR1 is in DIR2 with the same bytes.
same_tree() {
	local f
	while IFS= read -r f; do cmp -s "$1/$f" "$2/$f" || { echo "$f differs"; return 1; }; done < <(cd "$1" && find . -type f | sed 's|^\./||')
}
model() { # model DIR SEED SIZE_KIB: a model directory with one weight
	mkdir -p "$1"
	# A valid safetensors file (pull scans it; random bytes would be a
	# malformed header): a one-tensor header padded to 8 bytes, then data.
	local n=$(($3 * 1024)) i hdr
	hdr="{\"w\":{\"dtype\":\"U8\",\"shape\":[$n],\"data_offsets\":[0,$n]}}"
	while ((${#hdr} % 8)); do hdr+=" "; done
	for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((${#hdr} >> (8 * i)) & 255)))"; done >"$1/model.safetensors"
	printf '%s' "$hdr" >>"$1/model.safetensors"
	head -c "$n" /dev/urandom >>"$1/model.safetensors"
	echo "{\"seed\":\"$2\"}" >"$1/config.json"
}

# 1. Push through A, pull through B.
model "$TMP/m1" m1 $((12 * 1024))
if d=$("$CAIRN" push "$TMP/m1" "$A/e2e/model:v1" 2>"$TMP/push.err"); then
	ok "cairn push through node A ($d)"
	"$CAIRN" pull "$B/e2e/model:v1" "$TMP/m1-b" >/dev/null 2>"$TMP/pull.err" && out=$(same_tree "$TMP/m1" "$TMP/m1-b") &&
		ok "cairn pull through node B is byte-identical" || bad "cairn pull through node B" "$(cat "$TMP/pull.err") $out"
else
	bad "cairn push through node A" "$(cat "$TMP/push.err")"
fi

# 2. A chunked upload: POST and the first PATCH on A, the next on B, status
# on A, the last PATCH on A and the PUT on B.
head -c $((13 * 1024 * 1024 + 77)) /dev/urandom >"$TMP/blob"
blob_digest=sha256:$(sha256sum "$TMP/blob" | cut -d' ' -f1)
split -b $((4 * 1024 * 1024)) -d "$TMP/blob" "$TMP/chunk."
chunked() {
	local loc off=0 n c node i=0 rng
	loc=$(curl -fsS -D - -o /dev/null -X POST "http://$A/v2/e2e/chunked/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[[ -n $loc ]] || { echo "no Location from POST"; return 1; }
	for c in "$TMP"/chunk.*; do
		n=$(stat -c %s "$c")
		node=$A
		((i % 2 == 1)) && node=$B
		curl -fsS -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
			-H "Content-Range: $off-$((off + n - 1))" --data-binary "@$c" "http://$node$loc" || { echo "PATCH $i on $node failed"; return 1; }
		off=$((off + n))
		i=$((i + 1))
		if ((i == 2)); then
			rng=$(curl -fsS -D - -o /dev/null "http://$A$loc" | tr -d '\r' | sed -n 's/^[Rr]ange: //p')
			[[ $rng == "0-$((off - 1))" ]] || { echo "status on A says $rng after $off bytes written on A and B"; return 1; }
		fi
	done
	curl -fsS -o /dev/null -X PUT "http://$B$loc?digest=$blob_digest" || { echo "PUT on B failed"; return 1; }
	for node in "$A" "$B"; do
		curl -fsS "http://$node/v2/e2e/chunked/blobs/$blob_digest" -o "$TMP/blob.back" || { echo "GET on $node failed"; return 1; }
		cmp -s "$TMP/blob" "$TMP/blob.back" || { echo "blob read through $node differs"; return 1; }
	done
}
check "chunked upload started on A ($(ls "$TMP"/chunk.* | wc -l) chunks, alternating nodes) finishes on B" chunked

# 3. 50 tag moves, 25 through each node, all at once.
config='{}'
config_digest=sha256:$(printf %s "$config" | sha256sum | cut -d' ' -f1)
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/octet-stream' --data-binary "$config" \
	"http://$A/v2/e2e/tags/blobs/uploads/?digest=$config_digest" || die "config blob push failed"
move() { # move I: push manifest I to :moving through A (even) or B (odd)
	local node=$A
	(($1 % 2 == 1)) && node=$B
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"move":"%d"}}' \
		"$config_digest" "$1" >"$TMP/manifest.$1"
	curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$TMP/manifest.$1" "http://$node/v2/e2e/tags/manifests/moving"
}
for i in $(seq 0 49); do move "$i" & done
wait_moves=0
for j in $(jobs -p); do [[ " ${PIDS[*]} " == *" $j "* ]] || wait "$j" || wait_moves=$((wait_moves + 1)); done
[[ $wait_moves == 0 ]] && ok "50 concurrent tag moves through A and B accepted" || bad "50 concurrent tag moves" "$wait_moves PUTs failed"
history_check() {
	local node hist n
	for node in "$A" "$B"; do
		hist=$("$CAIRN" history "$node/e2e/tags:moving" --json) || return 1
		n=$(jq length <<<"$hist")
		[[ $n == 50 ]] || { echo "history through $node has $n entries"; return 1; }
		# One chain: each move starts where the one before ended.
		jq -e '[range(1; length) as $i | .[$i].old == .[$i-1].new] | all' <<<"$hist" >/dev/null ||
			{ echo "history through $node is not one chain"; return 1; }
		[[ $(jq -r '.[0].old // ""' <<<"$hist") == "" ]] || { echo "first move does not create the tag"; return 1; }
	done
}
check "the 50 moves leave 50 history entries, one chain, seen alike from both nodes" history_check

# 4. One node collects garbage: the lease holder. cairn gc beside them is refused.
sleep 5
collectors=$(grep -l "this node holds the lease" "$TMP"/A.log "$TMP"/B.log | wc -l)
[[ $collectors == 1 ]] && ok "exactly one node holds the collector's lease ($(basename "$(grep -l "this node holds the lease" "$TMP"/A.log "$TMP"/B.log)" .log))" ||
	bad "one node holds the collector's lease" "$collectors nodes say they do"
gc_out=$("$CAIRN" gc --data "$TMP/data-gc" "${STORES[@]}" --dry-run 2>&1)
[[ $? != 0 && $gc_out == *"lease"* ]] && ok "cairn gc while a node holds the lease is refused" || bad "cairn gc beside the nodes" "$gc_out"

# 5. The access log: the 50 pushes of step 3 were recorded by the node each
# went through (25 by A, 25 by B), all in one chain that verifies from
# either node.
log_check() {
	local i d recs st missing=0
	sleep 2 # the recorders write in batches
	for node in "$A" "$B"; do
		st=$("$CAIRN" log verify --registry "$node" --json) || { echo "cairn log verify through $node: $st"; return 1; }
		[[ $(jq -r .ok <<<"$st") == true ]] || { echo "chain broken: $st"; return 1; }
	done
	recs=$("$CAIRN" log --registry "$B" --json --limit 0 --repo e2e/tags --action push) || return 1
	for i in $(seq 0 49); do
		d=sha256:$(sha256sum <"$TMP/manifest.$i" | cut -d' ' -f1)
		jq -e --arg d "$d" 'any(.[]; .digest == $d and .result == "ok")' <<<"$recs" >/dev/null || missing=$((missing + 1))
	done
	[[ $missing == 0 ]] || { echo "$missing of the 50 pushes are not in the log"; return 1; }
	echo "$(jq -r .records <<<"$st") records, head $(jq -r '"\(.headSeq):\(.head)"' <<<"$st")"
}
if out=$(log_check 2>&1); then
	ok "cairn log verify: one hash chain over records from both nodes, all 50 pushes in it ($out)"
else
	bad "cairn log verify over records from both nodes" "$out"
fi

# 6. kill -9 of node A during pushes: eight at once, two small; A is
# killed as soon as those are acknowledged, while the others are sending.
model "$TMP/k1" k1 512
model "$TMP/k2" k2 700
for i in $(seq 3 8); do model "$TMP/k$i" "k$i" $((24 * 1024 + i)); done
for i in $(seq 1 8); do
	("$CAIRN" push "$TMP/k$i" "$A/e2e/crash:k$i" >"$TMP/k$i.out" 2>"$TMP/k$i.err"; echo $? >"$TMP/k$i.rc.tmp"; mv "$TMP/k$i.rc.tmp" "$TMP/k$i.rc") &
done
for _ in $(seq 400); do
	(($(cat "$TMP"/k*.rc 2>/dev/null | grep -cx 0) >= 2)) && break
	sleep 0.05
done
kill -9 "${PIDS[A]}"
wait "${PIDS[A]}" 2>/dev/null
unset 'PIDS[A]'
for j in $(jobs -p); do [[ " ${PIDS[*]} " == *" $j "* ]] || wait "$j"; done
acked=() cut=()
for i in $(seq 1 8); do
	if [[ $(cat "$TMP/k$i.rc") == 0 ]]; then acked+=("$i"); else cut+=("$i"); fi
done
echo "     kill -9 of node A: ${#acked[@]} pushes acknowledged before it, ${#cut[@]} cut off"
check "node B keeps serving after node A was killed" curl -fsS -o /dev/null "http://$B/v2/e2e/model/manifests/v1"
acked_check() {
	local i
	for i in "${acked[@]}"; do
		"$CAIRN" pull "$B/e2e/crash:k$i" "$TMP/k$i-b" >/dev/null || { echo "acknowledged push k$i cannot be pulled"; return 1; }
		same_tree "$TMP/k$i" "$TMP/k$i-b" || return 1
	done
}
check "every acknowledged push (${#acked[@]}) is there, byte-identical, through node B" acked_check
check "cairn scrub of the shared stores is clean after the kill" "$CAIRN" scrub --data "$TMP/data-scrub" "${STORES[@]}"
retry_check() {
	local i
	for i in "${cut[@]}"; do
		"$CAIRN" push "$TMP/k$i" "$B/e2e/crash:k$i" >/dev/null || return 1
		"$CAIRN" pull "$B/e2e/crash:k$i" "$TMP/k$i-r" >/dev/null && same_tree "$TMP/k$i" "$TMP/k$i-r" || return 1
	done
}
check "the cut-off pushes (${#cut[@]}) succeed through node B" retry_check
check "cairn scrub is clean after the retries" "$CAIRN" scrub --data "$TMP/data-scrub" "${STORES[@]}"

# 7. Node C redirects blob GETs to MinIO.
start_node C --redirect-blobs
layer=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$C/v2/e2e/model/manifests/v1" |
	jq -r '[.layers[] | select(.size > 1000000)][0].digest')
redirect_check() {
	local out code url
	out=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://$C/v2/e2e/model/blobs/$layer")
	code=${out%% *} url=${out#* }
	[[ $code == 307 ]] || { echo "GET blob answered $code"; return 1; }
	[[ $url == "http://$MINIO_HOST/"* && $url == *X-Amz-Signature=* ]] || { echo "Location $url is not a presigned MinIO URL"; return 1; }
	code=$(curl -sS -o /dev/null -w '%{http_code}' -I "http://$C/v2/e2e/model/blobs/$layer")
	[[ $code == 200 ]] || { echo "HEAD blob answered $code"; return 1; }
}
check "blob GETs through node C answer 307 to a presigned MinIO URL (HEAD 200)" redirect_check
check "oras pull through node C follows the redirects" bash -c \
	"cd '$TMP' && mkdir -p oras-c && cd oras-c && oras pull --plain-http '$C/e2e/model:v1' >/dev/null && cmp -s '$TMP/m1/model.safetensors' model.safetensors"
check "crane blob through node C follows the redirect" bash -c \
	"crane blob --insecure '$C/e2e/model@$layer' >'$TMP/crane.blob' && [[ sha256:\$(sha256sum <'$TMP/crane.blob' | cut -d' ' -f1) == '$layer' ]]"
check "crane pull through node C follows the redirects" bash -c \
	"crane pull --insecure --format oci '$C/e2e/model:v1' '$TMP/crane-oci' && cmp -s '$TMP/m1/model.safetensors' '$TMP/crane-oci/blobs/sha256/${layer#sha256:}'"
check "cairn pull through node C follows the redirects" bash -c \
	"'$CAIRN' pull '$C/e2e/model:v1' '$TMP/m1-c' >/dev/null && cmp -s '$TMP/m1/model.safetensors' '$TMP/m1-c/model.safetensors'"
pulled=$(curl -fsS "http://$C/metrics" | awk '/^cairn_blob_bytes_pulled_total/ {print $2}')
[[ ${pulled:-0} == 0 ]] && ok "node C sent no blob bytes itself (cairn_blob_bytes_pulled_total 0)" ||
	bad "node C sent no blob bytes itself" "cairn_blob_bytes_pulled_total $pulled"

printf '\ne2e-nodes: %d passed, %d failed\n' "$pass" "$fail"
[[ $fail == 0 ]]
