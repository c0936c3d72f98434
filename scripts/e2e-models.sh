#!/usr/bin/env bash
# End-to-end test of model push and pull: cairn against a fresh cairn serve,
# checked by independent clients (oras, crane), and artifacts made by hand
# with oras pulled by cairn, hostile ones included.
#
#   CAIRN=/path/to/cairn scripts/e2e-models.sh
#
# Prints "ok   - <check>" or "FAIL - <check>: <why>" per check; exits 1 if
# any failed, 2 if the set-up failed.
set -uo pipefail

die() { printf 'e2e-models: %s\n' "$*" >&2; exit 2; }
for tool in oras crane jq curl cmp sha256sum; do
	command -v "$tool" >/dev/null || die "missing tool on PATH: $tool (scripts/test installs it)"
done
[[ -x ${CAIRN:-} ]] || die "set CAIRN to the cairn binary"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e-models.XXXXXX")
SERVER_PID=
cleanup() {
	[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
export HOME=$TMP/home DOCKER_CONFIG=$TMP/home/.docker CAIRN_CACHE=$TMP/cache
mkdir -p "$HOME"

# A port below the ephemeral range (32768 up), so that no outgoing
# connection holds it, and one nothing listens on.
PORT=$((10000 + RANDOM % 22000))
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((10000 + RANDOM % 22000)); done
REG=127.0.0.1:$PORT
"$CAIRN" serve --addr "$REG" --data "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null "http://$REG/v2/" || { tail -20 "$TMP/server.log" >&2; die "server did not start"; }

pass=0 fail=0
ok() { printf 'ok   - %s\n' "$1"; pass=$((pass + 1)); }
bad() { printf 'FAIL - %s: %s\n' "$1" "$2"; fail=$((fail + 1)); }
# check NAME CMD...: ok when CMD succeeds, else FAIL with its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(tail -5 <<<"$out")"; fi
}

# A model directory: nested files, a weight, configs, docs.
M=$TMP/model
mkdir -p "$M/weights/shard" "$M/docs"
# A valid safetensors file (pull scans every file and refuses a weight it
# finds unsafe: random bytes are a malformed header): a one-tensor header
# padded to 8 bytes, then the tensor's 3000000 random bytes.
st=$M/weights/shard/model-00001.safetensors
hdr='{"w":{"dtype":"U8","shape":[3000000],"data_offsets":[0,3000000]}}'
while ((${#hdr} % 8)); do hdr+=" "; done
for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((${#hdr} >> (8 * i)) & 255)))"; done >"$st"
printf '%s' "$hdr" >>"$st"
head -c 3000000 /dev/urandom >>"$st"
{ printf "BIN0"; head -c 996 /dev/urandom; } >"$M/weights/extra.bin" # a fixed start: random bytes may begin like a pickle
echo '{"architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16"}' >"$M/config.json"
echo '# a model' >"$M/docs/README.md"

# 1. cairn push, pushed twice gives one digest; cairn pull is byte-identical.
d1=$("$CAIRN" push "$M" "$REG/e2e/llama:v1" 2>"$TMP/push1.err") || bad "cairn push" "$(cat "$TMP/push1.err")"
d2=$("$CAIRN" push "$M" "$REG/e2e/llama:v2" 2>/dev/null)
[[ -n $d1 && $d1 == "$d2" ]] && ok "cairn push is deterministic ($d1)" || bad "cairn push is deterministic" "$d1 vs $d2"
"$CAIRN" pull "$REG/e2e/llama:v1" "$TMP/pulled" >/dev/null 2>"$TMP/pull.err" || bad "cairn pull" "$(cat "$TMP/pull.err")"
same=1
while IFS= read -r f; do cmp -s "$M/$f" "$TMP/pulled/$f" || { same=0; bad "round trip" "$f differs"; }; done < <(cd "$M" && find . -type f | sed 's|^\./||')
[[ $same == 1 ]] && ok "cairn push + pull round trip is byte-identical"

# 2. Independent clients read what cairn pushed as a ModelPack manifest.
man=$(oras manifest fetch --plain-http "$REG/e2e/llama:v1")
[[ $(jq -r .artifactType <<<"$man") == application/vnd.cncf.model.manifest.v1+json ]] && ok "oras: artifactType is the ModelPack model type" || bad "oras: artifactType" "$(jq -c .artifactType <<<"$man")"
[[ $(jq -r .config.mediaType <<<"$man") == application/vnd.cncf.model.config.v1+json ]] && ok "oras: config media type is ModelPack's" || bad "oras: config media type" "$(jq -c .config <<<"$man")"
badlayers=$(jq -r '.layers[] | select((.mediaType | startswith("application/vnd.cncf.model.") | not) or (.annotations["org.cncf.model.filepath"] == null) or (.annotations["org.cncf.model.file.metadata+json"] == null)) | .digest' <<<"$man")
[[ -z $badlayers ]] && ok "every layer has a ModelPack media type, filepath and file metadata" || bad "layer annotations" "$badlayers"
wd=$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "weights/shard/model-00001.safetensors") | .digest' <<<"$man")
[[ $(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "weights/shard/model-00001.safetensors") | .mediaType' <<<"$man") == application/vnd.cncf.model.weight.v1.raw ]] && ok "a .safetensors file is a weight layer" || bad "weight kind" "$man"
oras blob fetch --plain-http "$REG/e2e/llama@$wd" --output "$TMP/w.bin" >/dev/null 2>&1 && cmp -s "$TMP/w.bin" "$M/weights/shard/model-00001.safetensors" && ok "oras blob fetch of a layer gives the file" || bad "oras blob fetch" "$wd"
cdig=$(crane digest --insecure "$REG/e2e/llama:v1" 2>&1)
[[ $cdig == "$d1" ]] && ok "crane digest matches cairn's" || bad "crane digest" "$cdig"
cfg=$(crane blob --insecure "$REG/e2e/llama@$(jq -r .config.digest <<<"$man")" 2>&1)
[[ $(jq -r '.modelfs.diffIds | length' <<<"$cfg") == "$(jq '.layers | length' <<<"$man")" ]] && ok "config modelfs.diffIds lists every layer" || bad "config diffIds" "$cfg"

# 3. A ModelPack artifact built by hand with oras push pulls with cairn.
H=$TMP/hand
mkdir -p "$H/sub"
# A GGUF header (magic, version 3, no tensors, no metadata) over random
# bytes: pull scans it, and random bytes alone are no GGUF file.
printf 'GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$H/model.gguf"
head -c 50000 /dev/urandom >>"$H/model.gguf"
echo '{"hand":true}' >"$H/sub/params.json"
echo '{"descriptor":{"name":"hand"},"config":{"format":"gguf"},"modelfs":{"type":"layers","diffIds":[]}}' >"$H/config.json"
cat >"$H/annotations.json" <<JSON
{"model.gguf": {"org.cncf.model.filepath": "model.gguf"},
 "sub/params.json": {"org.cncf.model.filepath": "sub/params.json"}}
JSON
(cd "$H" && oras push --plain-http "$REG/e2e/hand:v1" --artifact-type application/vnd.cncf.model.manifest.v1+json \
	--config config.json:application/vnd.cncf.model.config.v1+json --annotation-file annotations.json \
	model.gguf:application/vnd.cncf.model.weight.v1.raw sub/params.json:application/vnd.cncf.model.weight.config.v1.raw) >/dev/null 2>"$TMP/oras.err" ||
	bad "oras push of a hand-made ModelPack artifact" "$(cat "$TMP/oras.err")"
if "$CAIRN" pull "$REG/e2e/hand:v1" "$TMP/hand-pulled" >/dev/null 2>"$TMP/pull2.err" &&
	cmp -s "$H/model.gguf" "$TMP/hand-pulled/model.gguf" && cmp -s "$H/sub/params.json" "$TMP/hand-pulled/sub/params.json"; then
	ok "cairn pulls a ModelPack artifact made with oras push"
else
	bad "cairn pulls a ModelPack artifact made with oras push" "$(cat "$TMP/pull2.err")"
fi

# 4. Hostile paths made with oras push --annotation-file: refused, nothing
# written outside DIR.
for evil in "../x" "/tmp/cairn-e2e-escape" "a/../../x"; do
	E=$TMP/evil
	rm -rf "$E" "$TMP/evil-parent"
	mkdir -p "$E" "$TMP/evil-parent"
	echo payload >"$E/payload"
	printf '{"payload": {"org.cncf.model.filepath": "%s"}}\n' "$evil" >"$E/ann.json"
	(cd "$E" && oras push --plain-http "$REG/e2e/evil:v1" --artifact-type application/vnd.cncf.model.manifest.v1+json \
		--annotation-file ann.json payload:application/vnd.cncf.model.weight.v1.raw) >/dev/null 2>&1 || { bad "oras push with path $evil" "push failed"; continue; }
	"$CAIRN" pull "$REG/e2e/evil:v1" "$TMP/evil-parent/dir" >"$TMP/evil.out" 2>&1
	rc=$?
	outside=$(find "$TMP/evil-parent" -mindepth 1 -not -path "$TMP/evil-parent/dir*" | head -3)
	if [[ $rc == 1 ]] && grep -qF -- "$evil" "$TMP/evil.out" && [[ -z $outside ]] && [[ ! -e /tmp/cairn-e2e-escape ]] && [[ ! -e $TMP/x ]]; then
		ok "pull refuses layer path $evil and writes nothing outside DIR"
	else
		bad "pull refuses layer path $evil" "exit $rc, outside: $outside, output: $(cat "$TMP/evil.out")"
	fi
done

# 5. A dataset of many small files.
D=$TMP/dataset
mkdir -p "$D/train" "$D/test"
for i in $(seq 1 200); do head -c $((RANDOM % 1500 + 1)) /dev/urandom | base64 >"$D/train/s$i.txt"; done
for i in $(seq 1 20); do head -c 375 /dev/urandom | base64 >"$D/test/s$i.txt"; done
dd=$("$CAIRN" push --dataset "$D" "$REG/e2e/data:v1" 2>"$TMP/ds.err") || bad "cairn push --dataset" "$(cat "$TMP/ds.err")"
nl=$(oras manifest fetch --plain-http "$REG/e2e/data:v1" | jq '.layers | length')
[[ $nl -lt 220 ]] && ok "dataset of 220 small files packed into $nl layers" || bad "dataset grouping" "$nl layers"
if "$CAIRN" pull "$REG/e2e/data:v1" "$TMP/data-pulled" >/dev/null 2>"$TMP/dsp.err" && diff -r "$D" "$TMP/data-pulled" -x .cairn >/dev/null; then
	ok "dataset round trip is identical"
else
	bad "dataset round trip" "$(cat "$TMP/dsp.err"; diff -rq "$D" "$TMP/data-pulled" -x .cairn | head -3)"
fi

printf '\ne2e-models: %d passed, %d failed\n' "$pass" "$fail"
[[ $fail == 0 ]]
