#!/usr/bin/env bash
# Shows, from the system calls themselves, what claimdesk makes durable
# before it answers:
#
# - a new data directory, the directory holding it and sled's `conf` file
#   are fsynced when the store is created;
# - every blob file (large values and nodes, under blobs/) is fsynced after
#   its last write, and no answer leaves the server between a blob's last
#   write and that fsync;
# - every answer to a change follows an fsync of the database log;
# - under a burst of concurrent writes (`claimdesk bench`, submissions, 32
#   in flight over 8 connections), answers leave only after fsyncs of the
#   log, each fsync covering several answers (group commit); the script
#   prints the answers per fsync.
#
# It runs the release binary under `strace -f -y`, makes changes one at a
# time with grpcurl (claims with long evidence, so that sled writes blobs),
# then, on a second server, the burst under `strace -f -yy` (`-yy` names
# TCP sockets with their addresses, so answers can be told from other
# writes); then reads the traces. Prints the figures, among them the answers per fsync of the
# burst, and exits non-zero if a rule is broken.
#
# Usage: .ci/fsync-trace.sh [path/to/claimdesk]   (needs strace, grpcurl, jq)
# BURST_DURATION (3s) sets the length of each of the bench's rounds.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${1:-target/release/claimdesk}
ADDR=127.0.0.1:50071
CLAIMS=${CLAIMS:-24}
EVIDENCE_PER_CLAIM=${EVIDENCE_PER_CLAIM:-4}
SERVICE=claimdesk.v1.ClaimService

for tool in strace grpcurl jq python3; do
    command -v "$tool" >/dev/null || {
        echo "fsync-trace: $tool is needed" >&2
        exit 2
    }
done
[[ -x $BIN ]] || {
    echo "fsync-trace: no binary at $BIN (cargo build --release)" >&2
    exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/claimdesk-fsync.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then
        pkill -TERM -P "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The data directory does not exist yet, nor its parent: both are created.
data="$work/new/data"
RUST_LOG=warn strace -f -y -ttt -qq -o "$work/trace" \
    -e trace=openat,mkdir,mkdirat,write,writev,pwrite64,sendmsg,sendto,fsync,fdatasync \
    "$BIN" serve --listen "$ADDR" --data-dir "$data" >"$work/server.log" 2>&1 &
server_pid=$!

# Waits until the server at $1 answers health checks (its log is $2).
wait_for_server() {
    for _ in $(seq 150); do
        if grpcurl -plaintext -max-time 1 -d "{}" "$1" grpc.health.v1.Health/Check >/dev/null 2>&1 </dev/null; then
            return 0
        fi
        sleep 0.2
    done
    cat "$2" >&2
    echo "fsync-trace: the server did not start" >&2
    exit 1
}
wait_for_server "$ADDR" "$work/server.log"

summary=$(python3 -c 'print(("The convoy route ran along the coast road. " * 90)[:3900])')
changes=0
for c in $(seq "$CLAIMS"); do
    name=$(grpcurl -plaintext -H 'x-claimdesk-user: trace.editor' -d @ "$ADDR" "$SERVICE/SubmitClaim" <<JSON | jq -r .name
{"claim": {"statement": "Convoy $c reached the port on schedule", "story": "fsync-trace",
  "attribution": {"source": "Harbour Gazette"}}}
JSON
    )
    changes=$((changes + 1))
    for e in $(seq "$EVIDENCE_PER_CLAIM"); do
        jq -n --arg name "$name" --arg summary "$summary" --arg source "Port Authority $e" \
            '{name: $name, evidence: {summary: $summary, source: $source, stance: "STANCE_CONTEXT"}}' |
            grpcurl -plaintext -H 'x-claimdesk-user: trace.checker' -d @ "$ADDR" \
                "$SERVICE/AddEvidence" >/dev/null
        changes=$((changes + 1))
    done
done
# Stop the server itself (strace's child); strace then exits with it.
pkill -TERM -P "$server_pid" || true
wait "$server_pid" || true
server_pid=

python3 - "$work/trace" "$data" "$changes" <<'PY'
import re, sys
from collections import defaultdict

trace, data, changes = sys.argv[1], sys.argv[2], int(sys.argv[3])
line_re = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*)$')
call_re = re.compile(r'^(\w+)\((\d+)<([^>]*)>')
unfinished = {}
events = []  # (time, call, path) with fsync at its completion
for raw in open(trace):
    m = line_re.match(raw.rstrip('\n'))
    if not m:
        continue
    pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
    if rest.startswith('<...'):
        started = unfinished.pop(pid, None)
        if started and started[1] in ('fsync', 'fdatasync'):
            events.append((t, started[1], started[2]))
        continue
    if rest.startswith(('mkdir', 'openat')):
        events.append((t, rest.split('(')[0], rest))
        continue
    c = call_re.match(rest)
    if not c:
        continue
    call, path = c.group(1), c.group(3)
    if rest.endswith('<unfinished ...>'):
        unfinished[pid] = (t, call, path)
        if call in ('fsync', 'fdatasync'):
            continue
    events.append((t, call, path))

