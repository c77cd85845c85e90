"""The checks of deploy/ that read the manifests or run the release binary;
called by .ci/deploy-check.sh (which installs PyYAML with
kubernetes-validate and runs this with that Python).

    python deploy_check.py manifests
        What the Kubernetes schemas cannot see: one replica and how it is
        replaced, probes, Services and the NetworkPolicy on the ports the
        server listens on, the termination grace above the server's, the
        restricted security context, the files the flags name inside mounted
        Secrets that secret.example.yaml defines, and the ServiceMonitor (a
        CRD, so no schema here) against the Service and the metrics port.

    python deploy_check.py serve BINARY WORK_DIR
        Starts BINARY with the arguments and environment of the
        StatefulSet's container, of the Dockerfile's runtime image (and its
        HEALTHCHECK), and of the systemd unit's ExecStart (with and without
        the TLS drop-in), each on loopback ports with a temporary data
        directory, a tokens file made with `token new` and certificates made
        with openssl; checks that it becomes SERVING (and its health and
        metrics listeners answer), then that SIGTERM stops it with status 0.
        A flag renamed in the binary but not in deploy/ fails here.

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
import urllib.request
from pathlib import Path

import yaml

K8S = Path("deploy/k8s")
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


def load_manifests():
    """Every document of deploy/k8s/*.yaml but the kustomization, by file."""
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path.name, document))
    return documents


def the_one(documents, kind):
    found = [d for _, d in documents if d.get("kind") == kind]
    if len(found) != 1:
        raise SystemExit(f"FAIL: deploy/k8s holds {len(found)} {kind}s, not one")
    return found[0]


def server_container(statefulset):
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == "claimdesk"]
    if len(named) != 1:
        raise SystemExit("FAIL: the StatefulSet has no container named claimdesk")
    return named[0]


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
    documents = load_manifests()
    statefulset = the_one(documents, "StatefulSet")
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    container = server_container(statefulset)
    args = container.get("args", [])
    flags = flag_values(args)

    if "command" in container:
        fail("the container sets command: the image's ENTRYPOINT (the binary) must run")
    if args[:1] != ["serve"]:
        fail(f"the container's args do not start with serve: {args[:1]}")

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

    # The server's shutdown fits in the pod's.
    since = len(failures)
    grace = int(flags.get("--shutdown-grace-secs", "10"))
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination < grace + 5:
        fail(f"terminationGracePeriodSeconds {termination} leaves no room above "
             f"--shutdown-grace-secs {grace}")
    ok_unless_failed(
        since, f"terminationGracePeriodSeconds {termination} > --shutdown-grace-secs {grace}"
    )

    # Ports: the container's, the listen flags', the probes', the Services'.
    since = len(failures)
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    listens = {"--listen": "grpc", "--health-listen": "health", "--metrics-listen": "metrics"}
    for flag, name in listens.items():
        if flag not in flags:
            fail(f"the container's args have no {flag}")
        elif ports.get(name) != port_of(flags[flag]):
            fail(f"{flag} {flags[flag]} is not the container port named {name} ({ports.get(name)})")
    if not flags.get("--listen", "").startswith("0.0.0.0:"):
        fail("--listen is not 0.0.0.0: the Service could not reach the pod")

    def container_port(port):
        return ports.get(port) if isinstance(port, str) else port

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if grpc is None:
            fail(f"{probe} is not a gRPC probe")
        elif container_port(grpc["port"]) != ports.get("health"):
            fail(f"{probe} is on port {grpc['port']}, not the plaintext health port")
    ok_unless_failed(
        since, f"probes on the health port {ports.get('health')}, ports {ports} match the listen flags"
    )

    services = [d for _, d in documents if d.get("kind") == "Service"]
    since = len(failures)
    pod_labels = spec["template"]["metadata"]["labels"]
    for service in services:
        name = service["metadata"]["name"]
        selector = service["spec"].get("selector", {})
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            fail(f"Service {name} does not select the StatefulSet's pods")
        for port in service["spec"]["ports"]:
            if container_port(port.get("targetPort", port["port"])) not in ports.values():
                fail(f"Service {name} port {port['name']} targets no container port")
    governing = [s for s in services if s["metadata"]["name"] == spec["serviceName"]]
    if not governing or governing[0]["spec"].get("clusterIP") != "None":
        fail(f"serviceName {spec['serviceName']} is not a headless Service here")
    names = [s["metadata"]["name"] for s in services]
    ok_unless_failed(since, f"Services {names} select the pod and target its ports")

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
            fail(f"the container's security context lacks {what}")
    if "USER 65532:65532" not in DOCKERFILE.read_text():
        fail("the Dockerfile's USER is not 65532:65532, the runAsUser of the StatefulSet")
    ok_unless_failed(since, "restricted security context, user 65532 as in the Dockerfile")

    # Files named by flags: inside a mounted Secret that
    since = len(failures)
    # secret.example.yaml defines with that key.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = container.get("volumeMounts", [])
    secrets = {
        d["metadata"]["name"]: {**d.get("data", {}), **d.get("stringData", {})}
        for name, d in documents
        if d.get("kind") == "Secret"
    }
    for flag in ("--tokens-file", "--tls-cert", "--tls-key", "--tls-client-ca"):
        if flag not in flags:
            continue
        path = flags[flag]
        mount = [m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not mount:
            fail(f"{flag} {path} is in no mounted volume")
            continue
        if mount[0].get("subPath"):
            fail(f"{flag} {path} is mounted with subPath: a changed Secret would never show")
        secret = volumes[mount[0]["name"]].get("secret", {}).get("secretName")
        key = path[len(mount[0]["mountPath"].rstrip("/")) + 1 :]
        if secret not in secrets or key not in secrets[secret]:
            fail(f"{flag} {path}: secret.example.yaml has no Secret {secret} with key {key}")
    data_mount = [m for m in mounts if m["mountPath"] == flags.get("--data-dir")]
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if not data_mount or data_mount[0]["name"] not in claims:
        fail("--data-dir is not the mount of a volumeClaimTemplate")
    ok_unless_failed(
        since,
        "the tokens file and TLS files are keys of mounted Secrets; the data dir is the claim's volume",
    )

    # NetworkPolicies: they select the pod and name its ports.
    since = len(failures)
    policies = [d for _, d in documents if d.get("kind") == "NetworkPolicy"]
    for policy in policies:
        name = policy["metadata"]["name"]
        wanted = policy["spec"]["podSelector"].get("matchLabels", {})
        if not wanted or any(pod_labels.get(k) != v for k, v in wanted.items()):
            fail(f"NetworkPolicy {name} does not select the StatefulSet's pods")
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if container_port(port["port"]) not in ports.values():
                    fail(f"NetworkPolicy {name} names port {port['port']}, no container port")
    if policies:
        ok_unless_failed(since, "the NetworkPolicy selects the pod and names its ports")

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
            since, "the ServiceMonitor selects the Service with the metrics port, path /metrics"
        )


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


def serve_and_stop(label, binary, fixtures, args, env, healthcheck=None):
    """Starts `binary args` with env; checks SERVING on every listener it
    was given, then a graceful SIGTERM."""
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
