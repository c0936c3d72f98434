#!/usr/bin/env bash
# End-to-end test of authentication (issue 6, acceptance points 1, 3 and 4)
# with real clients against `cairn serve --auth` on loopback: anonymous
# requests are challenged; cairn login, oras login / -u -p, crane auth
# login, skopeo --src-creds/--dest-creds and cosign (with the credential
# cairn login stored) work through the token flow; a pull-only API token for
# team-a/* pulls team-a, cannot pull team-b and cannot push; repeated wrong
# passwords are answered 429; the OCI conformance suite passes through the
# token flow; with --tls-cert/--tls-key the realm is https.
#
#   CAIRN=/path/to/cairn scripts/e2e-auth.sh
#
# Needs oras, crane, skopeo, cosign (v3), curl, jq, openssl and the
# distribution-spec conformance binary (on PATH or CONFORMANCE=...).
# Prints "ok   - <check>" or "FAIL - <check>: <why>" per check; exits 1 if
# any failed, 2 if the set-up failed.
set -uo pipefail

die() { printf 'e2e-auth: %s\n' "$*" >&2; exit 2; }
for tool in oras crane skopeo cosign curl jq; do
	command -v "$tool" >/dev/null || die "missing tool on PATH: $tool"
done
[[ -x ${CAIRN:-} ]] || die "set CAIRN to the cairn binary"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-e2e-auth.XXXXXX")
SERVER_PID=
cleanup() {
	[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	if [[ ${E2E_KEEP:-} == 1 ]]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
# Clients read and write only the scratch configuration.
export HOME=$TMP/home DOCKER_CONFIG=$TMP/home/.docker CAIRN_CACHE=$TMP/cache TUF_ROOT=$TMP/home/.sigstore
export XDG_RUNTIME_DIR=$TMP/home/run XDG_CONFIG_HOME=$TMP/home/.config REGISTRY_AUTH_FILE=$TMP/home/.docker/config.json
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$DOCKER_CONFIG"
# Offline: anything not on loopback goes to a proxy that is not there.
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY='' https_proxy='' http_proxy='' no_proxy=''

ADMIN_PASS=e2e-admin-password
ALICE_PASS=e2e-alice-password
# A port below the ephemeral range (32768 up), so that no outgoing
# connection holds it, and one nothing listens on.
PORT=$((10000 + RANDOM % 22000))
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((10000 + RANDOM % 22000)); done
REG=127.0.0.1:$PORT
BASE=http://$REG
CAIRN_ADMIN_PASSWORD=$ADMIN_PASS "$CAIRN" serve --addr "$REG" --data "$TMP/data" --auth >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	[[ $(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$BASE/v2/") == 401 ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; die "server exited"; }
	sleep 0.2
done
[[ $(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$BASE/v2/") == 401 ]] || { tail -20 "$TMP/server.log" >&2; die "server did not answer 401 on /v2/"; }

pass=0 fail=0
ok() { printf 'ok   - %s\n' "$1"; pass=$((pass + 1)); }
bad() { printf 'FAIL - %s: %s\n' "$1" "$2"; fail=$((fail + 1)); }
# check NAME CMD...: ok when CMD succeeds.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(tail -5 <<<"$out")"; fi
}
# refuse NAME WHY CMD...: ok when CMD fails and its output matches the
# extended regexp WHY (so that it failed for that reason).
refuse() {
	local name=$1 why=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		bad "$name" "succeeded: $(tail -3 <<<"$out")"
	elif grep -qiE -- "$why" <<<"$out"; then
		ok "$name"
	else
		bad "$name" "failed for another reason: $(tail -5 <<<"$out")"
	fi
}
cl() { curl -s --noproxy '*' "$@"; }

cd "$TMP" || die "cd $TMP"
echo "weights of team a" >a.bin
echo "weights of team b" >b.bin
# A valid safetensors file (the agent scans what it verifies: random bytes
# named like a weight are not proved safe): a one-tensor header padded to 8
# bytes, over random data.
mkdir -p model && echo '{}' >model/config.json
hdr='{"w":{"dtype":"U8","shape":[50000],"data_offsets":[0,50000]}}'
while ((${#hdr} % 8)); do hdr+=" "; done
for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((${#hdr} >> (8 * i)) & 255)))"; done >model/model.safetensors
printf '%s' "$hdr" >>model/model.safetensors
head -c 50000 /dev/urandom >>model/model.safetensors

# ---------------------------------------------------------------- 1. anonymous
hdr=$(cl -D - -o /dev/null "$BASE/v2/team-a/model/manifests/v1" | tr -d '\r')
if grep -q '^HTTP/1.1 401' <<<"$hdr" &&
	grep -qi "^www-authenticate: Bearer realm=\"$BASE/token\",service=\"$REG\",scope=\"repository:team-a/model:pull\"" <<<"$hdr"; then
	ok "anonymous pull: 401 with a Bearer challenge for repository:team-a/model:pull"
else
	bad "anonymous pull challenge" "$hdr"
fi
code=$(cl -o /dev/null -w '%{http_code}' "$BASE/v2/_catalog")
[[ $code == 401 ]] && ok "anonymous catalog: 401" || bad "anonymous catalog" "HTTP $code"
code=$(cl -o /dev/null -w '%{http_code}' -X POST "$BASE/v2/team-a/model/blobs/uploads/")
[[ $code == 401 ]] && ok "anonymous upload: 401" || bad "anonymous upload" "HTTP $code"
refuse "anonymous oras push is refused" "401|unauthorized" oras push --plain-http "$REG/team-a/model:v1" a.bin
for h in X-Content-Type-Options Content-Security-Policy Referrer-Policy; do
	grep -qi "^$h:" <<<"$hdr" && ok "security header $h" || bad "security header $h" "$hdr"
done

# ---------------------------------------------------------------- 2. admin, users, grants
check "oras login -u admin -p" oras login --plain-http -u admin -p "$ADMIN_PASS" "$REG"
check "oras push team-a/model:v1 as admin" oras push --plain-http "$REG/team-a/model:v1" a.bin
check "oras push team-b/model:v1 as admin" oras push --plain-http "$REG/team-b/model:v1" b.bin
check "cairn login -u admin --password-stdin" bash -c 'printf "%s\n" "$1" | "$2" login "$3" -u admin --password-stdin' _ "$ADMIN_PASS" "$CAIRN" "$REG"
check "cairn user add alice" bash -c 'printf "%s\n" "$1" | "$2" user add alice --password-stdin --registry "$3"' _ "$ALICE_PASS" "$CAIRN" "$REG"
check "cairn access grant alice team-a/* write" "$CAIRN" access grant alice 'team-a/*' write --registry "$REG"
out=$("$CAIRN" access list alice --registry "$REG" 2>&1)
grep -q 'team-a/\*  write' <<<"$out" && ok "cairn access list alice" || bad "cairn access list alice" "$out"

# ---------------------------------------------------------------- 3. a pull-only token for team-a/*
check "cairn login as alice" bash -c 'printf "%s\n" "$1" | "$2" login "$3" -u alice --password-stdin' _ "$ALICE_PASS" "$CAIRN" "$REG"
TOKEN=$("$CAIRN" token create --registry "$REG" --scope 'repository:team-a/*:pull' --expires 1h --name e2e 2>"$TMP/token.err" | tail -1)
[[ $TOKEN == cairn_* ]] && ok "cairn token create prints the token on its last line" || bad "cairn token create" "$TOKEN $(cat "$TMP/token.err")"
rm -rf pulled && check "oras pull -u ci -p TOKEN team-a/model:v1" oras pull --plain-http -u ci -p "$TOKEN" -o pulled "$REG/team-a/model:v1"
cmp -s pulled/a.bin a.bin && ok "the token pulled team-a's bytes" || bad "pulled bytes" "$(ls pulled 2>&1)"
refuse "the token cannot pull team-b/model:v1" "403|denied|unauthorized" oras pull --plain-http -u ci -p "$TOKEN" -o pulled-b "$REG/team-b/model:v1"
refuse "the token cannot push to team-a (pull-only)" "403|denied|unauthorized" oras push --plain-http -u ci -p "$TOKEN" "$REG/team-a/model:v2" a.bin
refuse "alice cannot pull team-b (no grant)" "403|denied" oras pull --plain-http -u alice -p "$ALICE_PASS" -o pulled-b "$REG/team-b/model:v1"
bearer=$(cl -u "ci:$TOKEN" "$BASE/token?service=$REG&scope=registry:catalog:*&scope=repository:team-a/model:pull,push" | jq -r .token)
scope=$(cl -u "ci:$TOKEN" "$BASE/token?service=$REG&scope=repository:team-a/model:pull,push,delete" | jq -r .scope)
[[ $scope == "repository:team-a/model:pull" ]] && ok "the token endpoint grants the token only pull" || bad "granted scope" "$scope"
code=$(cl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $bearer" "$BASE/v2/_catalog")
[[ $code == 403 ]] && ok "the token has no catalog scope: 403" || bad "token catalog" "HTTP $code"
alice_bearer=$(cl -u "alice:$ALICE_PASS" "$BASE/token?service=$REG&scope=registry:catalog:*" | jq -r .token)
cat=$(cl -H "Authorization: Bearer $alice_bearer" "$BASE/v2/_catalog" | jq -c .repositories)
[[ $cat == '["team-a/model"]' ]] && ok "alice's catalog lists only team-a/model" || bad "alice's catalog" "$cat"

# cairn push and pull with the stored credential (alice may write team-a).
check "cairn push with cairn login's credential" "$CAIRN" push model "$REG/team-a/cairn:v1"
rm -rf cpulled && check "cairn pull with cairn login's credential" "$CAIRN" pull "$REG/team-a/cairn:v1" cpulled
hist=$(cl -u "alice:$ALICE_PASS" "$BASE/v2/team-a/cairn/_cairn/history" | jq -r '.[0].by')
[[ $hist == alice ]] && ok "tag history names alice as the pusher" || bad "tag history principal" "$hist"

# ---------------------------------------------------------------- crane
check "crane auth login -u alice -p" crane auth login "$REG" -u alice -p "$ALICE_PASS"
tar -cf layer.tar a.bin
check "crane append (push) team-a/crane:v1" crane append --insecure --oci-empty-base -f layer.tar -t "$REG/team-a/crane:v1"
check "crane pull team-a/crane:v1" crane pull --insecure "$REG/team-a/crane:v1" crane.tar
dig=$(crane digest --insecure "$REG/team-a/crane:v1" 2>&1)
[[ $dig == sha256:* ]] && ok "crane digest ($dig)" || bad "crane digest" "$dig"
refuse "crane cannot pull team-b as alice" "403|denied|unauthorized" crane manifest --insecure "$REG/team-b/model:v1"

# ---------------------------------------------------------------- skopeo
check "skopeo copy --src-creds --dest-creds team-a/crane -> team-a/skopeo" \
	skopeo copy --src-tls-verify=false --dest-tls-verify=false --src-creds "alice:$ALICE_PASS" --dest-creds "alice:$ALICE_PASS" \
	"docker://$REG/team-a/crane:v1" "docker://$REG/team-a/skopeo:v1"
check "skopeo inspect --creds team-a/skopeo:v1" skopeo inspect --tls-verify=false --creds "alice:$ALICE_PASS" "docker://$REG/team-a/skopeo:v1"
refuse "skopeo copy to team-b is refused for alice" "403|denied|unauthorized" \
	skopeo copy --src-tls-verify=false --dest-tls-verify=false --src-creds "alice:$ALICE_PASS" --dest-creds "alice:$ALICE_PASS" \
	"docker://$REG/team-a/crane:v1" "docker://$REG/team-b/skopeo:v1"
refuse "skopeo with a wrong password" "401|unauthorized|authentication" \
	skopeo inspect --tls-verify=false --creds "alice:not-her-password" "docker://$REG/team-a/skopeo:v1"

# ---------------------------------------------------------------- cosign (cairn login's credential)
check "cairn login as alice again (for cosign)" bash -c 'printf "%s\n" "$1" | "$2" login "$3" -u alice --password-stdin' _ "$ALICE_PASS" "$CAIRN" "$REG"
export COSIGN_PASSWORD=e2e-cosign
cosign generate-key-pair --output-key-prefix cosign >/dev/null 2>&1 || die "cosign generate-key-pair"
cosign signing-config create --out sc.json >/dev/null 2>&1 || die "cosign signing-config create"
cosign trusted-root create --out tr.json >/dev/null 2>&1 || die "cosign trusted-root create"
# Sign the model cairn pushed (cairn verify checks a model's files).
mdig=$(crane digest --insecure "$REG/team-a/cairn:v1" 2>&1)
IMG=$REG/team-a/cairn@$mdig
check "cosign sign --key with cairn login's credential" cosign sign --key cosign.key --signing-config sc.json --trusted-root tr.json --allow-http-registry --yes "$IMG"
check "cosign verify --key with cairn login's credential" cosign verify --key cosign.pub --insecure-ignore-tlog=true --use-signed-timestamps=false --allow-http-registry "$IMG"
check "cairn verify --key cosign.pub through auth" "$CAIRN" verify "$IMG" --key cosign.pub

# ---------------------------------------------------------------- 4. throttling
codes=""
for _ in $(seq 15); do
	codes+="$(cl -o /dev/null -w '%{http_code}' -u "alice:wrong-password" "$BASE/token?service=$REG") "
done
retry=$(cl -D - -o /dev/null -u "alice:wrong-password" "$BASE/token?service=$REG" | tr -d '\r' | awk -F': ' 'tolower($1)=="retry-after"{print $2}')
# alice has a budget of 10 failures (one went to the skopeo check above).
n401=$(grep -o 401 <<<"$codes" | wc -l)
if [[ $codes =~ ^(401\ )+(429\ )+$ && $n401 -le 10 && $retry =~ ^[0-9]+$ ]]; then
	ok "wrong passwords: $n401 answered 401, then 429 with Retry-After $retry"
else
	bad "throttled logins" "codes: $codes Retry-After: '$retry'"
fi
code=$(cl -o /dev/null -w '%{http_code}' -u "alice:$ALICE_PASS" "$BASE/token?service=$REG")
[[ $code == 429 ]] && ok "the right password is refused while throttled" || bad "right password while throttled" "HTTP $code"
sleep "$((retry + 1))"
code=$(cl -o /dev/null -w '%{http_code}' -u "alice:$ALICE_PASS" "$BASE/token?service=$REG")
[[ $code == 200 ]] && ok "the right password works after the window" || bad "right password after the window" "HTTP $code"
grep -q 'login failed' "$TMP/server.log" && grep -q 'login throttled' "$TMP/server.log" && ok "failed and throttled logins are logged" ||
	bad "logged" "$(grep -c login "$TMP/server.log") login lines"

# ---------------------------------------------------------------- revocation
check "cairn login as alice (token list)" bash -c 'printf "%s\n" "$1" | "$2" login "$3" -u alice --password-stdin' _ "$ALICE_PASS" "$CAIRN" "$REG"
id=$("$CAIRN" token list --json --registry "$REG" | jq -r '.[0].id')
check "cairn token revoke" "$CAIRN" token revoke "$id" --registry "$REG"
refuse "a revoked token cannot pull" "401|unauthorized" oras pull --plain-http -u ci -p "$TOKEN" -o pulled-r "$REG/team-a/model:v1"

# ---------------------------------------------------------------- OCI conformance with auth on
# The distribution-spec suite, every workflow on, logging in through the
# token flow as admin: nothing may fail; only the anonymous mount (never
# done with auth on: it could copy a blob out of any repository; the spec
# lets a registry answer it with a plain upload) may be skipped.
CONF=${CONFORMANCE:-$(command -v conformance || true)}
if [[ -n $CONF && -x $CONF ]]; then
	mkdir -p "$TMP/conformance"
	(cd "$TMP/conformance" && env OCI_REGISTRY="$REG" OCI_TLS=disabled OCI_USERNAME=admin OCI_PASSWORD="$ADMIN_PASS" \
		OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
		OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
		OCI_API_TAGS_DELETE=true OCI_API_MANIFESTS_DELETE=true OCI_API_BLOBS_DELETE=true \
		OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_MANIFESTS_TAG_PARAM=true \
		OCI_RESULTS_DIR="$TMP/conformance" "$CONF") >"$TMP/conformance.out" 2>&1
	summary=$(grep -o 'tests="[0-9]*" failures="[0-9]*" errors="[0-9]*" skipped="[0-9]*"' "$TMP/conformance/junit.xml" 2>/dev/null | head -1)
	skips=$(grep ': Skip' "$TMP/conformance.out" | grep -vc 'mount anonymous/blob-mount-anonymous')
	if [[ $summary =~ failures=\"0\"\ errors=\"0\" && $skips == 0 ]]; then
		ok "OCI conformance with auth on, as admin through the token flow ($summary; skipped: the anonymous mount only)"
	else
		bad "OCI conformance with auth on" "$summary; $(grep -E ': (Fail|Skip)' "$TMP/conformance.out" | head -10)"
	fi
else
	bad "OCI conformance with auth on" "no conformance binary (set CONFORMANCE or put it on PATH)"
fi

# ---------------------------------------------------------------- TLS
# A second server with --tls-cert/--tls-key (auth is on by --auth): the
# realm is https, HSTS is sent, and oras logs in and pushes over TLS.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout tls.key -out tls.crt >/dev/null 2>&1 || die "openssl req"
	TPORT=$((PORT + 1))
	TREG=127.0.0.1:$TPORT
	CAIRN_ADMIN_PASSWORD=$ADMIN_PASS "$CAIRN" serve --addr "$TREG" --data "$TMP/data-tls" --auth --tls-cert tls.crt --tls-key tls.key >"$TMP/server-tls.log" 2>&1 &
	TLS_PID=$!
	for _ in $(seq 100); do
		[[ $(cl --cacert tls.crt -o /dev/null -w '%{http_code}' "https://$TREG/v2/") == 401 ]] && break
		sleep 0.2
	done
	thdr=$(cl --cacert tls.crt -D - -o /dev/null "https://$TREG/v2/team-a/model/manifests/v1" | tr -d '\r')
	grep -qi "^www-authenticate: Bearer realm=\"https://$TREG/token\"" <<<"$thdr" && ok "over TLS the realm is https://$TREG/token" || bad "TLS realm" "$thdr"
	grep -qi '^strict-transport-security: max-age=' <<<"$thdr" && ok "over TLS, HSTS is sent" || bad "HSTS" "$thdr"
	check "oras login over TLS" oras login --ca-file tls.crt -u admin -p "$ADMIN_PASS" "$TREG"
	check "oras push over TLS with auth" oras push --ca-file tls.crt "$TREG/team-a/tls:v1" a.bin
	rm -rf tpulled && check "oras pull over TLS with auth" oras pull --ca-file tls.crt -o tpulled "$TREG/team-a/tls:v1"
	code=$(cl --cacert tls.crt -o /dev/null -w '%{http_code}' "https://$TREG/v2/team-a/tls/tags/list")
	[[ $code == 401 ]] && ok "anonymous over TLS: 401" || bad "anonymous over TLS" "HTTP $code"
	kill "$TLS_PID" 2>/dev/null
	wait "$TLS_PID" 2>/dev/null
else
	bad "TLS checks" "openssl is not installed"
fi

printf '\ne2e-auth: %d passed, %d failed\n' "$pass" "$fail"
[[ $fail == 0 ]]
