"""Real services for the cluster tests, started on loopback by the tests themselves.

A service that cannot start here skips its tests with the reason, unless SBP_REQUIRE_SERVICES is
set (`.ci/run` sets it once it has installed them): then it fails them, so an install that went
wrong is never a green run that tested nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPTS = ROOT / "tests" / "cluster"
MLFLOW = str(Path(sys.executable).with_name("mlflow"))


def unavailable(reason: str) -> None:
    """Skip the test for a service that cannot start here (fail it where CI installed it)."""
    if os.environ.get("SBP_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (SBP_REQUIRE_SERVICES is set: the service must start)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float) -> None:
    """Until `url` answers 200; fails early when the process that should serve it died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


@contextlib.contextmanager
def slurm() -> Iterator[None]:
    """The one-node cluster of tests/cluster/slurm-up.sh, stopped again afterwards. The host has
    one such cluster: test sessions side by side take turns (a lock) instead of stopping it
    under each other's jobs."""
    if not shutil.which("slurmctld"):
        unavailable("SLURM is not installed (tests/cluster/slurm-up.sh installs Debian's)")
    with open(Path(tempfile.gettempdir()) / "sbp-slurm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up = subprocess.run(
            [CLUSTER_SCRIPTS / "slurm-up.sh"], capture_output=True, text=True, check=False
        )
        if up.returncode != 0:
            subprocess.run([CLUSTER_SCRIPTS / "slurm-down.sh"], check=False)
            unavailable(f"SLURM did not start: {up.stderr.strip()[-500:]}")
        try:
            yield
        finally:
            subprocess.run([CLUSTER_SCRIPTS / "slurm-down.sh"], check=True)


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user there."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgresql() -> Iterator[str]:
    """A fresh PostgreSQL server from Debian's binaries on a free loopback port; yields the
    libpq URI of an empty database `mlflow` on it."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not binaries:
        unavailable("PostgreSQL is not installed (Debian's postgresql package)")
    bin_dir = binaries[-1].parent
    data = Path(tempfile.mkdtemp(prefix="sbp-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([str(bin_dir / tool), *args]),
            check=True, capture_output=True, text=True,
        )  # fmt: skip

    try:
        run("initdb", "-D", str(data / "db"), "-U", "postgres", "--auth", "trust")
        options = f"-h 127.0.0.1 -p {port} -k {data}"
        run("pg_ctl", "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(data, ignore_errors=True)
        unavailable(f"PostgreSQL did not start: {error.stderr.strip()[-500:]}")
    try:
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
        yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
    finally:
        run("pg_ctl", "-D", str(data / "db"), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` as the README starts it, on a free loopback port; yields its URL."""
    port = free_port()
    command = [
        MLFLOW, "server", "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2",
    ]  # fmt: skip
    with _serving(command, f"http://127.0.0.1:{port}") as url:
        yield url


@contextlib.contextmanager
def mlflow_ui(backend_store_uri: str) -> Iterator[str]:
    """`mlflow ui` as the README starts it, on a free loopback port; yields its URL."""
    port = free_port()
    command = [
        MLFLOW, "ui", "--backend-store-uri", backend_store_uri,
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with _serving(command, f"http://127.0.0.1:{port}") as url:
        yield url


@contextlib.contextmanager
def _serving(command: list[str], url: str) -> Iterator[str]:
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_http(f"{url}/health", server, seconds=180)
        except RuntimeError as error:
            server.kill()
            server.wait()
            log.seek(0)
            raise RuntimeError(f"{error}:\n{log.read()[-3000:]}") from None
        try:
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1800,1100", "--virtual-time-budget=25000",
]  # fmt: skip
"""Headless, as root, and quiet: no background connections (this machine reaches no hosts)."""


def browse(url: str, screenshot: Path) -> str:
    """The page at `url` as headless Chromium renders it (scripts run, data fetched): saves a
    screenshot and returns the rendered DOM."""
    chromium = shutil.which("chromium")
    if not chromium:
        unavailable("Chromium is not installed (Debian's chromium package)")
    pages = []
    for output in (f"--screenshot={screenshot}", "--dump-dom"):
        with tempfile.TemporaryDirectory() as profile:
            command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", output, url]
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
            result.check_returncode()
            pages.append(result.stdout)
    return pages[-1]