failures = []
def fsynced(path):
    return [t for t, call, p in events if call in ('fsync', 'fdatasync') and p == path]

# Creation: the new directory, its parent, conf.
for what, path in (('data directory', data), ('its parent', data.rsplit('/', 1)[0]),
                   ('conf', data + '/conf')):
    if not fsynced(path):
        failures.append(f'{what} ({path}) was never fsynced')

# Answers: writes to TCP sockets.
answers = [t for t, call, p in events
           if call in ('write', 'writev', 'sendmsg', 'sendto') and p.startswith('TCP:')]
log_syncs = fsynced(data + '/db')

# Blobs.
blob_writes = defaultdict(list)
for t, call, p in events:
    if '/blobs/' in p and call in ('write', 'writev', 'pwrite64'):
        blob_writes[p].append(t)
for path, writes in sorted(blob_writes.items()):
    last = max(writes)
    after = [t for t in fsynced(path) if t > last]
    if not after:
        failures.append(f'{path}: not fsynced after its last write')
        continue
    early = [t for t in answers if last < t < after[0]]
    if early:
        failures.append(f'{path}: {len(early)} answers left between its last write and its fsync')

print(f'changes made: {changes}')
print(f'fsyncs of the log: {len(log_syncs)} ({changes / max(len(log_syncs), 1):.2f} changes per fsync, one client at a time)')
print(f'blob files written: {len(blob_writes)}, each fsynced after its last write before any answer')
print(f'creation: data directory, its parent and conf fsynced')
if not blob_writes:
    failures.append('no blob was written: make claims larger (EVIDENCE_PER_CLAIM)')
if failures:
    print('FAILED:')
    for f in failures:
        print('  ' + f)
    sys.exit(1)
print('ok')
PY

# A burst of concurrent writes on a second server, traced the same way:
# the bench submits claims, 32 in flight over 8 connections, in rounds that
# alternate with rounds of health checks.
burst="$work/burst/data"
RUST_LOG=warn strace -f -yy -ttt -qq -o "$work/burst-trace" \
    -e trace=fsync,fdatasync,sync_file_range,write,writev,pwrite64,sendmsg,sendto \
    "$BIN" serve --listen "$ADDR" --data-dir "$burst" >"$work/burst-server.log" 2>&1 &
server_pid=$!
wait_for_server "$ADDR" "$work/burst-server.log"
"$BIN" bench --server "http://$ADDR" --user trace.editor --workloads submit \
    --in-flight 32 --duration "${BURST_DURATION:-3s}" >"$work/bench.out" 2>&1 || {
    cat "$work/bench.out" >&2
    echo "fsync-trace: the bench failed" >&2
    exit 1
}
pkill -TERM -P "$server_pid" || true
wait "$server_pid" || true
server_pid=

