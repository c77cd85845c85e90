# shellcheck shell=bash
# A PostgreSQL for the tests of the PostgreSQL store (src/storage/postgres).
# Sourced by .ci/run, whose helpers ok, fail and as_root it uses.
#
# postgres_for_tests sets and exports CLAIMDESK_TEST_DATABASE_URL:
#
# - when it is set already, it is kept;
# - otherwise, when a PostgreSQL answers on 127.0.0.1:5432 (user postgres,
#   database test, no password), that one is used;
# - otherwise a throw-away cluster is started: initdb and pg_ctl run as an
#   unprivileged user (for root, the system user claimdesk-ci, created if
#   missing; initdb and postgres refuse to run as root) in a temporary
#   directory, the server listens on 127.0.0.1 on a free port, trusts every
#   local connection and holds a database test.
#
# CLAIMDESK_CI_POSTGRES=throwaway takes the throw-away cluster in any case,
# even when the URL is set or a PostgreSQL answers on 5432; auto, the
# default, takes it only when neither is there.
#
# initdb and pg_ctl are looked for on PATH, then in Debian's
# /usr/lib/postgresql/<version>/bin (not on PATH), the newest version first.
# Without them, Debian's postgresql package is installed, without the
# cluster `main` its install would otherwise create and start on 5432.
#
# postgres_cleanup stops the throw-away cluster (pg_ctl stop -m immediate:
# nothing of it is kept) and removes its directory. .ci/run's cleanup calls
# it however the run ends; it does nothing without a throw-away cluster and
# never fails.

PG_DEFAULT_URL=postgres://postgres@127.0.0.1:5432/test
PG_THROWAWAY_USER=claimdesk-ci
# How many starts are tried, each on a port picked afresh, when another
# process takes the free port between its pick and the server's bind.
PG_PORT_ATTEMPTS=5

# The throw-away cluster: its directory (data/ and the logs), the folder of
# initdb and pg_ctl, and the command prefix running them as the cluster's
# user (empty when this script does not run as root).
pg_throwaway_dir=
pg_bin_dir=
pg_run_as=()

postgres_for_tests() {
    local mode=${CLAIMDESK_CI_POSTGRES:-auto}
    case $mode in
    auto)
        if [[ -n ${CLAIMDESK_TEST_DATABASE_URL:-} ]]; then
            ok "CLAIMDESK_TEST_DATABASE_URL is set already; the PostgreSQL tests use it"
            return
        fi
        if pg_answers "$PG_DEFAULT_URL"; then
            export CLAIMDESK_TEST_DATABASE_URL=$PG_DEFAULT_URL
            ok "PostgreSQL answers: CLAIMDESK_TEST_DATABASE_URL=$CLAIMDESK_TEST_DATABASE_URL"
            return
        fi
        echo "no PostgreSQL answers on 127.0.0.1:5432 (user postgres, database test):" \
            "starting a throw-away cluster"
        ;;
    throwaway)
        echo "CLAIMDESK_CI_POSTGRES=throwaway: starting a throw-away cluster"
        ;;
    *)
        fail "CLAIMDESK_CI_POSTGRES is '$mode', neither auto (the default) nor throwaway"
        ;;
    esac
    pg_start_throwaway
}

# Whether the PostgreSQL named by the URL $1 answers a query, asked with the
# psql and pg_isready on PATH (none there: it does not).
pg_answers() {
    command -v pg_isready >/dev/null && command -v psql >/dev/null &&
        pg_isready -q -d "$1" &&
        psql "$1" -X -q -A -t -c 'select 1' </dev/null >/dev/null 2>&1
}

# Prints the folder holding initdb and pg_ctl; fails without one.
pg_find_bin_dir() {
    local candidates=() dir initdb
    if initdb=$(command -v initdb); then
        candidates+=("$(dirname "$(readlink -f "$initdb")")")
    fi
    mapfile -t -O "${#candidates[@]}" candidates < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r)
    for dir in "${candidates[@]}"; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return
        fi
    done
    return 1
}

# Installs Debian's postgresql package without the cluster it would create.
pg_install() {
    echo "no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin: installing Debian's postgresql"
    # postgresql-common's createcluster.conf includes this folder; without
    # the setting, configuring postgresql-<version> creates the cluster
    # `main` on 5432 and starts it. The file is removed again, so that a
    # later install behaves as Debian's do.
    local no_cluster=/etc/postgresql-common/createcluster.d/claimdesk-ci.conf rc=0
    as_root mkdir -p "${no_cluster%/*}"
    echo 'create_main_cluster = false' | as_root tee "$no_cluster" >/dev/null
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    } || rc=$?
    as_root rm -f "$no_cluster"
    [[ $rc -eq 0 ]] || fail "apt-get install postgresql failed (exit status $rc)"
    # A cluster left by an earlier install (apt-get remove keeps them) is
    # started by this one; none ran before, as its programs were missing.
    local version name _ status
    while read -r version name _ status _; do
        if [[ $status == online* ]]; then
            echo "stopping the cluster $version/$name the install started"
            as_root pg_ctlcluster "$version" "$name" stop
        fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
}

