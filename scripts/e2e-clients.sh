#!/usr/bin/env bash
# End-to-end test: drive a freshly started cairn registry with real,
# independent client programs (oras, crane, regctl, skopeo, curl) and check
# that they interoperate with it.
#
# Usage:
#   go build -o /tmp/cairn ./cmd/cairn
#   CAIRN=/tmp/cairn scripts/e2e-clients.sh
#
# Environment:
#   CAIRN           path to the cairn binary (required unless E2E_SERVER_CMD is set)
#   E2E_SERVER_CMD  run this command instead of "$CAIRN serve ..."; the
#                   placeholders {PORT} and {DATA} are substituted. Used to try
#                   the script against another registry, e.g. distribution:
#                   E2E_SERVER_CMD='env REGISTRY_HTTP_ADDR=127.0.0.1:{PORT}
#                     REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY={DATA}
#                     registry serve /path/to/config.yml'
#   E2E_KEEP=1      keep the temp dir (server log, pulled files) for debugging
#
# Every check prints "ok   - <name>" or "FAIL - <name>: <reason>"; the script
# exits 1 if any check failed, 2 if the environment/server could not be set up.

set -euo pipefail

# ---------------------------------------------------------------------------
# Preconditions

die() { printf 'e2e-clients: %s\n' "$*" >&2; exit 2; }

missing=()
for tool in oras crane regctl skopeo curl jq sha256sum cmp tar; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	for tool in "${missing[@]}"; do
		case $tool in
		jq) printf 'e2e-clients: missing tool: jq (install with: apt-get install -y jq)\n' >&2 ;;
		*) printf 'e2e-clients: missing tool on PATH: %s\n' "$tool" >&2 ;;
		esac
	done
	exit 2
fi

if [[ -z ${E2E_SERVER_CMD:-} ]]; then
	[[ -n ${CAIRN:-} ]] || die "CAIRN is not set (path to the cairn binary, e.g. go build -o /tmp/cairn ./cmd/cairn)"
	[[ -x $CAIRN ]] || die "CAIRN=$CAIRN is not an executable file"
fi

# ---------------------------------------------------------------------------
# Scratch space. HOME and friends point into it so no client reads or
# writes the user's configuration (regctl config, docker auth, skopeo auth).

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e.XXXXXX")
SERVER_PID=

