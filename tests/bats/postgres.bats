#!/usr/bin/env bats
# A real service run as its own user: PostgreSQL from Debian (issue 28). A
# private cluster (initdb as the postgres user, a Unix socket in a
# directory of its own, no TCP at all), pgbench's tables and a pgbench load;
# a backend, run by the postgres user, is dumped with livecore.sh's default
# tracker while the load runs. gdb reads the core with Debian's stripped
# binary (postgres exports its symbols for extensions): the backtrace shows
# PostgresMain, MyProcPid is the backend's pid, and a marker the test
# wrote into a table, read by that backend, is in the core inside the
# shared memory segment (shared_buffers), at the address where the live
# process held it. Nothing of the dump is left in the backend.
bats_require_minimum_version 1.8.0

setup_file() {
	PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	export PG_BIN
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && id postgres >/dev/null 2>&1 || return 0
	[ "$(id -u)" = 0 ] || return 0
	export PG_DIR="$BATS_FILE_TMPDIR/pg"
	export PG_SOCK="$PG_DIR/sock" PG_PORT=5432
	mkdir -p "$PG_SOCK"
	chown -R postgres: "$PG_DIR"
	chmod 0700 "$PG_DIR"
	# the postgres user must reach its directory
	p=$BATS_FILE_TMPDIR
	while [ "$p" != / ]; do
		chmod o+x "$p"
		p=$(dirname "$p")
	done
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || {
		cat "$PG_DIR/initdb.log" >&3
		return 1
	}
	# listen_addresses '': a Unix socket in PG_SOCK only, so that the port
	# only names the socket file and collides with nothing
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-c listen_addresses='' -k $PG_SOCK -p $PG_PORT -c shared_buffers=256MB -c fsync=off" \
		start >"$PG_DIR/pg_ctl.log" 2>&1 3>&- || {
		cat "$PG_DIR/pg_ctl.log" "$PG_DIR/server.log" >&3
		return 1
	}
	pg_sql -c 'select 1' >/dev/null
	runuser -u postgres -- "$PG_BIN/pgbench" -h "$PG_SOCK" -p "$PG_PORT" -i -s 2 -q postgres \
		>"$PG_DIR/pgbench-init.log" 2>&1
}

teardown_file() {
	if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop \
			>/dev/null 2>&1
		rm -rf "$PG_DIR"
	fi
	return 0
}

# pg_sql ARGS... - psql as postgres on the private cluster
pg_sql() {
	runuser -u postgres -- "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -X -At -v ON_ERROR_STOP=1 postgres "$@"
}

setup() {
	load helpers
	lc_require_root
	[ -n "${PG_DIR:-}" ] || skip "needs: postgresql (Debian's package: initdb, pg_ctl, pgbench)"
	command -v gdb >/dev/null || skip "needs: gdb"
	D=$BATS_TEST_TMPDIR
	chmod o+x "$D"
	BG=()
}

