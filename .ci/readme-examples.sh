#!/usr/bin/env bash
# Runs the grpcurl examples of README.md, as printed, against a running
# claimdesk server (the README's address, localhost:50051), and checks what
# they print.
#
#   .ci/readme-examples.sh [README.md [SECTION]]
#
# The examples are the ```sh blocks between the markers
#   <!-- ci: SECTION -->   and   <!-- /ci: SECTION -->
# SECTION is `grpcurl-examples` unless given; `quickstart` runs the quick
# start (the `claimdesk` client commands, which must be on PATH). The
# checks of what the examples did (below) are those of the grpcurl
# examples, and run only for them.
# They run in order in this one shell (so variables such as CLAIM carry from
# block to block) under `set -euo pipefail`. A line
#   <!-- ci: expect TEXT -->
# after a block requires that block's output (stdout and stderr) to contain
# TEXT literally. Other fenced blocks (```text sample output) are skipped.
# Finally what the examples did is read back and checked: the claim they
# made (CLAIM) must be verified; of the queue examples, the claim taken
# (NEXT) must be in review, reassigned by the chief with a lease past the
# one it was taken with, the claim withdrawn (ROUTINE) withdrawn by its
# editor, the one disputed (SECOND) reopened, released and marked
# inconclusive, the queue stats of the story (STORY) must count the claims
# in each state, and the watched events (EVENTS, RESUMED) must be the
# story's history without gap or duplicate. The checks assume the default
# lease (15m) and that the story is the examples' own (its slug ends in the
# time).
#
# Needs grpcurl and jq on PATH. Variables of this script start with `ci_` so
# that the README's own (CLAIM, ETAG, STORY, ...) cannot clash with them.

# The jq filters in single quotes name jq variables ($claim, ...), not shell
# ones.
# shellcheck disable=SC2016

set -euo pipefail

ci_readme=${1:-README.md}
ci_section=${2:-grpcurl-examples}
ci_addr=localhost:50051
ci_dir=$(mktemp -d "${TMPDIR:-/tmp}/claimdesk-readme.XXXXXX")
ci_block=0
ci_ok=0

# The examples run with their output sent to a file; keep the real stdout
# and stderr so that a failure inside a block is still reported here.
exec 3>&1 4>&2

ci_on_exit() {
    local rc=$?
    exec 1>&3 2>&4
    if [[ $rc -ne 0 && $ci_ok -eq 0 ]]; then
        echo >&2
        if [[ $ci_block -gt 0 ]]; then
            echo "FAILED: README example block $ci_block ($ci_readme line $(cat "$ci_dir/line.$ci_block")), exit status $rc" >&2
            echo "--- the block:" >&2
            cat "$ci_dir/block.$ci_block.sh" >&2
            echo "--- its output:" >&2
            cat "$ci_dir/out.$ci_block" >&2 2>/dev/null || true
        else
            echo "FAILED: README examples, exit status $rc" >&2
        fi
    fi
    rm -rf "$ci_dir"
}
trap ci_on_exit EXIT

ci_tools=(grpcurl jq awk)
[[ $ci_section == grpcurl-examples ]] || ci_tools+=(claimdesk timeout)
for ci_tool in "${ci_tools[@]}"; do
    command -v "$ci_tool" >/dev/null || {
        echo "readme-examples: $ci_tool is not on PATH" >&2
        exit 1
    }
done
[[ -f $ci_readme ]] || {
    echo "readme-examples: no $ci_readme" >&2
    exit 1
}