cleanup() {
	local rc=$?
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [[ ${E2E_KEEP:-} == 1 ]]; then
		printf '# kept temp dir: %s (server log: %s/server.log)\n' "$TMP" "$TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP/home" "$TMP/data"
export HOME=$TMP/home
export DOCKER_CONFIG=$TMP/home/.docker
export REGCTL_CONFIG=$TMP/home/.regctl/config.json
export XDG_RUNTIME_DIR=$TMP/home/run
export XDG_CONFIG_HOME=$TMP/home/.config
unset REGISTRY_AUTH_FILE

# ---------------------------------------------------------------------------
# Start the server on a free port.

# pick_port prints a port on 127.0.0.1 that nothing is listening on. There is
# a small race with other processes; a bind failure shows up as the server
# exiting early, which is reported below.
pick_port() {
	local p _
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

PORT=$(pick_port) || die "could not find a free port"
REG=127.0.0.1:$PORT
BASE=http://$REG

if [[ -n ${E2E_SERVER_CMD:-} ]]; then
	cmd=${E2E_SERVER_CMD//\{PORT\}/$PORT}
	cmd=${cmd//\{DATA\}/$TMP/data}
	# exec so that $! is the server itself and the trap can kill it.
	bash -c "exec $cmd" >"$TMP/server.log" 2>&1 &
else
	"$CAIRN" serve --addr "$REG" --data "$TMP/data" >"$TMP/server.log" 2>&1 &
fi
SERVER_PID=$!

server_failed() {
	printf 'e2e-clients: %s\n--- server log (last 40 lines) ---\n' "$1" >&2
	tail -n 40 "$TMP/server.log" >&2 || true
	exit 2
}

deadline=$((SECONDS + 20))
until curl -fsS -o /dev/null "$BASE/v2/" 2>/dev/null; do
	kill -0 "$SERVER_PID" 2>/dev/null || server_failed "server exited before answering $BASE/v2/"
	((SECONDS < deadline)) || server_failed "server did not answer $BASE/v2/ within 20s"
	sleep 0.2
done
printf '# registry up at %s (pid %s)\n' "$BASE" "$SERVER_PID"

# ---------------------------------------------------------------------------
# Reporting helpers. Checks run with errexit suppressed (they are called as
# "check_x || true") and test every command explicitly, so one failure does
# not stop the run.

PASSED=0
FAILED=()

ok() {
	printf 'ok   - %s\n' "$1"
	PASSED=$((PASSED + 1))
}

# fail NAME REASON...: REASON may be multi-line; continuation lines are
# indented so the output stays readable.
fail() {
	local name=$1
	shift
	local reason="$*"
	printf 'FAIL - %s: %s\n' "$name" "${reason//$'\n'/$'\n       '}"
	FAILED+=("$name")
}

# run CMD...: runs CMD, stdout into $OUT, stderr into $ERR. On failure $WHY
# holds the command line, exit status and output, ready for fail().
run() {
	local rc=0
	OUT=$("$@" 2>"$TMP/stderr") || rc=$?
	ERR=$(cat "$TMP/stderr")
	if ((rc != 0)); then
		WHY="\$ $* -> exit $rc"
		[[ -n $ERR ]] && WHY+=$'\n'"stderr: $(tail -n 15 <<<"$ERR")"
		[[ -n $OUT ]] && WHY+=$'\n'"stdout: $(tail -n 15 <<<"$OUT")"
	fi
	return "$rc"
}

# http METHOD URL [curl args...]: plain request; sets $STATUS, $HDRS, $BODY
# (file path) so checks can report the exact exchange on mismatch.
http() {
	local method=$1 url=$2
	shift 2
	BODY=$TMP/body
	STATUS=$(curl -sS -X "$method" -D "$TMP/headers" -o "$BODY" -w '%{http_code}' "$@" "$url" 2>"$TMP/stderr") || STATUS="curl error: $(cat "$TMP/stderr")"
	HDRS=$(tr -d '\r' <"$TMP/headers" 2>/dev/null || true)
}

# header NAME: value of a response header from the last http call.
header() {
	awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' \
		'tolower($1) == h { sub(/^[^:]*: */, ""); print; exit }' <<<"$HDRS"
}

# exchange: short description of the last http call for failure messages.
exchange() {
	printf 'HTTP %s\n%s\nbody: %s' "$STATUS" "$HDRS" "$(head -c 1500 "$BODY" 2>/dev/null)"
}

sha256_of() { sha256sum "$1" | awk '{print "sha256:" $1}'; }

# needs NAME VAR...: fail NAME (and return 1) if a prerequisite value is empty.
needs() {
	local name=$1 v
	shift
	for v in "$@"; do
		if [[ -z ${!v:-} ]]; then
			fail "$name" "skipped: prerequisite $v missing (an earlier check failed)"
			return 1
		fi
	done
}

# ---------------------------------------------------------------------------
# Fixtures

ART_TYPE=application/vnd.example.model
SIG_TYPE=application/vnd.example.sig
MODEL=$REG/e2e/model:v1

SRC=$TMP/src
mkdir -p "$SRC/weights"
printf 'cairn e2e readme\n' >"$SRC/readme.txt"
# Random bytes so a registry that returns a wrong/partial blob cannot match.
{ printf "BIN0"; head -c 199996 /dev/urandom; } >"$SRC/weights/model.bin" # a fixed start: random bytes may begin like a pickle
printf 'signature bytes\n' >"$SRC/sig.txt"

# Digests discovered along the way; later checks depend on them.
MODEL_DIGEST=
SIG_DIGEST=

# Force oras onto the referrers API (no silent tag fallback) when it can.
# Capture --help first: "| grep -q" can SIGPIPE oras and trip pipefail.
ORAS_REFERRERS_API=()
oras_attach_help=$(oras attach --help 2>&1 || true)
if grep -q 'v1.1-referrers-api' <<<"$oras_attach_help"; then
	ORAS_REFERRERS_API=(--distribution-spec v1.1-referrers-api)
fi

# ---------------------------------------------------------------------------
# 1. oras push / pull round trip

check_oras_push() {
	local name="oras push artifact (2 files, nested path, artifact type)"
	# oras resolves relative file paths and stores them as titles, so push
	# from inside the source dir to get "weights/model.bin" as the title.
	if ! run bash -c 'cd "$1" && shift && exec "$@"' _ "$SRC" \
		oras push --plain-http --artifact-type "$ART_TYPE" --format json "$MODEL" \
		readme.txt:text/plain weights/model.bin:application/octet-stream; then
		fail "$name" "$WHY"
		return
	fi
	MODEL_DIGEST=$(jq -r '.digest // empty' <<<"$OUT" 2>/dev/null || true)
	if [[ ! $MODEL_DIGEST =~ ^sha256:[0-9a-f]{64}$ ]]; then
		MODEL_DIGEST=
		fail "$name" "could not read digest from oras push --format json output: $OUT"
		return
	fi
	ok "$name ($MODEL_DIGEST)"
}

check_oras_pull() {
	local name="oras pull round trip (byte-identical files)"
	needs "$name" MODEL_DIGEST || return
	local dst=$TMP/pulled
	mkdir -p "$dst"
	if ! run oras pull --plain-http -o "$dst" "$MODEL"; then
		fail "$name" "$WHY"
		return
	fi
	local f bad=
	for f in readme.txt weights/model.bin; do
		if [[ ! -f $dst/$f ]]; then
			bad+="missing $f in pulled dir (got: $(cd "$dst" && find . -type f | tr '\n' ' '))"$'\n'
		elif ! cmp -s "$SRC/$f" "$dst/$f"; then
			bad+="$f differs: $(cmp "$SRC/$f" "$dst/$f" 2>&1)"$'\n'
		fi
	done
	if [[ -n $bad ]]; then
		fail "$name" "$bad"
		return
	fi
	ok "$name"
}

check_oras_manifest() {
	local name="oras manifest fetch has artifactType and layer titles"
	needs "$name" MODEL_DIGEST || return
	if ! run oras manifest fetch --plain-http "$REG/e2e/model@$MODEL_DIGEST"; then
		fail "$name" "$WHY"
		return
	fi
	local got
	got=$(jq -c '[.artifactType, [.layers[].annotations["org.opencontainers.image.title"]]]' <<<"$OUT" 2>&1) || true
	if [[ $got != "[\"$ART_TYPE\",[\"readme.txt\",\"weights/model.bin\"]]" ]]; then
		fail "$name" "expected artifactType $ART_TYPE and titles readme.txt, weights/model.bin; got $got"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# 2. Referrers: oras attach/discover via the referrers API, and proof that
# the sha256-<hex> tag fallback was not used.

check_oras_attach() {
	local name="oras attach ${ORAS_REFERRERS_API[*]:-(auto)}"
	needs "$name" MODEL_DIGEST || return
	if ! run bash -c 'cd "$1" && shift && exec "$@"' _ "$SRC" \
		oras attach --plain-http "${ORAS_REFERRERS_API[@]}" --artifact-type "$SIG_TYPE" \
		--format json "$MODEL" sig.txt:text/plain; then
		fail "$name" "$WHY"
		return
	fi
	SIG_DIGEST=$(jq -r '.digest // empty' <<<"$OUT" 2>/dev/null || true)
	if [[ ! $SIG_DIGEST =~ ^sha256:[0-9a-f]{64}$ ]]; then
		SIG_DIGEST=
		fail "$name" "could not read digest from oras attach --format json output: $OUT"
		return
	fi
	ok "$name ($SIG_DIGEST)"
}

check_oras_discover() {
	local name="oras discover ${ORAS_REFERRERS_API[*]:-(auto)} lists the referrer"
	needs "$name" SIG_DIGEST || return
	if ! run oras discover --plain-http "${ORAS_REFERRERS_API[@]}" --format json "$MODEL"; then
		fail "$name" "$WHY"
		return
	fi
	local n
	n=$(jq --arg d "$SIG_DIGEST" --arg t "$SIG_TYPE" \
		'[(.referrers // .manifests // [])[] | select(.digest == $d and .artifactType == $t)] | length' <<<"$OUT" 2>&1) || true
	if [[ $n != 1 ]]; then
		fail "$name" "expected referrer $SIG_DIGEST ($SIG_TYPE) once; discover output: $OUT"
		return
	fi
	ok "$name"
}

check_no_tag_fallback() {
	local name="no sha256-<hex> referrers fallback tag in tags/list"
	needs "$name" SIG_DIGEST || return
	http GET "$BASE/v2/e2e/model/tags/list"
	if [[ $STATUS != 200 ]]; then
		fail "$name" "GET /v2/e2e/model/tags/list: $(exchange)"
		return
	fi
	local tags
	if ! tags=$(jq -r '.tags[]?' "$BODY" 2>&1); then
		fail "$name" "tags/list body is not JSON: $(exchange)"
		return
	fi
	if grep -q '^sha256-' <<<"$tags"; then
		fail "$name" "client fell back to the tag schema; tags: $(tr '\n' ' ' <<<"$tags")"
		return
	fi
	if ! grep -qx 'v1' <<<"$tags"; then
		fail "$name" "tag v1 missing from tags/list: $(head -c 500 "$BODY")"
		return
	fi
	ok "$name"
}

check_referrers_api() {
	local name="GET /v2/e2e/model/referrers/<digest> returns OCI index with the referrer"
	needs "$name" SIG_DIGEST || return
	http GET "$BASE/v2/e2e/model/referrers/$MODEL_DIGEST"
	local ct
	ct=$(header Content-Type)
	if [[ $STATUS != 200 ]]; then
		fail "$name" "GET /v2/e2e/model/referrers/$MODEL_DIGEST: expected 200; $(exchange)"
		return
	fi
	if [[ $ct != application/vnd.oci.image.index.v1+json* ]]; then
		fail "$name" "Content-Type is '$ct', want application/vnd.oci.image.index.v1+json"
		return
	fi
	local q
	q=$(jq -c --arg d "$SIG_DIGEST" --arg t "$SIG_TYPE" '{
		schemaVersion, mediaType,
		match: [.manifests[] | select(.digest == $d)
			| {artifactType, mediaType, sizeOk: (.size > 0)}]
	}' "$BODY" 2>&1) || true
	local want="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"match\":[{\"artifactType\":\"$SIG_TYPE\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"sizeOk\":true}]}"
	if [[ $q != "$want" ]]; then
		fail "$name" "expected index listing $SIG_DIGEST with artifactType $SIG_TYPE once"$'\n'"summary got:  $q"$'\n'"summary want: $want"$'\n'"$(exchange)"
		return
	fi
	ok "$name"
}

# The spec makes artifactType filtering optional, but if the registry filters
# it must say so with OCI-Filters-Applied; an unfiltered answer must not.
check_referrers_filter() {
	local name="referrers ?artifactType= filter is consistent with OCI-Filters-Applied"
	needs "$name" SIG_DIGEST || return
	http GET "$BASE/v2/e2e/model/referrers/$MODEL_DIGEST?artifactType=application/vnd.example.other"
	if [[ $STATUS != 200 ]]; then
		fail "$name" "expected 200; $(exchange)"
		return
	fi
	local applied n
	applied=$(header OCI-Filters-Applied)
	n=$(jq '.manifests | length' "$BODY" 2>&1) || true
	if [[ $applied == *artifactType* && $n == 0 ]]; then
		ok "$name (filtered)"
	elif [[ -z $applied && $n == 1 ]]; then
		ok "$name (not filtered)"
	else
		fail "$name" "OCI-Filters-Applied='$applied' but $n manifests returned for a non-matching artifactType; $(exchange)"
	fi
}

# A registry that processes subject must answer the manifest PUT with an
# OCI-Subject header; clients use it to decide not to maintain the tag index.
check_oci_subject_header() {
	local name="manifest PUT with subject answers OCI-Subject header"
	needs "$name" SIG_DIGEST || return
	http GET "$BASE/v2/e2e/model/manifests/$SIG_DIGEST" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
	if [[ $STATUS != 200 ]]; then
		fail "$name" "GET referrer manifest: $(exchange)"
		return
	fi
	cp "$BODY" "$TMP/sig-manifest.json"
	# Re-PUT the identical bytes by digest: idempotent, and shows the header.
	http PUT "$BASE/v2/e2e/model/manifests/$SIG_DIGEST" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$TMP/sig-manifest.json"
	if [[ $STATUS != 201 ]]; then
		fail "$name" "PUT /v2/e2e/model/manifests/$SIG_DIGEST: expected 201; $(exchange)"
		return
	fi
	local subj
	subj=$(header OCI-Subject)
	if [[ $subj != "$MODEL_DIGEST" ]]; then
		fail "$name" "OCI-Subject='$subj', want $MODEL_DIGEST"$'\n'"$(exchange)"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# 3. crane sees the same content

check_crane_digest() {
	local name="crane digest == oras resolve == pushed digest"
	needs "$name" MODEL_DIGEST || return
	local cd od
	run crane digest --insecure "$MODEL" || {
		fail "$name" "$WHY"
		return
	}
	cd=$OUT
	run oras resolve --plain-http "$MODEL" || {
		fail "$name" "$WHY"
		return
	}
	od=$OUT
	if [[ $cd != "$MODEL_DIGEST" || $od != "$MODEL_DIGEST" ]]; then
		fail "$name" "crane digest=$cd oras resolve=$od pushed=$MODEL_DIGEST"
		return
	fi
	ok "$name"
}

check_crane_manifest() {
	local name="crane manifest is JSON and hashes to the digest"
	needs "$name" MODEL_DIGEST || return
	# Write the exact bytes to a file: $(...) would strip trailing newlines.
	if ! crane manifest --insecure "$MODEL" >"$TMP/crane-manifest.json" 2>"$TMP/stderr"; then
		fail "$name" "crane manifest failed: $(cat "$TMP/stderr")"
		return
	fi
	if ! jq -e . "$TMP/crane-manifest.json" >/dev/null 2>&1; then
		fail "$name" "not valid JSON: $(head -c 500 "$TMP/crane-manifest.json")"
		return
	fi
	local d
	d=$(sha256_of "$TMP/crane-manifest.json")
	if [[ $d != "$MODEL_DIGEST" ]]; then
		fail "$name" "sha256 of manifest bytes is $d, want $MODEL_DIGEST"
		return
	fi
	ok "$name"
}

check_crane_catalog() {
	local name="crane catalog lists e2e/model"
	if ! run crane catalog --insecure "$REG"; then
		fail "$name" "$WHY"
		return
	fi
	if ! grep -qx 'e2e/model' <<<"$OUT"; then
		fail "$name" "catalog output: $OUT"
		return
	fi
	ok "$name"
}

check_crane_ls() {
	local name="crane ls lists v1"
	if ! run crane ls --insecure "$REG/e2e/model"; then
		fail "$name" "$WHY"
		return
	fi
	if ! grep -qx 'v1' <<<"$OUT"; then
		fail "$name" "ls output: $OUT"
		return
	fi
	ok "$name"
}

check_crane_blob() {
	local name="crane blob returns exact layer bytes"
	needs "$name" MODEL_DIGEST || return
	local layer
	layer=$(jq -r '.layers[] | select(.annotations["org.opencontainers.image.title"] == "weights/model.bin") | .digest' \
		"$TMP/crane-manifest.json" 2>/dev/null || true)
	if [[ -z $layer ]]; then
		layer=$(sha256_of "$SRC/weights/model.bin")
	fi
	if ! crane blob --insecure "$REG/e2e/model@$layer" >"$TMP/blob" 2>"$TMP/stderr"; then
		fail "$name" "crane blob $layer failed: $(cat "$TMP/stderr")"
		return
	fi
	if ! cmp -s "$SRC/weights/model.bin" "$TMP/blob"; then
		fail "$name" "blob $layer differs from weights/model.bin: $(cmp "$SRC/weights/model.bin" "$TMP/blob" 2>&1) (got $(wc -c <"$TMP/blob") bytes)"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# 4. regctl sees the referrer (it queries the referrers API and falls back to
# tags; there are no fallback tags, see above).

check_regctl_tree() {
	local name="regctl artifact tree shows the referrer"
	needs "$name" SIG_DIGEST || return
	if ! run regctl registry set --tls disabled "$REG"; then
		fail "$name" "$WHY"
		return
	fi
	if ! run regctl artifact tree "$MODEL"; then
		fail "$name" "$WHY"
		return
	fi
	if ! grep -qF "$SIG_DIGEST: $SIG_TYPE" <<<"$OUT"; then
		fail "$name" "expected line '$SIG_DIGEST: $SIG_TYPE' in output:"$'\n'"$OUT"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# 5. skopeo: copy a hand-built OCI layout (independent of the registry) in,
# inspect it, and copy it back out.

LAYOUT=$TMP/layout
IMG_MANIFEST_DIGEST=
IMG_LAYER_DIGEST=

# put_blob FILE: store FILE in the layout's blob store, print its digest.
put_blob() {
	local d
	d=$(sha256_of "$1")
	cp "$1" "$LAYOUT/blobs/sha256/${d#sha256:}"
	echo "$d"
}

build_layout() {
	mkdir -p "$LAYOUT/blobs/sha256" "$TMP/rootfs/etc"
	printf 'hello from cairn e2e\n' >"$TMP/rootfs/etc/motd"
	# Deterministic, uncompressed layer tar.
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$TMP/rootfs" -cf "$TMP/layer.tar" etc
	IMG_LAYER_DIGEST=$(put_blob "$TMP/layer.tar")
	local layer_size
	layer_size=$(stat -c %s "$TMP/layer.tar")

	jq -cn --arg diff "$IMG_LAYER_DIGEST" '{
		architecture: "amd64", os: "linux",
		config: {Cmd: ["/bin/true"]},
		rootfs: {type: "layers", diff_ids: [$diff]}
	}' >"$TMP/config.json"
	local cfg cfg_size
	cfg=$(put_blob "$TMP/config.json")
	cfg_size=$(stat -c %s "$TMP/config.json")

	jq -cn --arg cfg "$cfg" --argjson cs "$cfg_size" \
		--arg l "$IMG_LAYER_DIGEST" --argjson ls "$layer_size" '{
		schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]
	}' >"$TMP/manifest.json"
	IMG_MANIFEST_DIGEST=$(put_blob "$TMP/manifest.json")

	jq -cn --arg d "$IMG_MANIFEST_DIGEST" --argjson s "$(stat -c %s "$TMP/manifest.json")" '{
		schemaVersion: 2,
		mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: [{
			mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
			annotations: {"org.opencontainers.image.ref.name": "v1"}
		}]
	}' >"$LAYOUT/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"

	# Explicit policy/registries config so the machine's /etc/containers
	# does not matter.
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$TMP/policy.json"
	: >"$TMP/registries.conf"
}

SKOPEO=(skopeo --policy "$TMP/policy.json" --registries-conf "$TMP/registries.conf")

check_skopeo_copy() {
	local name="skopeo copy oci layout -> registry"
	if ! build_layout 2>"$TMP/stderr"; then
		fail "$name" "could not build OCI layout: $(cat "$TMP/stderr")"
		IMG_MANIFEST_DIGEST=
		return
	fi
	# --preserve-digests: fail rather than silently rewrite the manifest, so
	# the digest we computed is the one the registry must report.
	if ! run "${SKOPEO[@]}" copy --retry-times 0 --preserve-digests --dest-tls-verify=false \
		"oci:$LAYOUT:v1" "docker://$REG/e2e/skopeo:v1"; then
		fail "$name" "$WHY"
		IMG_MANIFEST_DIGEST=
		return
	fi
	ok "$name"
}

check_skopeo_inspect() {
	local name="skopeo inspect reports expected digest and layers"
	needs "$name" IMG_MANIFEST_DIGEST || return
	if ! run "${SKOPEO[@]}" inspect --retry-times 0 --tls-verify=false "docker://$REG/e2e/skopeo:v1"; then
		fail "$name" "$WHY"
		return
	fi
	local got
	got=$(jq -c '[.Digest, .Layers, .Os, .Architecture]' <<<"$OUT" 2>&1) || true
	local want="[\"$IMG_MANIFEST_DIGEST\",[\"$IMG_LAYER_DIGEST\"],\"linux\",\"amd64\"]"
	if [[ $got != "$want" ]]; then
		fail "$name" "got $got, want $want"
		return
	fi
	# --raw prints the stored manifest bytes; they must be exactly ours.
	if ! "${SKOPEO[@]}" inspect --retry-times 0 --tls-verify=false --raw \
		"docker://$REG/e2e/skopeo:v1" >"$TMP/raw.json" 2>"$TMP/stderr"; then
		fail "$name" "skopeo inspect --raw failed: $(cat "$TMP/stderr")"
		return
	fi
	if ! cmp -s "$TMP/raw.json" "$TMP/manifest.json"; then
		fail "$name" "--raw manifest differs from the pushed one: $(head -c 500 "$TMP/raw.json")"
		return
	fi
	ok "$name"
}

check_skopeo_copy_back() {
	local name="skopeo copy registry -> oci layout round trip"
	needs "$name" IMG_MANIFEST_DIGEST || return
	if ! run "${SKOPEO[@]}" copy --retry-times 0 --preserve-digests --src-tls-verify=false \
		"docker://$REG/e2e/skopeo:v1" "oci:$TMP/back:v1"; then
		fail "$name" "$WHY"
		return
	fi
	local blob=$TMP/back/blobs/sha256/${IMG_LAYER_DIGEST#sha256:}
	if ! cmp -s "$TMP/layer.tar" "$blob"; then
		fail "$name" "layer blob missing or different in copied layout ($blob)"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# 6. In-registry copy; crane mounts blobs from the source repository.

check_crane_copy() {
	local name="crane copy e2e/model:v1 -> e2e/copy:v1 keeps the digest"
	needs "$name" MODEL_DIGEST || return
	# -v logs every HTTP exchange, which lets us see whether mounts succeeded.
	if ! run crane copy -v --insecure "$MODEL" "$REG/e2e/copy:v1"; then
		fail "$name" "$(grep -E -- '<-- [45][0-9][0-9]|Error' <<<"$ERR" | tail -n 10)"$'\n'"$WHY"
		return
	fi
	local log=$ERR d
	if ! run crane digest --insecure "$REG/e2e/copy:v1"; then
		fail "$name" "$WHY"
		return
	fi
	d=$OUT
	if [[ $d != "$MODEL_DIGEST" ]]; then
		fail "$name" "copy digest $d, want $MODEL_DIGEST"
		return
	fi
	local mounted
	mounted=$(grep -cE -- '<-- 201 .*/e2e/copy/blobs/uploads/\?.*mount=' <<<"$log" || true)
	ok "$name ($mounted blob(s) cross-repo mounted)"
	CRANE_COPY_LOG=$log
}

# Mounting is optional in the spec (a 202 falls back to upload), so this is
# its own check: it tells the server engineer whether mount is honoured.
check_cross_repo_mount() {
	local name="cross-repo blob mount answered 201 Created"
	needs "$name" CRANE_COPY_LOG || return
	local posts created
	posts=$(grep -cE -- '--> POST .*/e2e/copy/blobs/uploads/\?.*mount=' <<<"$CRANE_COPY_LOG" || true)
	created=$(grep -cE -- '<-- 201 .*/e2e/copy/blobs/uploads/\?.*mount=' <<<"$CRANE_COPY_LOG" || true)
	if ((posts == 0)) && grep -qE -- '<-- 200 .*/e2e/copy/blobs/sha256:' <<<"$CRANE_COPY_LOG" &&
		! grep -qE -- '<-- 404 .*/e2e/copy/blobs/sha256:' <<<"$CRANE_COPY_LOG"; then
		# HEAD /v2/e2e/copy/blobs/<d> already answered 200 for every blob, so
		# there was nothing to mount (blobs are visible registry-wide).
		ok "$name (not needed: blobs already visible in the target repo)"
	elif ((posts == 0)); then
		fail "$name" "crane did not attempt a mount (no POST ...?mount= in its log): $(grep -E -- '<-- [0-9]{3} ' <<<"$CRANE_COPY_LOG" | head -n 10)"
	elif ((created != posts)); then
		fail "$name" "$created of $posts mount requests got 201; others: $(grep -E -- '<-- [0-9]{3} .*mount=' <<<"$CRANE_COPY_LOG" | grep -v -- '<-- 201' | head -n 5)"
	else
		ok "$name ($created/$posts)"
	fi
}

check_oras_copy_referrers() {
	local name="oras copy -r e2e/model:v1 -> e2e/copy-r:v1 carries the referrer"
	needs "$name" SIG_DIGEST || return
	if ! run oras copy -r --from-plain-http --to-plain-http \
		"${ORAS_REFERRERS_API[@]/#--distribution-spec/--from-distribution-spec}" \
		"${ORAS_REFERRERS_API[@]/#--distribution-spec/--to-distribution-spec}" \
		"$MODEL" "$REG/e2e/copy-r:v1"; then
		fail "$name" "$WHY"
		return
	fi
	http GET "$BASE/v2/e2e/copy-r/referrers/$MODEL_DIGEST"
	local n
	n=$(jq --arg d "$SIG_DIGEST" '[.manifests[]? | select(.digest == $d)] | length' "$BODY" 2>/dev/null || true)
	if [[ $STATUS != 200 || $n != 1 ]]; then
		fail "$name" "referrers of the copy do not list $SIG_DIGEST: $(exchange)"
		return
	fi
	ok "$name"
}

# ---------------------------------------------------------------------------
# Run everything (each check handles its own failures).

CRANE_COPY_LOG=
for c in \
	check_oras_push check_oras_pull check_oras_manifest \
	check_oras_attach check_oras_discover check_no_tag_fallback \
	check_referrers_api check_referrers_filter check_oci_subject_header \
	check_crane_digest check_crane_manifest check_crane_catalog check_crane_ls check_crane_blob \
	check_regctl_tree \
	check_skopeo_copy check_skopeo_inspect check_skopeo_copy_back \
	check_crane_copy check_cross_repo_mount check_oras_copy_referrers; do
	"$c" || true
done

# The server must still be alive: a crash mid-run would otherwise only show
# up as confusing client errors.
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	fail "server still running" "server exited during the run; last log lines:"$'\n'"$(tail -n 20 "$TMP/server.log")"
fi

echo
if ((${#FAILED[@]})); then
	printf '# failed:\n'
	printf '#   %s\n' "${FAILED[@]}"
fi
# Plain "N passed, N failed" closing line, as CI summaries expect.
printf 'e2e-clients: %d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
((${#FAILED[@]} == 0)) || exit 1
