#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against a fresh
# `cairn serve`, with every workflow on (the optional ones too), and fails
# unless every check passed: 0 failed, 0 errors, 0 skipped, 0 disabled.
#
#   CAIRN=/path/to/cairn CONFORMANCE=/path/to/conformance scripts/conformance.sh
#
# SERVE_ARGS adds arguments to `cairn serve` (split at spaces, not globbed),
# e.g. the shared stores of several nodes:
#
#   SERVE_ARGS="--storage s3://BUCKET/PREFIX?endpoint=URL --metadata postgres://..." scripts/conformance.sh
#
# Results (junit.xml, report.html, stdout.txt) go to $RESULTS (default
# ./results/conformance).
set -euo pipefail

: "${CAIRN:?set CAIRN to the cairn binary}"
CONFORMANCE=${CONFORMANCE:-conformance}
RESULTS=${RESULTS:-results/conformance}
command -v "$CONFORMANCE" >/dev/null || { echo "conformance: $CONFORMANCE not found (scripts/test installs it)" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Below the ephemeral range (32768 up), and free.
port=$((10000 + RANDOM % 22000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((10000 + RANDOM % 22000)); done
read -ra serve_args <<<"${SERVE_ARGS:-}"
"$CAIRN" serve --addr "127.0.0.1:$port" --data "$tmp/data" --log-level warn "${serve_args[@]}" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { echo "conformance: server did not start" >&2; cat "$tmp/server.log" >&2; exit 2; }

mkdir -p "$RESULTS"
set +e
env OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled \
	OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
	OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
	OCI_API_TAGS_DELETE=true OCI_API_MANIFESTS_DELETE=true OCI_API_BLOBS_DELETE=true \
	OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_MANIFESTS_TAG_PARAM=true \
	OCI_RESULTS_DIR="$RESULTS" \
	"$CONFORMANCE" >"$RESULTS/stdout.txt" 2>&1
rc=$?
set -e

# The suite's own tally: "Disabled/Skip/Pass/Fail/Error ....: N".
tally() { { grep -E "^\s+$1\.+:" "$RESULTS/stdout.txt" || true; } | head -1 | awk '{print $NF}'; }
pass=$(tally Pass); fail=$(tally Fail); errs=$(tally Error); skip=$(tally Skip); dis=$(tally Disabled)
echo "conformance: ${pass:-?} passed, ${fail:-0} failed, ${errs:-0} errors, ${skip:-?} skipped, ${dis:-?} disabled (exit $rc)"
if [ "$rc" -ne 0 ] || [ "${fail:-0}" != 0 ] || [ "${errs:-0}" != 0 ] || [ "${skip:-x}" != 0 ] || [ "${dis:-x}" != 0 ] || [ "${pass:-0}" -lt 900 ]; then
	grep -E "FAIL|Error" "$RESULTS/stdout.txt" | head -40 >&2
	exit 1
fi
