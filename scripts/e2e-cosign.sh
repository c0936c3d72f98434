#!/usr/bin/env bash
# End-to-end signature interoperability with cosign v3 (issue 4, acceptance
# point 2), offline: cairn signs and cosign verifies; cosign signs and cairn
# verifies; a signature by the other key is refused by both; cairn attests
# SLSA provenance and cosign verify-attestation accepts it; cairn copy
# promotes a signed model through distribution and back (issue 17). Runs against a
# fresh cairn serve on loopback; no Rekor, Fulcio, TSA or TUF is contacted.
#
#   CAIRN=/path/to/cairn scripts/e2e-cosign.sh
#
# Needs cosign v3 on PATH:
#   go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3
#
# Prints "ok   - <check>" or "FAIL - <check>: <why>" per check; exits 1 if
# any failed, 2 if the set-up failed.
set -uo pipefail

die() { printf 'e2e-cosign: %s\n' "$*" >&2; exit 2; }
for tool in cosign oras jq curl; do
	command -v "$tool" >/dev/null || die "missing tool on PATH: $tool"
done
[[ -x ${CAIRN:-} ]] || die "set CAIRN to the cairn binary"
[[ $(cosign version 2>&1) == *v3.* ]] || die "cosign on PATH is not v3: $(cosign version 2>&1 | grep -i gitversion)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e-cosign.XXXXXX")
SERVER_PID=
cleanup() {
	[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
export HOME=$TMP/home DOCKER_CONFIG=$TMP/home/.docker CAIRN_CACHE=$TMP/cache TUF_ROOT=$TMP/home/.sigstore
mkdir -p "$HOME"
# Offline: any connection that is not to loopback goes to a proxy that is
# not there, so it fails at once instead of reaching sigstore.dev (Go never
# proxies loopback addresses).
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY='' https_proxy='' http_proxy='' no_proxy=''

# A port below the ephemeral range (32768 up), so that no outgoing
# connection holds it, and one nothing listens on.
PORT=$((10000 + RANDOM % 22000))
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((10000 + RANDOM % 22000)); done
REG=127.0.0.1:$PORT
"$CAIRN" serve --addr "$REG" --data "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fsS --noproxy '*' -o /dev/null "http://$REG/v2/" 2>/dev/null && break; sleep 0.2; done
curl -fsS --noproxy '*' -o /dev/null "http://$REG/v2/" || { tail -20 "$TMP/server.log" >&2; die "server did not start"; }

pass=0 fail=0
ok() { printf 'ok   - %s\n' "$1"; pass=$((pass + 1)); }
bad() { printf 'FAIL - %s: %s\n' "$1" "$2"; fail=$((fail + 1)); }
# check NAME CMD...: ok when CMD succeeds, else FAIL with its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(tail -5 <<<"$out")"; fi
}
# refuse NAME WANT WHY CMD...: ok when CMD exits with status WANT
# ("nonzero": any failure) and its output matches the extended regexp WHY
# (so that it failed for that reason, not another), else FAIL.
refuse() {
	local name=$1 want=$2 why=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if { [[ $want == nonzero && $rc != 0 ]] || [[ $rc == "$want" ]]; } && grep -qE -- "$why" <<<"$out"; then
		ok "$name"
	else
		bad "$name" "exit $rc, want $want: $(tail -5 <<<"$out")"
	fi
}
# Did a command try to leave loopback? Its output then names the dead proxy
# or a sigstore host.
offline() { ! grep -qiE '127\.0\.0\.1:9[^0-9]|proxyconnect|sigstore\.dev|tuf' "$1"; }

# Two models with different content, so different digests.
for m in a b; do
	mkdir -p "$TMP/$m"
	# A valid safetensors file (the agent scans it): a one-tensor header,
	# padded to 8 bytes, over random data.
	hdr='{"w":{"dtype":"U8","shape":[100000],"data_offsets":[0,100000]}}'
	while ((${#hdr} % 8)); do hdr+=" "; done
	for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((${#hdr} >> (8 * i)) & 255)))"; done >"$TMP/$m/model.safetensors"
	printf '%s' "$hdr" >>"$TMP/$m/model.safetensors"
	head -c 100000 /dev/urandom >>"$TMP/$m/model.safetensors"
	echo "{\"name\":\"$m\"}" >"$TMP/$m/config.json"
done

cd "$TMP" || die "cd $TMP"
export CAIRN_PASSWORD=cairn-e2e-pass COSIGN_PASSWORD=cosign-e2e-pass

# Keys and offline configuration: a signing config with no services (no
# Fulcio, Rekor or TSA) and an empty trusted root (so cosign sign does not
# fetch the public-good one from TUF).
"$CAIRN" keygen --out cairn >"$TMP/keygen.out" 2>&1 || die "cairn keygen: $(cat "$TMP/keygen.out")"
cosign generate-key-pair --output-key-prefix cosign >"$TMP/genkey.out" 2>&1 || die "cosign generate-key-pair: $(cat "$TMP/genkey.out")"
cosign signing-config create --out sc.json >"$TMP/sc.out" 2>&1 || die "cosign signing-config create: $(cat "$TMP/sc.out")"
cosign trusted-root create --out tr.json >"$TMP/tr.out" 2>&1 || die "cosign trusted-root create: $(cat "$TMP/tr.out")"
[[ $(jq -c '[.caUrls, .rekorTlogUrls, .tsaUrls] | map(length)' sc.json) == "[0,0,0]" ]] || die "signing config names services: $(cat sc.json)"

da=$("$CAIRN" push a "$REG/e2e/a:v1" 2>"$TMP/push-a.err") || die "cairn push a: $(cat "$TMP/push-a.err")"
db=$("$CAIRN" push b "$REG/e2e/b:v1" 2>"$TMP/push-b.err") || die "cairn push b: $(cat "$TMP/push-b.err")"
[[ $da != "$db" ]] || die "models a and b have the same digest"
A=$REG/e2e/a@$da B=$REG/e2e/b@$db

# cosign verify with a key, offline: the signature is in a v0.3 bundle
# found through the referrers API (--new-bundle-format is cosign v3's
# default), with no transparency log entry and no signed timestamp
# (--use-signed-timestamps=false is the default, spelled out). With --key,
# --insecure-ignore-tlog and no signed timestamps cosign loads no trusted
# root, so it does not go to TUF.
cosign_verify() { cosign verify --key "$1" --insecure-ignore-tlog=true --use-signed-timestamps=false --allow-http-registry "$2"; }

# (a) cairn signs; cosign verifies.
check "cairn sign model a with cairn.key" "$CAIRN" sign "$REG/e2e/a:v1" --key cairn.key
if cosign_verify cairn.pub "$A" >"$TMP/va.json" 2>"$TMP/va.err"; then
	ok "cosign verify --key cairn.pub accepts cairn's signature"
	offline "$TMP/va.err" || bad "cosign verify of cairn's signature stays offline" "$(cat "$TMP/va.err")"
else
	bad "cosign verify --key cairn.pub accepts cairn's signature" "$(tail -5 "$TMP/va.err")"
fi
subj=$(jq -r '.[0].critical.image["docker-manifest-digest"] // empty' <"$TMP/va.json" 2>/dev/null)
[[ $subj == "$da" ]] && ok "cosign reports the verified digest as model a's" || bad "cosign verified digest" "got '$subj', want $da"

# (b) cosign signs; cairn verifies.
if cosign sign --key cosign.key --signing-config sc.json --trusted-root tr.json --allow-http-registry --yes "$B" >"$TMP/sb.out" 2>&1; then
	ok "cosign sign --key cosign.key --signing-config sc.json model b"
	offline "$TMP/sb.out" || bad "cosign sign stays offline" "$(cat "$TMP/sb.out")"
else
	bad "cosign sign model b" "$(tail -5 "$TMP/sb.out")"
fi
refs=$(curl -fsS --noproxy '*' "http://$REG/v2/e2e/b/referrers/$db")
sig=$(jq -r '[.manifests[] | select(.artifactType == "application/vnd.dev.sigstore.bundle.v0.3+json")] | if length == 1 then .[0].digest else empty end' <<<"$refs")
if [[ -n $sig ]]; then
	ok "cosign attached one v0.3 bundle referrer to model b"
	bundle=$(oras blob fetch --plain-http --output - "$REG/e2e/b@$(oras manifest fetch --plain-http "$REG/e2e/b@$sig" | jq -r '.layers[0].digest')")
	[[ $(jq -r '.dsseEnvelope.payloadType' <<<"$bundle") == application/vnd.in-toto+json &&
		$(jq '.verificationMaterial.tlogEntries // [] | length' <<<"$bundle") == 0 ]] &&
		ok "cosign's bundle is a DSSE in-toto envelope with no tlog entry" ||
		bad "cosign's bundle" "$(jq -c 'del(.dsseEnvelope.payload, .dsseEnvelope.signatures)' <<<"$bundle")"
else
	bad "cosign attached one v0.3 bundle referrer to model b" "$refs"
fi
check "cairn verify --key cosign.pub accepts cosign's signature" "$CAIRN" verify "$REG/e2e/b:v1" --key cosign.pub
check "cosign verify --key cosign.pub accepts cosign's own signature" cosign_verify cosign.pub "$B"

# (c) A signature by the other key is refused, by both.
badsig='failed to verify signature'
# cairn says it in words: which key the bundle was not signed by.
cairnbad='not signed by key'
refuse "cairn verify --key cosign.pub refuses model a (signed only by cairn.key): exit 1" 1 "$cairnbad cosign.pub" "$CAIRN" verify "$REG/e2e/a:v1" --key cosign.pub
refuse "cosign verify --key cosign.pub refuses model a (signed only by cairn.key)" nonzero "$badsig" cosign_verify cosign.pub "$A"
refuse "cairn verify --key cairn.pub refuses model b (signed only by cosign.key): exit 1" 1 "$cairnbad cairn.pub" "$CAIRN" verify "$REG/e2e/b:v1" --key cairn.pub
refuse "cosign verify --key cairn.pub refuses model b (signed only by cosign.key)" nonzero "$badsig" cosign_verify cairn.pub "$B"

# (d) cairn attests SLSA provenance; cosign verify-attestation accepts it,
# and cairn inspect shows the lineage it records, both ways.
cat >prov.json <<EOF
{"buildDefinition":{"buildType":"https://example.com/train/v1","externalParameters":{"epochs":3},
 "resolvedDependencies":[{"uri":"oci://$REG/e2e/b@$db","digest":{"sha256":"${db#sha256:}"},"name":"base-model"}]},
 "runDetails":{"builder":{"id":"https://ci.example.com/trainer"}}}
EOF
check "cairn attest model a with SLSA provenance naming model b" "$CAIRN" attest "$REG/e2e/a:v1" --key cairn.key --predicate prov.json
cosign_verify_att() { cosign verify-attestation --key "$1" --type https://slsa.dev/provenance/v1 --insecure-ignore-tlog=true --use-signed-timestamps=false --allow-http-registry "$2"; }
if cosign_verify_att cairn.pub "$A" >"$TMP/vatt.json" 2>"$TMP/vatt.err"; then
	ok "cosign verify-attestation --type https://slsa.dev/provenance/v1 accepts cairn's provenance"
	offline "$TMP/vatt.err" || bad "cosign verify-attestation stays offline" "$(cat "$TMP/vatt.err")"
	st=$(head -1 "$TMP/vatt.json" | jq -r '.payload' | base64 -d 2>/dev/null)
	[[ $(jq -r '.predicateType' <<<"$st") == https://slsa.dev/provenance/v1 &&
		$(jq -r '.subject[0].digest.sha256' <<<"$st") == "${da#sha256:}" &&
		$(jq -r '.predicate.runDetails.builder.id' <<<"$st") == https://ci.example.com/trainer ]] &&
		ok "cosign reports the provenance statement about model a" ||
		bad "cosign's verified statement" "$(head -c 600 "$TMP/vatt.json")"
else
	bad "cosign verify-attestation accepts cairn's provenance" "$(tail -5 "$TMP/vatt.err")"
fi
refuse "cosign verify-attestation --key cosign.pub refuses cairn's provenance" nonzero "$badsig|no matching attestations" cosign_verify_att cosign.pub "$A"
from=$("$CAIRN" inspect --json --key cairn.pub "$REG/e2e/a:v1" 2>&1 | jq -r '.lineage.builtFrom[] | "\(.reference) \(.signedBy)"')
[[ $from == "$REG/e2e/b@$db cairn.pub" ]] && ok "cairn inspect: model a was built from model b (signed by cairn.pub)" || bad "lineage of model a" "$from"
into=$("$CAIRN" inspect --json "$REG/e2e/b:v1" 2>&1 | jq -r '.lineage.builtInto[].reference')
[[ $into == "$REG/e2e/a@$da" ]] && ok "cairn inspect: model b was built into model a" || bad "lineage of model b" "$into"

# (e) Through a registry that enforces a policy (cairn serve --policy, with
# --auth): the gate guards content, not names. A user who may push (here
# the admin) signs and attests by tag with cairn and cosign through it;
# signed versions pull verified; for a user who may only read, an unsigned
# version's manifest and own blobs are refused, while a blob it shares with
# a signed version stays readable.
PORT2=$((10000 + RANDOM % 22000))
while [[ $PORT2 == "$PORT" ]] || (exec 3<>"/dev/tcp/127.0.0.1/$PORT2") 2>/dev/null; do PORT2=$((10000 + RANDOM % 22000)); done
REG2=127.0.0.1:$PORT2
printf 'version: 1\nrules:\n  - match: "%s/gated/*"\n    signers:\n      - key: cairn.pub\n      - key: cosign.pub\n  - match: "**"\n    reject: "not an approved repository"\n' "$REG2" >gate-policy.yaml
GATE_ADMIN=gate-admin-pass READER_PASS=gate-reader-pass
CAIRN_ADMIN_PASSWORD=$GATE_ADMIN "$CAIRN" serve --addr "$REG2" --data "$TMP/data2" --auth --policy gate-policy.yaml >"$TMP/server2.log" 2>&1 &
SERVER2_PID=$!
trap 'kill $SERVER2_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [[ $(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://$REG2/v2/") == 401 ]] && break; sleep 0.2; done
printf '%s\n' "$GATE_ADMIN" | "$CAIRN" login "$REG2" -u admin --password-stdin >/dev/null 2>&1 || bad "cairn login to the gated registry" "$(tail -3 "$TMP/server2.log")"
printf '%s\n' "$READER_PASS" | "$CAIRN" user add reader --password-stdin --registry "$REG2" >/dev/null 2>&1 &&
	"$CAIRN" access grant reader 'gated/*' read --registry "$REG2" >/dev/null 2>&1 || bad "a read-only user on the gated registry" "cairn user add / access grant failed"
mkdir -p a2 && cp a/* a2/ && echo "an unsigned extra" >a2/NOTES.txt
for p in "a gated/m:v1" "a2 gated/m:v2" "b gated/b:v1"; do
	set -- $p
	"$CAIRN" push "$1" "$REG2/$2" >/dev/null 2>"$TMP/push-g.err" || bad "cairn push $1 to the gated registry" "$(cat "$TMP/push-g.err")"
done
check "gate: cairn sign by tag" "$CAIRN" sign "$REG2/gated/m:v1" --key cairn.key
check "gate: cairn attest by tag" "$CAIRN" attest "$REG2/gated/m:v1" --key cairn.key --predicate prov.json
if cosign sign --key cosign.key --signing-config sc.json --trusted-root tr.json --allow-http-registry --yes "$REG2/gated/b:v1" >"$TMP/sg.out" 2>&1; then
	ok "gate: cosign sign by tag"
else
	bad "gate: cosign sign by tag" "$(tail -5 "$TMP/sg.out")"
fi
check "gate: cosign verify of its signature through the gate" cosign_verify cosign.pub "$REG2/gated/b:v1"
# The rest as the read-only user, with a credential store of its own.
export DOCKER_CONFIG=$TMP/reader-docker
printf '%s\n' "$READER_PASS" | "$CAIRN" login "$REG2" -u reader --password-stdin >/dev/null 2>&1 || bad "cairn login as reader" "failed"
check "gate: verified pull of the version cairn signed, as a reader" "$CAIRN" pull "$REG2/gated/m:v1" "$TMP/pulled-g1" --key cairn.pub
check "gate: verified pull of the version cosign signed, as a reader" "$CAIRN" pull "$REG2/gated/b:v1" "$TMP/pulled-g2" --key cosign.pub
check "gate: the reader resolves the unsigned v2 by tag (HEAD)" oras resolve --plain-http -u reader -p "$READER_PASS" "$REG2/gated/m:v2"
refuse "gate: the reader's GET of the unsigned v2's manifest is refused with the reason" nonzero "403|denied.*no signature" oras manifest fetch --plain-http -u reader -p "$READER_PASS" "$REG2/gated/m:v2"
# NOTES.txt is v2's own layer; model.safetensors it shares with v1 (the
# same bytes, so the same digest).
own=sha256:$(sha256sum a2/NOTES.txt | cut -d' ' -f1)
shared=sha256:$(sha256sum a/model.safetensors | cut -d' ' -f1)
refuse "gate: the reader's GET of a blob only the unsigned v2 has is refused with the reason" nonzero "no signature" oras blob fetch --plain-http -u reader -p "$READER_PASS" --output "$TMP/own.blob" "$REG2/gated/m@$own"
check "gate: a blob v2 shares with the signed v1 stays readable" oras blob fetch --plain-http -u reader -p "$READER_PASS" --output "$TMP/shared.blob" "$REG2/gated/m@$shared"
refuse "gate: cairn pull of the unsigned v2 as a reader: exit 1 with the registry's reason" 1 "no signature" "$CAIRN" pull "$REG2/gated/m:v2" "$TMP/pulled-g3"
export DOCKER_CONFIG=$TMP/home/.docker

# (f) Promotion across a registry of another make (issue 17, acceptance
# point 1): cairn copy of model a (cairn's signature and SLSA provenance)
# from cairn to distribution and back to cairn, each hop through the
# policy gate; at the end cosign and cairn verify --policy accept the
# signature and the provenance, and the files pull byte-identical. Needs
# the distribution registry: $REGISTRY or `registry` on PATH (GOBIN=.tools/bin
# go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2).
DIST_BIN=${REGISTRY:-$(command -v registry || true)}
if [[ -z $DIST_BIN ]]; then
	printf 'skip - promotion through distribution: no distribution registry (set REGISTRY)\n'
else
	PORT3=$((10000 + RANDOM % 22000))
	while [[ $PORT3 == "$PORT" || $PORT3 == "$PORT2" ]] || (exec 3<>"/dev/tcp/127.0.0.1/$PORT3") 2>/dev/null; do PORT3=$((10000 + RANDOM % 22000)); done
	DIST=127.0.0.1:$PORT3
	printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$TMP/dist" "$DIST" >dist.yml
	"$DIST_BIN" serve dist.yml >"$TMP/dist.log" 2>&1 &
	DIST_PID=$!
	trap 'kill $DIST_PID $SERVER2_PID 2>/dev/null; cleanup' EXIT
	for _ in $(seq 100); do curl -fsS --noproxy '*' -o /dev/null "http://$DIST/v2/" 2>/dev/null && break; sleep 0.2; done
	printf 'version: 1\nrules:\n  - match: "**"\n    signers:\n      - key: cairn.pub\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n' >promote-policy.yaml
	check "promote: cairn copy cairn -> distribution --policy" "$CAIRN" copy "$REG/e2e/a:v1" "$DIST/mirror/a:v1" --policy promote-policy.yaml
	check "promote: cairn copy distribution -> cairn --policy" "$CAIRN" copy "$DIST/mirror/a:v1" "$REG/prod/a:v1" --policy promote-policy.yaml
	check "promote: cosign verify --key cairn.pub at the end" cosign_verify cairn.pub "$REG/prod/a@$da"
	check "promote: cosign verify-attestation of the provenance at the end" cosign_verify_att cairn.pub "$REG/prod/a@$da"
	check "promote: cairn verify --policy at the end" "$CAIRN" verify "$REG/prod/a:v1" --policy promote-policy.yaml
	if "$CAIRN" pull "$REG/prod/a:v1" "$TMP/promoted" --policy promote-policy.yaml >/dev/null 2>"$TMP/promoted.err" &&
		cmp -s a/model.safetensors "$TMP/promoted/model.safetensors" && cmp -s a/config.json "$TMP/promoted/config.json"; then
		ok "promote: the files pull byte-identical at the end"
	else
		bad "promote: the files pull byte-identical at the end" "$(tail -3 "$TMP/promoted.err")"
	fi
	refuse "promote: cairn copy of unsigned-by-cairn model b is refused: exit 1" 1 "signature" "$CAIRN" copy "$REG/e2e/b:v1" "$DIST/mirror/b:v1" --policy promote-policy.yaml
	refuse "promote: and distribution has no mirror/b" nonzero "404|not found|NAME_UNKNOWN|MANIFEST_UNKNOWN" oras resolve --plain-http "$DIST/mirror/b:v1"
fi

printf '\ne2e-cosign: %d passed, %d failed\n' "$pass" "$fail"
[[ $fail == 0 ]]
