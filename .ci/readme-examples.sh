#!/usr/bin/env bash
# Runs the grpcurl examples of README.md, as printed, against a running
# claimdesk server (the README's address, localhost:50051), and checks what
# they print.
#
#   .ci/readme-examples.sh [README.md]
#
# The examples are the ```sh blocks between the markers
#   <!-- ci: grpcurl-examples -->   and   <!-- /ci: grpcurl-examples -->
# They run in order in this one shell (so variables such as CLAIM carry from
# block to block) under `set -euo pipefail`. A line
#   <!-- ci: expect TEXT -->
# after a block requires that block's output (stdout and stderr) to contain
# TEXT literally. Other fenced blocks (```text sample output) are skipped.
# Finally the claim the examples made is read back and must be verified.
#
# Needs grpcurl and jq on PATH. Variables of this script start with `ci_` so
# that the README's own (CLAIM, ETAG, ...) cannot clash with them.

set -euo pipefail

ci_readme=${1:-README.md}
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

for ci_tool in grpcurl jq awk; do
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
awk -v dir="$ci_dir" '
    function out(name) { return dir "/" name }
    /^<!-- ci: grpcurl-examples -->[[:space:]]*$/ { section = 1; next }
    /^<!-- \/ci: grpcurl-examples -->[[:space:]]*$/ { section = 0; next }
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
if [[ $ci_count -lt 5 ]]; then
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

echo
echo "### checking the claim the examples made"
[[ ${CLAIM:-} =~ ^claims/[0-9A-HJKMNP-TV-Z]{26}$ ]] || {
    echo "readme-examples: CLAIM is '${CLAIM:-}', not a claim name" >&2
    exit 1
}
ci_claim=$(grpcurl -plaintext -d "{\"name\": \"$CLAIM\"}" "$ci_addr" claimdesk.v1.ClaimService/GetClaim)
ci_check() { # description, jq filter that must be true
    if jq -e "$2" >/dev/null <<<"$ci_claim"; then
        echo "    ok: $1"
    else
        echo "readme-examples: $1: not so; the claim is:" >&2
        echo "$ci_claim" >&2
        exit 1
    fi
}
ci_check "state is STATE_VERIFIED" '.state == "STATE_VERIFIED"'
ci_check "label is verified" '.label == "verified"'
ci_check "submitted by ed.morgan" '.submittedBy == "ed.morgan"'
ci_check "assigned to kim.checker" '.assignee == "kim.checker"'
ci_check "two pieces of evidence" '(.evidence | length) == 2'
ci_check "etag moved past the one the example verified with" ".etag != \"${ETAG:-}\""
ci_claim=$(grpcurl -plaintext -d "{\"name\": \"$CLAIM\"}" "$ci_addr" claimdesk.v1.ClaimService/ListClaimEvents)
ci_check "history is submitted, review started, evidence added twice, verified" \
    '[.events[].type] == ["TYPE_SUBMITTED", "TYPE_REVIEW_STARTED", "TYPE_EVIDENCE_ADDED", "TYPE_EVIDENCE_ADDED", "TYPE_VERIFIED"]'

ci_ok=1
echo
echo "readme-examples: all $ci_count README example blocks ran as printed"