# Starts the throw-away cluster and exports its URL.
pg_start_throwaway() {
    pg_bin_dir=$(pg_find_bin_dir) || {
        pg_install
        pg_bin_dir=$(pg_find_bin_dir) || fail "no initdb and pg_ctl even after installing postgresql"
    }
    echo "initdb and pg_ctl: $pg_bin_dir ($("$pg_bin_dir/pg_ctl" --version))"
    local psql=$pg_bin_dir/psql
    [[ -x $psql ]] || psql=$(command -v psql) || fail "no psql in $pg_bin_dir or on PATH"

    local owner
    if [[ $(id -u) -eq 0 ]]; then
        if ! id -u "$PG_THROWAWAY_USER" >/dev/null 2>&1; then
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$PG_THROWAWAY_USER"
            echo "created the system user $PG_THROWAWAY_USER"
        fi
        pg_run_as=(runuser -u "$PG_THROWAWAY_USER" --)
        owner=$PG_THROWAWAY_USER
    else
        owner=$(id -un)
    fi

    pg_throwaway_dir=$(mktemp -d "${TMPDIR:-/tmp}/claimdesk-pg.XXXXXX")
    chown "$owner:" "$pg_throwaway_dir"
    local data=$pg_throwaway_dir/data log=$pg_throwaway_dir/server.log
    "${pg_run_as[@]}" test -w "$pg_throwaway_dir" ||
        fail "$owner cannot write to $pg_throwaway_dir: set TMPDIR to a folder it can reach"

    # Run from the cluster's directory: the user may not enter the current one.
    (cd "$pg_throwaway_dir" && "${pg_run_as[@]}" "$pg_bin_dir/initdb" --pgdata="$data" \
        --username=postgres --auth=trust --encoding=UTF8 --locale=C --no-sync \
        >"$pg_throwaway_dir/initdb.log" 2>&1) || {
        cat "$pg_throwaway_dir/initdb.log" >&2
        fail "initdb failed"
    }
    # TCP on 127.0.0.1 only: no socket in a system folder the user may not
    # write to. No fsync: nothing of this cluster outlives the run.
    cat >>"$data/postgresql.conf" <<'CONF'

# The throw-away cluster of .ci/postgres.sh.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
CONF

    local attempt port
    for ((attempt = 1; ; attempt++)); do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        rm -f "$log"
        if (cd "$pg_throwaway_dir" && "${pg_run_as[@]}" "$pg_bin_dir/pg_ctl" --pgdata="$data" \
            --log="$log" --options="-p $port" --wait --timeout=60 start \
            >"$pg_throwaway_dir/pg_ctl.log" 2>&1); then
            break
        fi
        if grep -qF "Address already in use" "$log" 2>/dev/null && ((attempt < PG_PORT_ATTEMPTS)); then
            echo "port $port was taken before the server bound it; another one"
            continue
        fi
        cat "$pg_throwaway_dir/pg_ctl.log" "$log" >&2 2>/dev/null || true
        fail "the throw-away PostgreSQL did not start (port $port)"
    done

    "$psql" "postgres://postgres@127.0.0.1:$port/postgres" -X -q -c 'create database test' </dev/null ||
        fail "could not create the database test in the throw-away cluster"
    local url=postgres://postgres@127.0.0.1:$port/test
    "$psql" "$url" -X -q -A -t -c 'select 1' </dev/null >/dev/null ||
        fail "the throw-away cluster does not answer on $url"
    export CLAIMDESK_TEST_DATABASE_URL=$url
    ok "throw-away PostgreSQL (user $owner, $pg_throwaway_dir, postmaster pid $(pg_postmaster_pid)):" \
        "CLAIMDESK_TEST_DATABASE_URL=$CLAIMDESK_TEST_DATABASE_URL"
}

# Prints the pid of the throw-away cluster's postmaster; fails when none runs.
pg_postmaster_pid() {
    local pid
    pid=$(head -n 1 "$pg_throwaway_dir/data/postmaster.pid" 2>/dev/null) &&
        [[ $pid =~ ^[0-9]+$ ]] && pg_is_postgres "$pid" && echo "$pid"
}

# Whether the process $1 runs and is a postgres (not a zombie, not another
# program that got its pid since).
pg_is_postgres() {
    local state
    state=$(ps -o stat=,comm= -p "$1" 2>/dev/null) && [[ $state != Z* && $state == *" postgres" ]]
}

postgres_cleanup() {
    [[ -n $pg_throwaway_dir ]] || return 0
    local pid
    if pid=$(pg_postmaster_pid); then
        echo "stopping the throw-away PostgreSQL (pid $pid)" >&2
        (cd "$pg_throwaway_dir" && "${pg_run_as[@]}" "$pg_bin_dir/pg_ctl" \
            --pgdata="$pg_throwaway_dir/data" --mode=immediate --wait --timeout=30 stop \
            >/dev/null 2>&1) || true
        # pg_ctl returns once the postmaster removed its pid file, which it
        # does just before it exits: wait for the exit itself.
        for _ in $(seq 100); do
            pg_is_postgres "$pid" || break
            sleep 0.1
        done
        if pg_is_postgres "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$pg_throwaway_dir" || echo "could not remove $pg_throwaway_dir" >&2
    pg_throwaway_dir=
    return 0
}
