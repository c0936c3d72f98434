#!/usr/bin/env bash
# Starts and stops the servers the scale-out tests need: a MinIO (S3) server
# and a private PostgreSQL cluster, both on loopback ports of their own, with
# all their data in one directory.
#
#   scripts/services.sh start        start both (stopping any left from before)
#   scripts/services.sh start-pg     start PostgreSQL only
#   scripts/services.sh start-minio  start MinIO only (PostgreSQL keeps running)
#   scripts/services.sh env          print the export lines for the tests
#   scripts/services.sh stop         stop both and remove their data
#
#   eval "$(scripts/services.sh env)"
#
# exports CAIRN_TEST_POSTGRES (a postgres:// URL of an empty database
# cairn_test), CAIRN_TEST_S3 (s3://cairn-test?endpoint=...&region=us-east-1,
# a bucket that exists), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and
# CAIRN_TEST_PG_ADMIN (a URL of the postgres database, for creating more
# databases). Only what was started is exported.
#
# Environment:
#   SERVICES_DIR  where data, logs and the state file live
#                 (default ${TMPDIR:-/tmp}/cairn-services-$UID)
#   MINIO         the minio binary (default: minio on PATH, else .tools/bin/minio)
#
# PostgreSQL comes from Debian's postgresql package (initdb and pg_ctl from
# /usr/lib/postgresql/*/bin when they are not on PATH). Run as root, the
# cluster runs as the postgres user, as PostgreSQL requires.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${SERVICES_DIR:-${TMPDIR:-/tmp}/cairn-services-$(id -u)}
state=$dir/state

die() { echo "services.sh: $*" >&2; exit 2; }

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

pg_bin() {
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(command -v pg_ctl)"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$d" ] && [ -x "$d/initdb" ] || die "initdb not found (apt-get install postgresql)"
	echo "$d"
}

# as_pg runs a command as the cluster's owner: postgres when we are root.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_pg() {
	local bin port
	bin=$(pg_bin)
	port=$(free_port)
	mkdir -p "$dir/pg" "$dir/pgsock"
	chmod 755 "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir/pg" "$dir/pgsock"
	fi
	as_pg "$bin/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/pg/initdb.log" 2>&1 ||
		{ cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
	# fsync off: test data need not survive a power cut, and it is faster.
	as_pg "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
		-o "-p $port -k $dir/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null ||
		{ cat "$dir/pg/server.log" >&2; die "pg_ctl start failed"; }
	psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE cairn_test" >/dev/null
	{
		echo "PG_BIN=$bin"
		echo "PG_PORT=$port"
	} >>"$state"
	echo "postgres on 127.0.0.1:$port"
}

minio_bin() {
	if [ -n "${MINIO:-}" ]; then
		echo "$MINIO"
	elif command -v minio >/dev/null; then
		command -v minio
	elif [ -x "$root/.tools/bin/minio" ]; then
		echo "$root/.tools/bin/minio"
	else
		die "minio not found (GOBIN=$root/.tools/bin go install github.com/minio/minio@latest)"
	fi
}

start_minio() {
	local bin port user pass
	bin=$(minio_bin)
	port=$(free_port)
	user=cairntest
	pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -p "$dir/minio/data"
	MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off MINIO_UPDATE=off \
		nohup "$bin" server --quiet --address "127.0.0.1:$port" "$dir/minio/data" >"$dir/minio/server.log" 2>&1 &
	echo "MINIO_PID=$!" >>"$state"
	for _ in $(seq 150); do
		curl -fsS "http://127.0.0.1:$port/minio/health/live" >/dev/null 2>&1 && break
		sleep 0.2
	done
	curl -fsS "http://127.0.0.1:$port/minio/health/live" >/dev/null || { cat "$dir/minio/server.log" >&2; die "minio did not start"; }
	# The bucket, made with a signed request (curl signs S3 requests itself).
	curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user:$pass" "http://127.0.0.1:$port/cairn-test" >/dev/null ||
		die "could not create the bucket"
	{
		echo "MINIO_PORT=$port"
		echo "MINIO_USER=$user"
		echo "MINIO_PASS=$pass"
	} >>"$state"
	echo "minio on 127.0.0.1:$port"
}

stop_all() {
	[ -f "$state" ] || { rm -rf "$dir"; return 0; }
	# shellcheck disable=SC1090
	. "$state"
	if [ -n "${MINIO_PID:-}" ] && kill -0 "$MINIO_PID" 2>/dev/null; then
		kill "$MINIO_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$MINIO_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$MINIO_PID" 2>/dev/null || true
	fi
	if [ -n "${PG_PORT:-}" ] && [ -d "$dir/pg/data" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

print_env() {
	[ -f "$state" ] || die "not started (scripts/services.sh start)"
	# shellcheck disable=SC1090
	. "$state"
	if [ -n "${PG_PORT:-}" ]; then
		echo "export CAIRN_TEST_POSTGRES='postgres://postgres@127.0.0.1:$PG_PORT/cairn_test?sslmode=disable'"
		echo "export CAIRN_TEST_PG_ADMIN='postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable'"
	fi
	if [ -n "${MINIO_PORT:-}" ]; then
		echo "export CAIRN_TEST_S3='s3://cairn-test?endpoint=http://127.0.0.1:$MINIO_PORT&region=us-east-1'"
		echo "export AWS_ACCESS_KEY_ID='$MINIO_USER'"
		echo "export AWS_SECRET_ACCESS_KEY='$MINIO_PASS'"
	fi
}

case "${1:-}" in
start)
	stop_all
	mkdir -p "$dir"
	: >"$state"
	start_pg
	start_minio
	;;
start-pg)
	stop_all
	mkdir -p "$dir"
	: >"$state"
	start_pg
	;;
start-minio)
	[ -f "$state" ] || { mkdir -p "$dir"; : >"$state"; }
	start_minio
	;;
env) print_env ;;
stop) stop_all ;;
*) die "usage: services.sh start|start-pg|start-minio|env|stop" ;;
esac