python3 - "$work/burst-trace" "$burst" <<'PY'
import bisect, re, sys

trace, data = sys.argv[1], sys.argv[2]
log = data + '/db'
# An answer to a submission (a claim) is well over 100 bytes on the wire;
# HTTP/2's own frames (SETTINGS and PING acknowledgements, WINDOW_UPDATE)
# are 9 to 17, and a health check's answer about 50.
ANSWER_BYTES = 100
line_re = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*)$')
call_re = re.compile(r'^(\w+)\((\d+)<([^>]*)>')
ret_re = re.compile(r'\)\s*=\s*(-?\d+)')
unfinished = {}
calls = []  # (start, end, call, path, result)
for raw in open(trace):
    m = line_re.match(raw.rstrip('\n'))
    if not m:
        continue
    pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
    if rest.startswith('<...'):
        started = unfinished.pop(pid, None)
        if started:
            r = ret_re.search(rest)
            calls.append((started[0], t, started[1], started[2], int(r.group(1)) if r else -1))
        continue
    c = call_re.match(rest)
    if not c:
        continue
    if rest.endswith('<unfinished ...>'):
        unfinished[pid] = (t, c.group(1), c.group(3))
        continue
    r = ret_re.search(rest)
    calls.append((t, t, c.group(1), c.group(3), int(r.group(1)) if r else -1))

writes = sorted(end for start, end, call, path, r in calls
                if path == log and call in ('write', 'writev', 'pwrite64'))
syncs = sorted((start, end) for start, end, call, path, r in calls
               if path == log and call in ('fsync', 'fdatasync') and r == 0)
answers = sorted(start for start, end, call, path, r in calls
                 if path.startswith('TCP:') and call in ('write', 'writev', 'sendmsg', 'sendto')
                 and r >= ANSWER_BYTES)

# Every answer leaves after an fsync of the log has ended, one that began
# after a write to the log, and (by group commit) answers outnumber fsyncs.
#
# Which change an answer acknowledges cannot be read from the system calls
# (32 calls in flight share 8 connections), so neither can the write that
# holds it. The stricter rule "an fsync that began after the last write to
# the log before the answer" does not hold, and need not: the committer
# begins writing the next batch while the answers of the batch it has just
# made durable go out. How often that happens is printed, not checked.
starts = [s for s, _ in syncs]
earliest_end = [float('inf')] * (len(syncs) + 1)
for i in range(len(syncs) - 1, -1, -1):
    earliest_end[i] = min(syncs[i][1], earliest_end[i + 1])
first_covered = earliest_end[bisect.bisect_right(starts, writes[0])] if writes else float('inf')
before_any = [t for t in answers if t < first_covered]
next_batch = 0
for t in answers:
    i = bisect.bisect_left(writes, t) - 1
    if i >= 0 and not earliest_end[bisect.bisect_right(starts, writes[i])] < t:
        next_batch += 1

print(f'burst: answers (writes of {ANSWER_BYTES} bytes or more to TCP sockets): {len(answers)}')
print(f'burst: fsyncs of the log: {len(syncs)}, writes to it: {len(writes)}')
print(f'burst: {len(answers) / max(len(syncs), 1):.2f} answers per fsync of the log '
      f'(32 in flight, 8 connections)')
print(f'burst: answers that left while the next batch was being written: {next_batch}')
failures = []
if len(answers) < 1000:
    failures.append(f'only {len(answers)} answers were traced')
if before_any:
    failures.append(f'{len(before_any)} answers left before any fsync of what the log held')
if len(syncs) >= len(answers):
    failures.append('no fsync covered more than one answer: no group commit')
if failures:
    print('FAILED:')
    for f in failures:
        print('  ' + f)
    sys.exit(1)
print('burst: every answer left after an fsync of the log had ended')
print('ok')
PY