# Split the examples into block.N.sh, with line.N (where the block starts in
# the README) and expect.N (one expected text a line); `count` holds N.
awk -v dir="$ci_dir" -v start="<!-- ci: $ci_section -->" -v end="<!-- /ci: $ci_section -->" '
    function out(name) { return dir "/" name }
    { line = $0; sub(/[[:space:]]*$/, "", line) }
    line == start { section = 1; next }
    line == end { section = 0; next }
    !section { next }
    fence == "sh" && /^```[[:space:]]*$/ { fence = ""; close(out("block." n ".sh")); next }
    fence == "sh" { print > out("block." n ".sh"); next }
    fence == "other" && /^```/ { fence = ""; next }
    fence == "other" { next }
    /^```(sh|bash)[[:space:]]*$/ {
        n++; fence = "sh"
        print NR > out("line." n); close(out("line." n))
        printf "" > out("block." n ".sh")
        printf "" > out("expect." n); close(out("expect." n))
        next
    }
    /^```/ { fence = "other"; next }
    /^<!-- ci: expect .* -->[[:space:]]*$/ {
        if (n == 0) { print "ci: expect before any block at line " NR > "/dev/stderr"; bad = 1; next }
        text = $0
        sub(/^<!-- ci: expect /, "", text)
        sub(/ -->[[:space:]]*$/, "", text)
        print text >> out("expect." n); close(out("expect." n))
        next
    }
    END {
        if (fence != "") { print "unclosed fence in the examples" > "/dev/stderr"; bad = 1 }
        print n + 0 > out("count")
        exit bad
    }
' "$ci_readme"

ci_count=$(cat "$ci_dir/count")
if [[ $ci_count -lt 3 ]]; then
    echo "readme-examples: found only $ci_count example blocks in $ci_readme; are the markers there?" >&2
    exit 1
fi
echo "readme-examples: $ci_count blocks from $ci_readme"

for ((ci_block = 1; ci_block <= ci_count; ci_block++)); do
    echo
    echo "### block $ci_block ($ci_readme line $(cat "$ci_dir/line.$ci_block"))"
    sed 's/^/    $ /' "$ci_dir/block.$ci_block.sh"
    # Not inside `if`, so that `set -e` stays in force within the block.
    # shellcheck disable=SC1090
    { source "$ci_dir/block.$ci_block.sh"; } >"$ci_dir/out.$ci_block" 2>&1 </dev/null
    cat "$ci_dir/out.$ci_block"
    while IFS= read -r ci_expect; do
        if ! grep -qF -- "$ci_expect" "$ci_dir/out.$ci_block"; then
            echo "readme-examples: block $ci_block printed no \"$ci_expect\"" >&2
            exit 1
        fi
        echo "    ok: output has \"$ci_expect\""
    done <"$ci_dir/expect.$ci_block"
done
ci_block=0

if [[ $ci_section != grpcurl-examples ]]; then
    echo
    echo "readme-examples: all $ci_count blocks of $ci_section ran as expected"
    ci_ok=1
    exit 0
fi

echo
echo "### checking the claim the examples made"
[[ ${CLAIM:-} =~ ^claims/[0-9A-HJKMNP-TV-Z]{26}$ ]] || {
    echo "readme-examples: CLAIM is '${CLAIM:-}', not a claim name" >&2
    exit 1
}
for ci_var in NEXT ROUTINE SECOND; do
    [[ ${!ci_var:-} =~ ^claims/[0-9A-HJKMNP-TV-Z]{26}$ ]] || {
        echo "readme-examples: $ci_var is '${!ci_var:-}', not a claim name" >&2
        exit 1
    }
