"""The checks of deploy/ that read the manifests or run the release binary;
called by .ci/deploy-check.sh (which installs PyYAML with
kubernetes-validate and runs this with that Python).

    python deploy_check.py manifests
        What the Kubernetes schemas cannot see, in deploy/k8s (sled): one
        replica and how it is replaced, probes, Services and the
        NetworkPolicy on the ports the server listens on, the termination
        grace above the server's, the restricted security context, the files
        the flags name inside mounted Secrets that secret.example.yaml
        defines, and the ServiceMonitor (a CRD, so no schema here) against
        the Service and the metrics port. In deploy/k8s/postgres, the same
        of the Deployment, and: several replicas replaced a few at a time,
        no data directory or volume, the database URL from a Secret, the
        readiness probe the server's health but liveness not (a database
        outage must not restart every replica), the PodDisruptionBudget,
        egress to the database and DNS, and the namespace and Services
        those of deploy/k8s.

    python deploy_check.py serve BINARY WORK_DIR
        Starts BINARY with the arguments and environment of the
        StatefulSet's container, of the Dockerfile's runtime image (and its
        HEALTHCHECK), and of the systemd unit's ExecStart (with and without
        the TLS drop-in), each on loopback ports with a temporary data
        directory, a tokens file made with `token new` and certificates made
        with openssl; checks that it becomes SERVING (and its health and
        metrics listeners answer), then that SIGTERM stops it with status 0.
        A flag renamed in the binary but not in deploy/ fails here. Then the
        PostgreSQL Deployment's container the same way, in a database made
        on the PostgreSQL of CLAIMDESK_TEST_DATABASE_URL (needs psql; said
        to be skipped without the variable), which must hold the migrated
        schema while the image's data directory stays unmade.

Run from the repository root.
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

K8S = Path("deploy/k8s")
K8S_POSTGRES = K8S / "postgres"
DOCKERFILE = Path("deploy/Dockerfile")
UNIT = Path("deploy/systemd/claimdesk.service")
TLS_DROP_IN = Path("deploy/systemd/tls.conf")

READY_SECONDS = 30
STOP_SECONDS = 20

# The flags (and their environment variables) whose values name addresses
# or files of the deployment; each is replaced by one of this check's own.
# Every other flag is passed as written.
SUBSTITUTED = {
    "--listen": ("CLAIMDESK_LISTEN", "api"),
    "--health-listen": ("CLAIMDESK_HEALTH_LISTEN", "health"),
    "--metrics-listen": ("CLAIMDESK_METRICS_LISTEN", "metrics"),
    "--data-dir": ("CLAIMDESK_DATA_DIR", "data"),
    "--tokens-file": ("CLAIMDESK_TOKENS_FILE", "tokens"),
    "--tls-cert": ("CLAIMDESK_TLS_CERT", "cert"),
    "--tls-key": ("CLAIMDESK_TLS_KEY", "key"),
    "--tls-client-ca": ("CLAIMDESK_TLS_CLIENT_CA", "client_ca"),
    "--ready-file": ("CLAIMDESK_READY_FILE", "ready"),
}
SUBSTITUTED_ENV = {env: role for env, role in SUBSTITUTED.values()}

failures = []


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    failures.append(message)


def ok(message):
    print(f"ok: {message}")


def ok_unless_failed(since, message):
    """ok(message) unless something failed since `since` failures."""
    if len(failures) == since:
        ok(message)


# ---------------------------------------------------------------- reading


def flag_values(args):
    """{flag: value} of `--flag=value` and `--flag value` arguments."""
    values = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            flag, value = arg.split("=", 1)
            values[flag] = value
        elif arg.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            values[arg] = args[i + 1]
            i += 1
        i += 1
    return values


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def load_manifests(directory=K8S):
    """Every document of DIRECTORY/*.yaml but the kustomization, by file."""
    documents = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path.name, document))
    return documents


def the_one(documents, kind, directory=K8S):
    found = [d for _, d in documents if d.get("kind") == kind]
    if len(found) != 1:
        raise SystemExit(f"FAIL: {directory} holds {len(found)} {kind}s, not one")
    return found[0]


def server_container(workload):
    containers = workload["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == "claimdesk"]
    if len(named) != 1:
        raise SystemExit(f"FAIL: the {workload['kind']} has no container named claimdesk")
    return named[0]


def secrets_of(documents):
    """{name: {key: value}} of the Secrets among documents."""
    return {
        d["metadata"]["name"]: {**d.get("data", {}), **d.get("stringData", {})}
        for _, d in documents
        if d.get("kind") == "Secret"
    }


def dockerfile_runtime():
    """ENV, ENTRYPOINT, CMD and the HEALTHCHECK command of the last stage."""
    text = DOCKERFILE.read_text()
    # Continuation lines joined; comments dropped.
    lines = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    env, entrypoint, cmd, healthcheck = {}, None, None, None
    for line in lines[stages[-1] + 1 :]:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instruction == "CMD":
            cmd = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            healthcheck = json.loads(rest[rest.index("CMD ") + 4 :])
    return env, entrypoint, cmd, healthcheck


def unit_service_section(paths):
    """The [Service] settings of a unit and its drop-ins, in order, as
    systemd reads them: `ExecStart=` empty resets the list."""
    settings = {}
    for path in paths:
        section = None
        text = re.sub(r"\\\n", " ", path.read_text())
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]":
                continue
            key, _, value = line.partition("=")
            if value == "":
                settings.pop(key, None)
            else:
                settings.setdefault(key, []).append(value)
    return settings


# ---------------------------------------------------------------- manifests


def check_manifests():
    check_statefulset()
    check_postgres()


def check_server_pod(workload, documents, secrets, probes):
    """What the pod of either variant must have: the binary run with
    `serve`; the termination grace above the server's; container ports,
    listen flags and Services in agreement; probes of the kinds `probes`
    gives ({probe: "grpc" or "tcpSocket"}, each on the health port, no
    other probe); the restricted security context; the files the flags name
    inside mounted Secrets among `secrets`; the NetworkPolicies and the
    ServiceMonitor among documents against the pod and its ports. Returns
    the container's ports by name."""
    kind = workload["kind"]
    spec = workload["spec"]
    pod = spec["template"]["spec"]
    container = server_container(workload)
    args = container.get("args", [])
    flags = flag_values(args)

    if "command" in container:
        fail(f"the {kind}'s container sets command: the image's ENTRYPOINT (the binary) must run")
    if args[:1] != ["serve"]:
        fail(f"the {kind}'s container args do not start with serve: {args[:1]}")

    # The server's shutdown fits in the pod's.
    since = len(failures)
    grace = int(flags.get("--shutdown-grace-secs", "10"))
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination < grace + 5:
        fail(f"{kind}: terminationGracePeriodSeconds {termination} leaves no room above "
             f"--shutdown-grace-secs {grace}")
    ok_unless_failed(
        since, f"{kind}: terminationGracePeriodSeconds {termination} > --shutdown-grace-secs {grace}"
    )

    # Ports: the container's, the listen flags', the probes', the Services'.
    since = len(failures)
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    listens = {"--listen": "grpc", "--health-listen": "health", "--metrics-listen": "metrics"}
    for flag, name in listens.items():
        if flag not in flags:
            fail(f"the {kind}'s args have no {flag}")
        elif ports.get(name) != port_of(flags[flag]):
            fail(f"{kind}: {flag} {flags[flag]} is not the container port named {name} "
                 f"({ports.get(name)})")
    if not flags.get("--listen", "").startswith("0.0.0.0:"):
        fail(f"{kind}: --listen is not 0.0.0.0: the Service could not reach the pod")

    def container_port(port):
        return ports.get(port) if isinstance(port, str) else port

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        wanted = probes.get(probe)
        given = container.get(probe)
        if wanted is None:
            if given is not None:
                fail(f"{kind}: {probe} is set; this variant has none")
            continue
        action = (given or {}).get(wanted)
        if action is None:
            fail(f"{kind}: {probe} is not a {wanted} probe")
        elif container_port(action["port"]) != ports.get("health"):
            fail(f"{kind}: {probe} is on port {action['port']}, not the plaintext health port")
    ok_unless_failed(
        since,
        f"{kind}: probes {probes} on the health port {ports.get('health')}, "
        f"ports {ports} match the listen flags",
    )

    services = [d for _, d in documents if d.get("kind") == "Service"]
    since = len(failures)
    pod_labels = spec["template"]["metadata"]["labels"]
    for service in services:
        name = service["metadata"]["name"]
        selector = service["spec"].get("selector", {})
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            fail(f"Service {name} does not select the {kind}'s pods")
        for port in service["spec"]["ports"]:
            if container_port(port.get("targetPort", port["port"])) not in ports.values():
                fail(f"Service {name} port {port['name']} targets no container port")
    names = [s["metadata"]["name"] for s in services]
    ok_unless_failed(since, f"Services {names} select the {kind}'s pods and target its ports")

    # The restricted Pod Security Standard, and the image's user.
    since = len(failures)
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    expected = {
        "runAsNonRoot": security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True,
        "runAsUser 65532": security.get("runAsUser", pod_security.get("runAsUser")) == 65532,
        "fsGroup 65532": pod_security.get("fsGroup") == 65532,
        "readOnlyRootFilesystem": security.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation false": security.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": security.get("capabilities", {}).get("drop") == ["ALL"],
        "seccompProfile RuntimeDefault": (
            security.get("seccompProfile", pod_security.get("seccompProfile", {})).get("type")
            == "RuntimeDefault"
        ),
    }
    for what, holds in expected.items():
        if not holds:
            fail(f"the {kind}'s container security context lacks {what}")
    if "USER 65532:65532" not in DOCKERFILE.read_text():
        fail(f"the Dockerfile's USER is not 65532:65532, the runAsUser of the {kind}")
    ok_unless_failed(since, f"{kind}: restricted security context, user 65532 as in the Dockerfile")

    # Files named by flags: inside a mounted Secret that a
    # secret.example.yaml defines with that key.
    since = len(failures)
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    for flag in ("--tokens-file", "--tls-cert", "--tls-key", "--tls-client-ca"):
        if flag not in flags:
            continue
        path = flags[flag]
        mount = [m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mount:
            fail(f"{kind}: {flag} {path} is in no mounted volume")
            continue
        if mount[0].get("subPath"):
            fail(f"{kind}: {flag} {path} is mounted with subPath: a changed Secret would never show")
        secret = volumes[mount[0]["name"]].get("secret", {}).get("secretName")
        key = path[len(mount[0]["mountPath"].rstrip("/")) + 1 :]
        if secret not in secrets or key not in secrets[secret]:
            fail(f"{kind}: {flag} {path}: secret.example.yaml has no Secret {secret} with key {key}")
    ok_unless_failed(since, f"{kind}: the tokens file and TLS files are keys of mounted Secrets")

    # NetworkPolicies: they select the pod and name its ports.
    since = len(failures)
    policies = [d for _, d in documents if d.get("kind") == "NetworkPolicy"]
    for policy in policies:
        name = policy["metadata"]["name"]
        wanted = policy["spec"]["podSelector"].get("matchLabels", {})
        if not wanted or any(pod_labels.get(k) != v for k, v in wanted.items()):
            fail(f"NetworkPolicy {name} does not select the {kind}'s pods")
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if container_port(port["port"]) not in ports.values():
                    fail(f"NetworkPolicy {name} names port {port['port']}, no container port")
    if policies:
        ok_unless_failed(since, f"the NetworkPolicy selects the {kind}'s pods and names its ports")

    # The ServiceMonitor: no schema here (a CRD), so what it refers to.
    since = len(failures)
    for monitor in [d for _, d in documents if d.get("kind") == "ServiceMonitor"]:
        if monitor.get("apiVersion") != "monitoring.coreos.com/v1":
            fail(f"the ServiceMonitor's apiVersion is {monitor.get('apiVersion')}")
        unknown = set(monitor["spec"]) - {"selector", "endpoints", "namespaceSelector", "jobLabel"}
        if unknown:
            fail(f"the ServiceMonitor has fields this check does not know: {unknown}")
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [
            s
            for s in services
            if all(s["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        for endpoint in monitor["spec"]["endpoints"]:
            targets = [
                p
                for s in selected
                for p in s["spec"]["ports"]
                if p["name"] == endpoint["port"]
            ]
            if not targets:
                fail(f"the ServiceMonitor's port {endpoint['port']} is in no Service it selects")
            elif any(container_port(p["targetPort"]) != ports.get("metrics") for p in targets):
                fail(f"the ServiceMonitor's port {endpoint['port']} is not the metrics port")
            if endpoint.get("path", "/metrics") != "/metrics":
                fail(f"the ServiceMonitor scrapes {endpoint.get('path')}, not /metrics")
            if endpoint.get("scheme", "http") != "http":
                fail("the ServiceMonitor scrapes with TLS; the metrics listener is plain HTTP")
        ok_unless_failed(
            since,
            f"{kind}: the ServiceMonitor selects the Service with the metrics port, path /metrics",
        )
    return ports


def check_statefulset():
    """The sled variant, deploy/k8s: one pod, one volume."""
    documents = load_manifests()
    statefulset = the_one(documents, "StatefulSet")
    spec = statefulset["spec"]
    container = server_container(statefulset)
    flags = flag_values(container.get("args", []))

    # One pod, replaced only once the old one is gone.
    since = len(failures)
    if spec.get("replicas") != 1:
        fail(f"replicas is {spec.get('replicas')}, not 1: one process per data directory")
    if spec.get("podManagementPolicy") != "OrderedReady":
        fail("podManagementPolicy is not OrderedReady")
    if spec.get("updateStrategy", {}).get("type") != "RollingUpdate":
        fail("updateStrategy is not RollingUpdate")
    if spec.get("updateStrategy", {}).get("rollingUpdate", {}).get("maxUnavailable"):
        fail("updateStrategy sets maxUnavailable")
    ok_unless_failed(since, "one replica, OrderedReady, RollingUpdate")

    # Every probe is the server's health: after a failed fsync it stays
    # NOT_SERVING until restarted, which liveness does.
    grpc = {probe: "grpc" for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    check_server_pod(statefulset, documents, secrets_of(documents), grpc)

    since = len(failures)
    services = [d for _, d in documents if d.get("kind") == "Service"]
    governing = [s for s in services if s["metadata"]["name"] == spec["serviceName"]]
    if not governing or governing[0]["spec"].get("clusterIP") != "None":
        fail(f"serviceName {spec['serviceName']} is not a headless Service here")
    mounts = container.get("volumeMounts", [])
    data_mount = [m for m in mounts if m["mountPath"] == flags.get("--data-dir")]
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if not data_mount or data_mount[0]["name"] not in claims:
        fail("--data-dir is not the mount of a volumeClaimTemplate")
    ok_unless_failed(
        since, f"the governing Service {spec['serviceName']} is headless; the data dir is the claim's volume"
    )


def check_postgres():
    """The PostgreSQL variant, deploy/k8s/postgres: replicas without a
    volume, the database URL from a Secret, readiness tied to the database
    and liveness not, a disruption budget, egress to the database; the
    namespace and Services of deploy/k8s, and its ServiceMonitor."""
    documents = load_manifests(K8S_POSTGRES)
    base = load_manifests()
    deployment = the_one(documents, "Deployment", K8S_POSTGRES)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = server_container(deployment)
    flags = flag_values(container.get("args", []))
    pod_labels = spec["template"]["metadata"]["labels"]
    secrets = {**secrets_of(base), **secrets_of(documents)}

    # Several replicas, replaced a few at a time.
    since = len(failures)
    replicas = spec.get("replicas", 1)
    strategy = spec.get("strategy", {})
    rolling = strategy.get("rollingUpdate", {})
    if replicas < 3:
        fail(f"the Deployment has {replicas} replicas: one lost and one drained leave none")
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        fail("the Deployment's strategy is not RollingUpdate")
    if rolling.get("maxUnavailable", "25%") not in (0, 1):
        fail(f"the Deployment's maxUnavailable is {rolling.get('maxUnavailable', '25%')}, not 0 or 1")
    ok_unless_failed(
        since,
        f"{replicas} replicas, RollingUpdate with maxUnavailable {rolling.get('maxUnavailable')}",
    )

    # Readiness is the server's health, so tied to the database; nothing
    # else may be, or a database outage restarts every replica.
    probes = {"readinessProbe": "grpc", "livenessProbe": "tcpSocket"}
    if "startupProbe" in container:
        probes["startupProbe"] = "tcpSocket"
    check_server_pod(
        deployment,
        documents + [(n, d) for n, d in base if d.get("kind") == "ServiceMonitor"],
        secrets,
        probes,
    )

    # The store is the database: no data directory, no volume for one.
    since = len(failures)
    for flag in ("--data-dir", "--cache-bytes", "--ephemeral"):
        if flag in flags or flag in container.get("args", []):
            fail(f"the Deployment's args have {flag}: the data is in PostgreSQL")
    kinds = {k for v in pod.get("volumes", []) for k in v if k != "name"}
    if kinds - {"secret"}:
        fail(f"the Deployment mounts volumes other than Secrets: {sorted(kinds - {'secret'})}")
    if "volumeClaimTemplates" in spec:
        fail("the Deployment has volumeClaimTemplates")
    env = {e["name"]: e for e in container.get("env", [])}
    url = env.get("CLAIMDESK_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef")
    if url is None:
        fail("the Deployment's CLAIMDESK_DATABASE_URL is not read from a Secret (secretKeyRef)")
    elif url.get("key") not in secrets.get(url.get("name"), {}):
        fail(f"CLAIMDESK_DATABASE_URL: no secret.example.yaml has a Secret {url.get('name')} "
             f"with key {url.get('key')}")
    elif url.get("optional"):
        fail("CLAIMDESK_DATABASE_URL is optional: without it the server would not use PostgreSQL")
    else:
        example = secrets[url["name"]][url["key"]]
        # The server's connections do not use TLS: sslmode=require cannot
        # connect, verify-* are refused; the example says what it is.
        if "sslmode=disable" not in example:
            fail(f"the example database URL does not say sslmode=disable: {example}")
    ok_unless_failed(
        since, "no data directory or volume; CLAIMDESK_DATABASE_URL from a Secret, sslmode=disable"
    )

    # At most one replica drained at a time, and drains not blocked while
    # the database is down and every replica unready.
    since = len(failures)
    budget = the_one(documents, "PodDisruptionBudget", K8S_POSTGRES)["spec"]
    wanted = budget.get("selector", {}).get("matchLabels", {})
    if not wanted or any(pod_labels.get(k) != v for k, v in wanted.items()):
        fail("the PodDisruptionBudget does not select the Deployment's pods")
    if "maxUnavailable" in budget:
        allowed = budget["maxUnavailable"]
    else:
        allowed = replicas - budget.get("minAvailable", replicas)
    if allowed != 1:
        fail(f"the PodDisruptionBudget allows {allowed} replicas down at once, not 1")
    if budget.get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
        fail("the PodDisruptionBudget's unhealthyPodEvictionPolicy is not AlwaysAllow: "
             "drains would wait for the database")
    ok_unless_failed(since, "the PodDisruptionBudget allows one replica down, unready ones always")

    # Egress: the database's port, and DNS to find it.
    since = len(failures)
    for policy in [d for _, d in documents if d.get("kind") == "NetworkPolicy"]:
        egress = {
            (p.get("port"), p.get("protocol", "TCP"))
            for rule in policy["spec"].get("egress", [])
            for p in rule.get("ports", [])
        }
        for needed in [(5432, "TCP"), (53, "UDP"), (53, "TCP")]:
            if needed not in egress:
                fail(f"NetworkPolicy {policy['metadata']['name']} allows no egress to {needed}")
    ok_unless_failed(since, "the NetworkPolicy lets the replicas reach the database and DNS")

    # The namespace and Services are the sled variant's, so clients and
    # Prometheus find the desk the same way on either backend.
    since = len(failures)
    for kind in ("Namespace", "Service"):
        here = sorted((d for _, d in documents if d.get("kind") == kind), key=str)
        there = sorted((d for _, d in base if d.get("kind") == kind), key=str)
        if here != there:
            fail(f"the {kind}s of {K8S_POSTGRES} are not those of {K8S}")
    ok_unless_failed(since, f"the Namespace and Services are those of {K8S}")


# ---------------------------------------------------------------- serving


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fixtures:
    """A tokens file, and a CA with a server and a client certificate."""

    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        out = subprocess.run(
            [binary, "token", "new", "--user", "ci.chief", "--role", "chief"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        self.tokens = work / "tokens.toml"
        self.tokens.write_text(f"[tokens]\n{out[1]}\n")
        self.ca = work / "ca.pem"

        def openssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        key_options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *key_options, "-keyout", str(work / "ca.key"), "-out", str(self.ca),
                "-days", "2", "-subj", "/CN=claimdesk deploy check CA")
        for name, extensions in [
            ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
            ("client", "extendedKeyUsage=clientAuth"),
        ]:
            (work / f"{name}.ext").write_text(
                f"basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\n{extensions}\n"
            )
            openssl("req", "-new", *key_options, "-keyout", str(work / f"{name}.key"),
                    "-out", str(work / f"{name}.csr"), "-subj", f"/CN={name}")
            openssl("x509", "-req", "-in", str(work / f"{name}.csr"), "-CA", str(self.ca),
                    "-CAkey", str(work / "ca.key"), "-CAcreateserial", "-days", "2",
                    "-extfile", str(work / f"{name}.ext"), "-out", str(work / f"{name}.pem"))
        self.count = 0

    def values(self):
        """Fresh values for one server, by role."""
        self.count += 1
        return {
            "api": f"127.0.0.1:{free_port()}",
            "health": f"127.0.0.1:{free_port()}",
            "metrics": f"127.0.0.1:{free_port()}",
            "data": str(self.work / f"data-{self.count}"),
            "tokens": str(self.tokens),
            "cert": str(self.work / "server.pem"),
            "key": str(self.work / "server.key"),
            "client_ca": str(self.ca),
            "ready": str(self.work / f"ready-{self.count}"),
        }


def substitute(args, env, values):
    """args and env with deployment addresses and files replaced."""
    out = []
    i = 0
    while i < len(args):
        arg = args[i]
        flag = arg.split("=", 1)[0]
        if flag in SUBSTITUTED:
            role = SUBSTITUTED[flag][1]
            if "=" in arg:
                out.append(f"{flag}={values[role]}")
            else:
                out += [flag, values[role]]
                i += 1
        else:
            out.append(arg)
        i += 1
    env = {k: values[SUBSTITUTED_ENV[k]] if k in SUBSTITUTED_ENV else v for k, v in env.items()}
    return out, env


def clean_environment():
    """This process's environment without CLAIMDESK_* (as a deployment's
    own would be)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
    env["NO_COLOR"] = "1"
    return env


def health(binary, fixtures, url, tls, env=None, extra=()):
    command = [binary, "health", "--server", url, *extra]
    if tls:
        command += ["--ca-cert", str(fixtures.ca)]
    return subprocess.run(
        command, env=env or clean_environment(), capture_output=True, text=True, timeout=30
    )


def serve_and_stop(label, binary, fixtures, args, env, healthcheck=None, while_serving=None):
    """Starts `binary args` with env; checks SERVING on every listener it
    was given, then runs `while_serving(values)` (the values this server
    was given, by role) if given, then a graceful SIGTERM."""
    values = fixtures.values()
    args, env = substitute(args, env, values)
    flags = flag_values(args)
    merged = {**{flag: env[var] for flag, (var, _) in SUBSTITUTED.items() if var in env}, **flags}
    tls = "--tls-cert" in merged
    client = []
    if "--tls-client-ca" in merged:
        client = ["--client-cert", str(fixtures.work / "client.pem"),
                  "--client-key", str(fixtures.work / "client.key")]
    api = merged.get("--listen", "127.0.0.1:50051")
    url = f"{'https' if tls else 'http'}://{api}"
    print(f"-- {label}: {binary} {shlex.join(args)}")
    for key in sorted(k for k in env if k.startswith("CLAIMDESK_") or k == "RUST_LOG"):
        print(f"   {key}={env[key]}")
    log = fixtures.work / f"{label.replace(' ', '-')}.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [binary, *args],
            env={**clean_environment(), **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if server.poll() is not None:
                fail(f"{label}: the server exited with status {server.returncode} while starting")
                print(log.read_text(), file=sys.stderr)
                return
            if health(binary, fixtures, url, tls, extra=client).returncode == 0:
                break
            if time.monotonic() > deadline:
                fail(f"{label}: not SERVING on {url} within {READY_SECONDS}s")
                print(log.read_text(), file=sys.stderr)
                return
            time.sleep(0.2)
        ok(f"{label}: SERVING on {url}")
        if "--health-listen" in merged:
            answer = health(binary, fixtures, f"http://{merged['--health-listen']}", False)
            if answer.returncode != 0:
                fail(f"{label}: the health listener {merged['--health-listen']} is not SERVING: "
                     f"{answer.stdout}{answer.stderr}")
            else:
                ok(f"{label}: plaintext health listener {merged['--health-listen']} SERVING")
        if "--metrics-listen" in merged:
            metrics_url = f"http://{merged['--metrics-listen']}/metrics"
            try:
                with urllib.request.urlopen(metrics_url, timeout=10) as answer:
                    body = answer.read().decode()
                    kind = answer.headers.get("Content-Type", "")
                prometheus = re.search(r"^# (HELP|TYPE) ", body, re.M)
                if not kind.startswith("text/plain") or not prometheus:
                    fail(f"{label}: {metrics_url} is not the Prometheus text format ({kind})")
                else:
                    ok(f"{label}: {metrics_url} answers in the Prometheus text format")
            except OSError as e:
                fail(f"{label}: GET {metrics_url}: {e}")
        if healthcheck is not None:
            command, check_env = healthcheck
            _, check_env = substitute([], check_env, values)
            check_env = {
                k: v.replace("127.0.0.1:50051", api) if k == "CLAIMDESK_SERVER" else v
                for k, v in check_env.items()
            }
            answer = subprocess.run(
                [binary, *command[1:]], env={**clean_environment(), **check_env},
                capture_output=True, text=True, timeout=30,
            )
            if answer.returncode != 0:
                fail(f"{label}: the HEALTHCHECK command exited {answer.returncode}: "
                     f"{answer.stdout}{answer.stderr}")
            else:
                ok(f"{label}: the HEALTHCHECK command ({shlex.join(command)}) exits 0")
        if while_serving is not None:
            while_serving(values)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                status = server.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                fail(f"{label}: still running {STOP_SECONDS}s after SIGTERM")
                return
            if status != 0:
                fail(f"{label}: exited with status {status} after SIGTERM")
                print(log.read_text(), file=sys.stderr)
            else:
                ok(f"{label}: exited 0 after SIGTERM")


def check_serve(binary, work):
    binary = str(Path(binary).resolve())
    work = Path(work)
    fixtures = Fixtures(binary, work)

    # The StatefulSet's container.
    statefulset = the_one(load_manifests(), "StatefulSet")
    container = server_container(statefulset)
    env = {}
    for variable in container.get("env", []):
        if "value" not in variable:
            fail(f"the container's {variable['name']} is not a plain value: cannot set it here")
        env[variable["name"]] = variable.get("value", "")
    serve_and_stop("StatefulSet", binary, fixtures, container["args"], env)

    # The image: its environment, ENTRYPOINT and CMD, and its HEALTHCHECK.
    image_env, entrypoint, cmd, healthcheck = dockerfile_runtime()
    binary_path = "/usr/local/bin/claimdesk"
    if entrypoint != [binary_path] or not healthcheck or healthcheck[0] != binary_path:
        fail(f"ENTRYPOINT {entrypoint} / HEALTHCHECK {healthcheck} do not run {binary_path}")
        return
    # As it is, the image must refuse to serve anonymous callers on the
    # network (before it binds or opens anything).
    values = fixtures.values()
    _, default_env = substitute([], image_env, values)
    default_env["CLAIMDESK_LISTEN"] = image_env["CLAIMDESK_LISTEN"]
    refused = subprocess.run(
        [binary, *cmd], env={**clean_environment(), **default_env},
        capture_output=True, text=True, timeout=30,
    )
    named = all(flag in refused.stderr for flag in ("--tokens-file", "--allow-anonymous"))
    if refused.returncode != 1 or not named:
        fail(f"the image's defaults alone did not refuse to start "
             f"(status {refused.returncode}): {refused.stderr}")
    else:
        ok("the image's defaults alone refuse to serve anonymous callers on "
           f"{image_env['CLAIMDESK_LISTEN']} and name --tokens-file and --allow-anonymous")
    serve_and_stop(
        "image with a tokens file", binary, fixtures, cmd,
        {**image_env, "CLAIMDESK_TOKENS_FILE": "/etc/claimdesk/tokens.toml"},
        healthcheck=(healthcheck, image_env),
    )

    check_serve_postgres(binary, fixtures, image_env)

    # The systemd unit, then with the TLS drop-in.
    units = [("systemd unit", [UNIT]), ("systemd unit + tls.conf", [UNIT, TLS_DROP_IN])]
    for label, paths in units:
        settings = unit_service_section(paths)
        if len(settings.get("ExecStart", [])) != 1:
            fail(f"{label}: not exactly one ExecStart")
            continue
        command = shlex.split(settings["ExecStart"][0])
        if command[0] != "/usr/local/bin/claimdesk":
            fail(f"{label}: ExecStart runs {command[0]}, not /usr/local/bin/claimdesk")
        credentials = {c.split(":", 1)[0] for c in settings.get("LoadCredential", [])}
        for used in re.findall(r"\$\{CREDENTIALS_DIRECTORY\}/([^\s]+)", settings["ExecStart"][0]):
            if used not in credentials:
                fail(f"{label}: ExecStart uses credential {used}, which no LoadCredential= loads")
        env = {}
        for assignment in settings.get("Environment", []):
            for pair in shlex.split(assignment):
                key, _, value = pair.partition("=")
                env[key] = value
        serve_and_stop(label, binary, fixtures, command[1:], env)


def psql(url, sql):
    """The rows `sql` returns at `url`, as psql prints them unaligned."""
    answer = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        env=clean_environment(), capture_output=True, text=True, timeout=60,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"psql: {sql}: {answer.stderr.strip()}")
    return answer.stdout.strip()


def check_serve_postgres(binary, fixtures, image_env):
    """The Deployment's container as the pod runs it (the image's
    environment, then the container's), with CLAIMDESK_DATABASE_URL, which
    the pod reads from a Secret, naming a database made for this check on
    the PostgreSQL of CLAIMDESK_TEST_DATABASE_URL (with the example URL's
    parameters). Every CLAIMDESK_* variable the container sets must be one
    `serve --help` names; the server must become SERVING, keep its data in
    that database (its schema migrated there) and not in the image's data
    directory, and exit 0 on SIGTERM."""
    deployment = the_one(load_manifests(K8S_POSTGRES), "Deployment", K8S_POSTGRES)
    container = server_container(deployment)
    label = "Deployment (PostgreSQL)"

    since = len(failures)
    help_text = subprocess.run(
        [binary, "serve", "--help"], env=clean_environment(), capture_output=True, text=True,
        timeout=30,
    ).stdout
    for variable in container.get("env", []):
        name = variable["name"]
        if name.startswith("CLAIMDESK_") and not re.search(rf"env:\s+{name}\b", help_text):
            fail(f"{label}: the container sets {name}, which `serve --help` does not name: "
                 "the server would ignore it")
    ok_unless_failed(since, f"{label}: `serve --help` names every CLAIMDESK_* the container sets")

    base_url = os.environ.get("CLAIMDESK_TEST_DATABASE_URL")
    if not base_url:
        print(f"SKIPPED: {label}: CLAIMDESK_TEST_DATABASE_URL is not set: "
              "not started against a PostgreSQL")
        return
    secrets = secrets_of(load_manifests(K8S_POSTGRES))
    env = dict(image_env)
    example = None
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        reference = variable.get("valueFrom", {}).get("secretKeyRef", {})
        if variable["name"] != "CLAIMDESK_DATABASE_URL" or not reference:
            fail(f"{label}: the container's {variable['name']} is not a plain value: "
                 "cannot set it here")
            return
        example = secrets.get(reference.get("name"), {}).get(reference.get("key"))
    if example is None:
        fail(f"{label}: no CLAIMDESK_DATABASE_URL from a Secret of secret.example.yaml")
        return
    example = urllib.parse.urlsplit(example)
    database = f"claimdesk_deploy_check_{os.getpid()}"
    given = urllib.parse.urlsplit(base_url)
    query = "&".join(q for q in (given.query, example.query) if q)
    env["CLAIMDESK_DATABASE_URL"] = urllib.parse.urlunsplit(
        (given.scheme, given.netloc, f"/{database}", query, "")
    )

    def stored_there(values):
        url = env["CLAIMDESK_DATABASE_URL"]
        migrated = psql(url, "SELECT to_regclass('claimdesk_schema_version') IS NOT NULL")
        version = "" if migrated != "t" else psql(
            url, "SELECT max(version) FROM claimdesk_schema_version"
        )
        if not version:
            fail(f"{label}: SERVING, but no claimdesk schema in the database {database}: "
                 "the server does not keep its data in PostgreSQL")
        else:
            ok(f"{label}: the schema is migrated to version {version} in {database}")
        if Path(values["data"]).exists():
            fail(f"{label}: the server made the data directory {values['data']} "
                 "(CLAIMDESK_DATA_DIR of the image): it opened the embedded database")
        else:
            ok(f"{label}: no data directory made (the image's CLAIMDESK_DATA_DIR is set)")

    psql(base_url, f'CREATE DATABASE "{database}"')
    try:
        serve_and_stop(
            label, binary, fixtures, container["args"], env, while_serving=stored_there
        )
    finally:
        psql(base_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main(argv):
    if argv[1:2] == ["manifests"]:
        check_manifests()
    elif argv[1:2] == ["serve"] and len(argv) == 4:
        check_serve(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)
    if failures:
        raise SystemExit(f"{len(failures)} deploy check(s) failed")


if __name__ == "__main__":
    main(sys.argv)
