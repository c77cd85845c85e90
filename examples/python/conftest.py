"""Fixtures that run a real claimdesk server for the tests of this folder.

At start, Python stubs are generated from the repository's protos with
grpcio-tools into a temporary folder (nothing generated is committed). The
`claimdesk` fixture starts the binary named by CLAIMDESK_BIN (default:
target/release/claimdesk at the repository root) with

    claimdesk serve --listen 127.0.0.1:0 --ready-file PATH --ephemeral

waits for the ready file, and stops the server with SIGTERM after the test,
checking that it exited cleanly and left no data behind.
"""

import importlib.resources
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import google.rpc.status_pb2
import grpc
import pytest
from grpc_tools import protoc

REPO = pathlib.Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
# Bounds waits for the server (start-up on a busy machine can be slow).
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30

_stubs_dir = None


def _generate_stubs(out):
    """Compiles proto/claimdesk/v1/*.proto into Python modules under `out`."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    # googleapis-common-protos ships google/rpc/*.proto beside its modules.
    googleapis = pathlib.Path(google.rpc.status_pb2.__file__).parents[2]
    protos = sorted(str(p) for p in (PROTO_ROOT / "claimdesk" / "v1").glob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {PROTO_ROOT}")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--proto_path={googleapis}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *protos,
        ]
    )
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with status {status}")


def pytest_configure(config):
    # Before the test modules are imported: they import the stubs.
    global _stubs_dir
    _stubs_dir = tempfile.mkdtemp(prefix="claimdesk-stubs-")
    _generate_stubs(_stubs_dir)
    sys.path.insert(0, _stubs_dir)


def pytest_unconfigure(config):
    if _stubs_dir is not None:
        shutil.rmtree(_stubs_dir, ignore_errors=True)


def claimdesk_binary():
    """The binary to test: CLAIMDESK_BIN, or the release build."""
    configured = os.environ.get("CLAIMDESK_BIN")
    binary = pathlib.Path(configured) if configured else REPO / "target" / "release" / "claimdesk"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"{binary} is not an executable: build it with `cargo build --release` "
            "or point CLAIMDESK_BIN at one"
        )
    return binary.resolve()


class Server:
    """A running server: `target` is the gRPC target ("127.0.0.1:PORT");
    `announcement` the ready file's JSON."""

    def __init__(self, announcement):
        self.announcement = announcement
        self.target = announcement["listening"]


def _wait_for_ready_file(process, ready_file, log_path):
    """The ready file's JSON, once the server has written it."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        # Written atomically: once it exists, it is complete.
        try:
            return json.loads(ready_file.read_text())
        except FileNotFoundError:
            pass
        if process.poll() is not None:
            raise RuntimeError(
                f"claimdesk exited with status {process.returncode} before it was ready:\n"
                + log_path.read_text()
            )
        time.sleep(0.02)
    raise RuntimeError(
        f"claimdesk was not ready within {START_TIMEOUT_SECONDS}s:\n" + log_path.read_text()
    )


@pytest.fixture
def claimdesk(tmp_path):
    """A fresh server with an empty, temporary store, stopped after the test."""
    ready_file = tmp_path / "ready.json"
    log_path = tmp_path / "claimdesk.log"
    # No CLAIMDESK_* setting of the caller's environment reaches the server
    # (CLAIMDESK_DATA_DIR, for one, is refused with --ephemeral).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMDESK_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                claimdesk_binary(),
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--ready-file",
                ready_file,
                "--ephemeral",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        announcement = _wait_for_ready_file(process, ready_file, log_path)
        assert announcement["pid"] == process.pid
        yield Server(announcement)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert status == 0, f"claimdesk exited with status {status}:\n{log_path.read_text()}"
    assert not pathlib.Path(announcement["data_dir"]).exists(), "the ephemeral data is removed"
    assert not ready_file.exists(), "the ready file is removed at exit"


@pytest.fixture
def stub(claimdesk):
    """A ClaimService client on a channel to the fixture's server."""
    from claimdesk.v1 import claim_service_pb2_grpc

    with grpc.insecure_channel(claimdesk.target) as channel:
        yield claim_service_pb2_grpc.ClaimServiceStub(channel)