done
[[ ${STORY:-} =~ ^[a-z0-9-]{1,64}$ ]] || {
    echo "readme-examples: STORY is '${STORY:-}', not a story slug" >&2
    exit 1
}
ci_rpc() { # method, request: the answer of claimdesk.v1.ClaimService/method
    grpcurl -plaintext -d "$2" "$ci_addr" "claimdesk.v1.ClaimService/$1"
}
# ts: an RFC 3339 timestamp as [seconds, nanoseconds], comparable with < and >.
ci_jq_defs='def ts: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$")
    | [(.s + "Z" | fromdate), ((.f // "") + "000000000" | .[0:9] | tonumber)];
def count(f): [f] | length;'
ci_check() { # description, jq filter that must be true of $ci_json
    if jq -e --arg claim "$CLAIM" --arg next "$NEXT" --arg story "$STORY" \
        --arg routine "$ROUTINE" --arg second "$SECOND" \
        --arg last "${LAST:-}" --argjson taken "${TAKEN:-null}" \
        "$ci_jq_defs $2" >/dev/null <<<"$ci_json"; then
        echo "    ok: $1"
    else
        echo "readme-examples: $1: not so; what was checked:" >&2
        echo "$ci_json" >&2
        exit 1
    fi
}
ci_json=$(ci_rpc GetClaim "{\"name\": \"$CLAIM\"}")
ci_check "state is STATE_VERIFIED" '.state == "STATE_VERIFIED"'
ci_check "label is verified" '.label == "verified"'
ci_check "submitted by ed.morgan" '.submittedBy == "ed.morgan"'
ci_check "assigned to kim.checker" '.assignee == "kim.checker"'
ci_check "two pieces of evidence" '(.evidence | length) == 2'
ci_check "etag moved past the one the example verified with" ".etag != \"${ETAG:-}\""
ci_check "no lease once ruled on" '.leaseExpireTime == null'
ci_json=$(ci_rpc ListClaimEvents "{\"name\": \"$CLAIM\"}")
ci_check "history is submitted, review started, evidence added twice, verified" \
    '[.events[].type] == ["TYPE_SUBMITTED", "TYPE_REVIEW_STARTED", "TYPE_EVIDENCE_ADDED", "TYPE_EVIDENCE_ADDED", "TYPE_VERIFIED"]'

echo
echo "### checking the queue examples"
ci_json=$(ci_rpc ListClaims "{\"story\": \"$STORY\"}")
ci_check "the story holds the first claim and three more, by ed.morgan" \
    '(.claims | length) == 4 and .claims[0].name == $claim and all(.claims[]; .submittedBy == "ed.morgan")'
ci_check "the three new claims are routine, urgent (with a deadline) and breaking" \
    '[.claims[1:][] | [.priority, (.deadline != null)]]
        == [["PRIORITY_ROUTINE", false], ["PRIORITY_URGENT", true], ["PRIORITY_BREAKING", false]]'
ci_check "TakeNextClaim took the breaking claim, although it was submitted last" \
    '.claims[-1].name == $next'
ci_json=$(ci_rpc GetClaim "{\"name\": \"$NEXT\"}")
ci_check "the taken claim is STATE_IN_REVIEW, reassigned to lee.checker" \
    '.state == "STATE_IN_REVIEW" and .assignee == "lee.checker"'
ci_check "the taken claim is the breaking one of the story, tagged police" \
    '.priority == "PRIORITY_BREAKING" and .story == $story and .tags == ["police"]'
ci_check "the taken claim has lease_expire_time set, in the future" \
    '.leaseExpireTime != null and (.leaseExpireTime | ts) > [now | floor, 0]'
ci_check "RenewLease, AddEvidence and ReassignClaim moved the lease past the one TakeNextClaim gave" \
    '(.leaseExpireTime | ts) > ($taken.leaseExpireTime | ts)'
ci_check "the lease runs about 15 minutes (the default --lease) from the last action" \
    '((.leaseExpireTime | ts)[0] - (.updateTime | ts)[0]) as $d | $d >= 899 and $d <= 901'
ci_check "the taken claim holds the evidence added while resuming the watch" \
    '[.evidence[].source] == ["Lindell Highways Agency"]'
ci_json=$(ci_rpc ListClaimEvents "{\"name\": \"$NEXT\"}")
ci_check "its history: submitted, review started, lease renewed, evidence added, reassigned" \
    '[.events[].type] == ["TYPE_SUBMITTED", "TYPE_REVIEW_STARTED", "TYPE_LEASE_RENEWED", "TYPE_EVIDENCE_ADDED",
        "TYPE_REASSIGNED"] and all(.events[1:4][]; .actor == "kim.checker")'
ci_check "the chief reassigned it to lee.checker, with a note" \
    '.events[-1] | .actor == "ana.chief" and .assignee == "lee.checker" and .toState == "STATE_IN_REVIEW"
        and .note == "Kim is off shift; Lee covers police claims."'

echo
echo "### checking the claims withdrawn, disputed, reopened, released and ruled inconclusive"
ci_json=$(ci_rpc GetClaim "{\"name\": \"$ROUTINE\"}")
ci_check "ROUTINE is the routine claim of the story, by Lindell Shipping News" \
    '.story == $story and .priority == "PRIORITY_ROUTINE" and .attribution.source == "Lindell Shipping News"'
ci_check "ROUTINE is STATE_WITHDRAWN, labelled withdrawn, unassigned" \
    '.state == "STATE_WITHDRAWN" and .label == "withdrawn" and .assignee == null'
ci_json=$(ci_rpc ListClaimEvents "{\"name\": \"$ROUTINE\"}")
ci_check "its history: submitted, then withdrawn by its editor with the reason" \
    '[.events[] | [.type, .actor]] == [["TYPE_SUBMITTED", "ed.morgan"], ["TYPE_WITHDRAWN", "ed.morgan"]]
        and (.events[-1].note | startswith("Lindell Shipping News corrected its figure"))'
ci_json=$(ci_rpc GetClaim "{\"name\": \"$SECOND\"}")
ci_check "SECOND is the urgent claim of the story, with a deadline" \
    '.story == $story and .priority == "PRIORITY_URGENT" and .deadline != null'
ci_check "SECOND is STATE_INCONCLUSIVE, labelled could not be independently verified" \
    '.state == "STATE_INCONCLUSIVE"
        and .label == "could not be independently verified (per Island Retailers Association)"'
ci_check "SECOND carries lee.checker's ruling note, no lease, and its refuting evidence" \
    '.verdictNote == "Neither the retailers nor the wholesaler will publish their stock levels."
        and .leaseExpireTime == null
        and [.evidence[] | [.source, .stance]] == [["Lindell Island Wholesale", "STANCE_REFUTES"]]'
ci_json=$(ci_rpc ListClaimEvents "{\"name\": \"$SECOND\"}")
ci_check "its history: taken, disputed, reopened by the chief, taken, released by the chief, taken, inconclusive" \
    '[.events[] | [.type, .actor, .toState]] == [
        ["TYPE_SUBMITTED", "ed.morgan", "STATE_UNVERIFIED"],
        ["TYPE_REVIEW_STARTED", "kim.checker", "STATE_IN_REVIEW"],
        ["TYPE_EVIDENCE_ADDED", "kim.checker", "STATE_IN_REVIEW"],
        ["TYPE_DISPUTED", "kim.checker", "STATE_DISPUTED"],
        ["TYPE_REOPENED", "ana.chief", "STATE_UNVERIFIED"],
        ["TYPE_REVIEW_STARTED", "kim.checker", "STATE_IN_REVIEW"],
        ["TYPE_RELEASED", "ana.chief", "STATE_UNVERIFIED"],
        ["TYPE_REVIEW_STARTED", "lee.checker", "STATE_IN_REVIEW"],
        ["TYPE_MARKED_INCONCLUSIVE", "lee.checker", "STATE_INCONCLUSIVE"]]'
ci_check "the refused dispute left no event; the dispute, reopening and release carry their texts" \
    '[.events[] | select(.type == "TYPE_DISPUTED" or .type == "TYPE_REOPENED" or .type == "TYPE_RELEASED")
        | .note] == ["The wholesaler'"'"'s stock would last three weeks, not one.",
        "Lindell Island Wholesale says its stock figures date from before the strike.", "Kim is off shift."]'