teardown() {
	local p

	[ -n "${SQL_FD:-}" ] && exec {SQL_FD}>&-
	for p in "${BG[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

# session_start - a psql session that stays connected, fed through a FIFO
# (SQL_FD), its output in $D/session.out; sets BACKEND, its server process
session_start() {
	local i

	mkfifo "$D/session.in"
	chmod 0666 "$D/session.in"
	pg_sql <"$D/session.in" >"$D/session.out" 2>&1 3>&- &
	BG+=("$!")
	exec {SQL_FD}>"$D/session.in"
	echo 'select pg_backend_pid();' >&"$SQL_FD"
	for ((i = 0; i < 1000; i++)); do
		BACKEND=$(head -n 1 "$D/session.out")
		[[ $BACKEND =~ ^[0-9]+$ ]] && return 0
		sleep 0.01
	done
	echo "session_start: no backend pid: $(cat "$D/session.out")" >&2
	return 1
}

# session_sql SQL EXPECT - runs SQL in the session, waits for EXPECT in its output
session_sql() {
	local i

	echo "$1" >&"$SQL_FD"
	for ((i = 0; i < 1000; i++)); do
		grep -qF -- "$2" "$D/session.out" && return 0
		sleep 0.01
	done
	echo "session_sql: no '$2' after '$1': $(cat "$D/session.out")" >&2
	return 1
}

# marker_in_shared TEXT - the addresses (0x...) where the backend's shared
# mappings hold TEXT now
marker_in_shared() {
	local addrs range perms a

	addrs=$("$LIVECORE_BUILD/targets/lc-memfind" "$BACKEND" "$1") || return 1
	while read -r range perms _; do
		[ "${perms:3:1}" = s ] || continue
		for a in $addrs; do
			((a >= 0x${range%-*} && a < 0x${range#*-})) && echo "$a"
		done
	done <"/proc/$BACKEND/maps"
	return 0
}

@test "PostgreSQL: a backend of the postgres user dumped live with the default mode under pgbench: PostgresMain, MyProcPid, a table's marker in shared_buffers; nothing left" {
	marker="livecore-marker-$RANDOM$RANDOM-$$"
	pg_sql -c "drop table if exists lc_marker; create table lc_marker (t text); insert into lc_marker values ('$marker');"
	session_start
	[ "$(stat -c %U "/proc/$BACKEND")" = postgres ]
	# the backend reads the row: its page sits in shared_buffers, mapped in
	# the backend's shared segment
	session_sql 'select t from lc_marker;' "$marker"
	# the marker's addresses in the live backend, those in a shared mapping
	# (the table's page in shared_buffers; also the WAL buffers, which
	# the load overwrites: only addresses that hold it after the dump too
	# are asked of the core)
	before=$(marker_in_shared "$marker")
	[ -n "$before" ] || {
		echo "the marker is in no shared mapping of $BACKEND"
		false
	}
	# a load on the other backends while this one is dumped
	runuser -u postgres -- "$PG_BIN/pgbench" -h "$PG_SOCK" -p "$PG_PORT" -n -c 2 -T 6 postgres \
		>"$D/pgbench.out" 2>&1 3>&- &
	bench=$!
	BG+=("$bench")
	sleep 1
	run -0 --separate-stderr livecore.sh -w "$D" "$BACKEND" "$D/pg.core"
	lc_say "$(tail -n 1 <<<"$stderr")"
	assert_regex "$stderr" 'pre-copy passes \(uffd\)'
	# shared_buffers (256 MB: 65536 pages) is copied during the
	# pre-copy: the stop copies what the backend wrote, not the segment
	pages=$(sed -n 's/.*delta [0-9.]* ms: \([0-9]*\) pages.*/\1/p' <<<"$stderr")
	[ "$pages" -lt 8192 ]
	lc_assert_nothing_left "$BACKEND"
	# the backend answers as before, and the load ran through
	session_sql 'select 40 + 2;' 42
	wait "$bench"
	grep -q 'number of transactions actually processed' "$D/pgbench.out"
	after=$(marker_in_shared "$marker")
	stable=$(comm -12 <(tr ' ' '\n' <<<"$before" | sort) <(tr ' ' '\n' <<<"$after" | sort))
	[ -n "$stable" ] || {
		echo "the marker moved in shared memory during the dump: before $before, after $after"
		false
	}
	xs=()
	for a in $stable; do
		xs+=(-ex "x/s $a")
	done
	run -0 gdb -batch -nx -ex 'bt' -ex 'print (int)MyProcPid' "${xs[@]}" "$PG_BIN/postgres" "$D/pg.core"
	assert_output --partial PostgresMain
	assert_output --regexp "\\\$1 = $BACKEND"
	[ "$(grep -cF ":	\"$marker" <<<"$output")" = "$(wc -w <<<"$stable")" ] || {
		echo "the core does not hold the marker at every one of $stable"
		false
	}
}