echo
echo "### checking the story's queue stats and the watched events"
ci_json=$(ci_rpc GetQueueStats "{\"story\": \"$STORY\"}")
ci_check "stats: 1 in review, 1 verified, 1 inconclusive, 1 withdrawn, none unverified or disputed" \
    '[.stateCounts[] | [.state, (.count // "0")]] == [["STATE_UNVERIFIED", "0"], ["STATE_IN_REVIEW", "1"],
        ["STATE_VERIFIED", "1"], ["STATE_DISPUTED", "0"], ["STATE_INCONCLUSIVE", "1"], ["STATE_WITHDRAWN", "1"]]'
ci_check "stats: nothing waits at any priority" \
    '[.waitingCounts[] | [.priority, (.count // "0")]]
        == [["PRIORITY_BREAKING", "0"], ["PRIORITY_URGENT", "0"], ["PRIORITY_ROUTINE", "0"]]'
ci_check "stats: no oldest waiting claim, nothing overdue (the urgent claim with a deadline is ruled)" \
    '.oldestWaitingSubmitTime == null and .oldestWaitingAge == null and (.overdueCount // "0") == "0"'

ci_json=$(jq -sc . <<<"${EVENTS:-}")
ci_check "the watch from revision 0 replayed the story's 10 events" \
    '[.[].type] == ["TYPE_SUBMITTED", "TYPE_REVIEW_STARTED", "TYPE_EVIDENCE_ADDED", "TYPE_EVIDENCE_ADDED",
        "TYPE_VERIFIED", "TYPE_SUBMITTED", "TYPE_SUBMITTED", "TYPE_SUBMITTED", "TYPE_REVIEW_STARTED",
        "TYPE_LEASE_RENEWED"]'
ci_check "the watch replayed four TYPE_SUBMITTED events, all of the story" \
    'count(.[] | select(.type == "TYPE_SUBMITTED")) == 4 and all(.[]; .story == $story)'
ci_check "the watch replayed the first claim first and the taken claim last" \
    'all(.[0:5][]; .claim == $claim) and .[-1].claim == $next and .[-2].claim == $next'
ci_check "the watched revisions increase strictly" \
    '[.[].revision | tonumber] as $r | all(range(1; $r | length); $r[.] > $r[. - 1])'
ci_check "LAST is the last revision the watch received" '.[-1].revision == $last'
ci_json=$(jq -sc . <<<"${RESUMED:-}")
ci_check "resuming after LAST gave exactly the one new event: evidence added to the taken claim" \
    'length == 1 and .[0].type == "TYPE_EVIDENCE_ADDED" and .[0].claim == $next
        and (.[0].revision | tonumber) > ($last | tonumber)'
ci_json=$( (grpcurl -plaintext -max-time 2 -d "{\"story\": \"$STORY\"}" "$ci_addr" \
    claimdesk.v1.ClaimService/WatchClaimEvents 2>/dev/null || true) | jq -sc \
    --argjson events "$(jq -sc . <<<"$EVENTS")" --argjson resumed "$(jq -sc . <<<"$RESUMED")" \
    '{now: ., then: ($events + $resumed)}')
ci_check "a new watch from revision 0 first gets the same events, no gap, no duplicate" \
    '[.now[0:(.then | length)][].revision] == [.then[].revision]'
ci_check "then the withdrawal, the dispute, the reopening, the reassignment, the release and the ruling" \
    '[.now[(.then | length):][] | [.type, (if .claim == $routine then "routine" elif .claim == $second
        then "second" elif .claim == $next then "next" else .claim end)]] == [
        ["TYPE_WITHDRAWN", "routine"], ["TYPE_REVIEW_STARTED", "second"], ["TYPE_EVIDENCE_ADDED", "second"],
        ["TYPE_DISPUTED", "second"], ["TYPE_REOPENED", "second"], ["TYPE_REVIEW_STARTED", "second"],
        ["TYPE_REASSIGNED", "next"], ["TYPE_RELEASED", "second"], ["TYPE_REVIEW_STARTED", "second"],
        ["TYPE_MARKED_INCONCLUSIVE", "second"]]'
ci_check "and their revisions increase strictly" \
    '[.now[].revision | tonumber] as $r | all(range(1; $r | length); $r[.] > $r[. - 1])'

echo
echo "### checking the backup the examples took"
# The end frame: `Z`, four bytes of length, then its JSON, last in the file.
ci_json=$(tail -c 400 "$BACKUP" | grep -ao '{"events":[^}]*}' | tail -1)
ci_check "the backup ends with its end frame, which counts the events, the claims and the request ids" \
    '.events > 0 and .claims > 0 and .requests >= 0 and (.sha256 | length) == 64'
ci_sum=$(head -c -$(( ${#ci_json} + 5 )) "$BACKUP" | sha256sum | cut -d' ' -f1)
ci_check "the end frame's checksum is the SHA-256 of every byte before it" ".sha256 == \"$ci_sum\""

ci_ok=1
echo
echo "readme-examples: all $ci_count README example blocks ran as printed"
