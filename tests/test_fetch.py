"""sbp_core.fetch: mirrors served on loopback or file://, checksums, and no partial files ever."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sbp_core.data import load_mnist
from sbp_core.errors import DataError
from sbp_core.fetch import (
    MNIST_FILES,
    OFFICIAL_SHA256,
    fetch_mnist,
    load_checksums,
    sha256_of,
)

FAST = {"retries": 2, "timeout": 5.0, "backoff": 0.0}


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@dataclass
class Mirror:
    url: str
    requests: list[str] = field(default_factory=list)
    """Names of the files asked for, in order."""


class RecordingHandler(SimpleHTTPRequestHandler):
    """Serves a folder and records each requested file name."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path.lstrip("/"))
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


class FlakyHandler(RecordingHandler):
    """Answers 503 to the first request for each file, then serves it."""

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name not in self.server.requests:
            self.server.requests.append(name)
            self.send_error(503)
            return
        super().do_GET()


class ShortHandler(RecordingHandler):
    """Announces ten more bytes than it sends, like a connection cut mid-transfer."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path.lstrip("/"))
        content = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(content) + 10))
        self.end_headers()
        self.wfile.write(content)


@pytest.fixture
def serve():
    """serve(folder, handler) -> Mirror on an ephemeral 127.0.0.1 port, shut down after the test."""
    servers = []

    def start(directory: Path, handler: type = RecordingHandler) -> Mirror:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
        mirror = Mirror(f"http://127.0.0.1:{server.server_port}/")
        server.requests = mirror.requests
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return mirror

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_sums(fake_mnist_dir) -> dict[str, str]:
    return {name: sha256_of(fake_mnist_dir / name) for name in MNIST_FILES}


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fetch_error(dest: Path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fetch_mnist(dest, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def assert_no_partial_files(dest: Path) -> None:
    leftovers = [p.name for p in dest.iterdir() if p.name.startswith(".") or "part" in p.name]
    assert leftovers == []


# --- success paths --------------------------------------------------------------------------


@pytest.mark.mnist
def test_official_files_through_loopback_match_official_checksums(mnist_dir, serve, tmp_path):
    mirror = serve(mnist_dir)
    fetched = fetch_mnist(tmp_path / "dest", mirrors=[mirror.url], **FAST)
    assert [f.source for f in fetched] == [mirror.url + name for name in MNIST_FILES]
    for item in fetched:
        assert sha256_of(item.path) == OFFICIAL_SHA256[item.path.name]
    assert load_mnist(tmp_path / "dest")[1][:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.mnist
def test_hard_coded_checksums_match_the_official_sums_file(mnist_dir):
    assert dict(load_checksums(mnist_dir / "SHA256SUMS")) == dict(OFFICIAL_SHA256)


def test_file_url_mirror_and_custom_checksums(fake_mnist_dir, fake_sums, tmp_path):
    dest = tmp_path / "dest"
    fetched = fetch_mnist(dest, mirrors=[fake_mnist_dir.as_uri()], checksums=fake_sums, **FAST)
    assert [f.path for f in fetched] == [dest / name for name in MNIST_FILES]
    for name in MNIST_FILES:
        assert (dest / name).read_bytes() == (fake_mnist_dir / name).read_bytes()
    assert_no_partial_files(dest)


def test_checksums_none_fetches_any_valid_idx_dataset(fake_mnist_dir, serve, tmp_path):
    mirror = serve(fake_mnist_dir)
    fetch_mnist(tmp_path / "dest", mirrors=[mirror.url], checksums=None, **FAST)
    assert load_mnist(tmp_path / "dest")[0].shape == (40, 16)


def test_first_mirror_failing_second_working(fake_mnist_dir, fake_sums, serve, tmp_path):
    empty = serve(tmp_path)  # answers 404 for every file
    good = serve(fake_mnist_dir)
    mirrors = [closed_port_url(), empty.url, good.url]
    fetched = fetch_mnist(tmp_path / "dest", mirrors=mirrors, checksums=fake_sums, **FAST)
    assert [f.source for f in fetched] == [good.url + name for name in MNIST_FILES]
    assert empty.requests == list(MNIST_FILES)  # a 404 is not retried


def test_transient_server_error_is_retried(fake_mnist_dir, fake_sums, serve, tmp_path):
    flaky = serve(fake_mnist_dir, FlakyHandler)
    fetch_mnist(tmp_path / "dest", mirrors=[flaky.url], checksums=fake_sums, **FAST)
    assert flaky.requests == [name for name in MNIST_FILES for _ in range(2)]


def test_existing_good_file_is_kept(fake_mnist_dir, fake_sums, serve, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    kept = shutil.copy2(fake_mnist_dir / MNIST_FILES[0], dest / MNIST_FILES[0])
    inode = Path(kept).stat().st_ino
    mirror = serve(fake_mnist_dir)
    fetched = fetch_mnist(dest, mirrors=[mirror.url], checksums=fake_sums, **FAST)
    assert fetched[0].source is None and Path(kept).stat().st_ino == inode
    assert mirror.requests == list(MNIST_FILES[1:])


def test_existing_bad_file_is_replaced(fake_mnist_dir, fake_sums, serve, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / MNIST_FILES[1]).write_bytes(b"not the labels")
    fetch_mnist(dest, mirrors=[serve(fake_mnist_dir).url], checksums=fake_sums, **FAST)
    assert sha256_of(dest / MNIST_FILES[1]) == fake_sums[MNIST_FILES[1]]


# --- failures -------------------------------------------------------------------------------


def test_corrupted_file_is_rejected(fake_mnist_dir, fake_sums, serve, tmp_path):
    target = fake_mnist_dir / "t10k-images-idx3-ubyte.gz"
    content = bytearray(target.read_bytes())
    content[30] ^= 0xFF
    target.write_bytes(bytes(content))
    mirror = serve(fake_mnist_dir)
    dest = tmp_path / "dest"
    message = fetch_error(dest, mirrors=[mirror.url], checksums=fake_sums, **FAST)
    assert message.startswith("t10k-images-idx3-ubyte.gz: download failed from every mirror: ")
    assert f"{mirror.url} (SHA-256 mismatch: got " in message
    assert "mnist_dir" in message and "--mnist-dir" in message
    assert not (dest / "t10k-images-idx3-ubyte.gz").exists()
    assert_no_partial_files(dest)


@pytest.mark.parametrize("checksums", ["custom", None], ids=["sha256", "idx-structure"])
def test_truncated_file_is_rejected(fake_mnist_dir, fake_sums, serve, tmp_path, checksums):
    target = fake_mnist_dir / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-20])
    dest = tmp_path / "dest"
    sums = fake_sums if checksums == "custom" else None
    message = fetch_error(dest, mirrors=[serve(fake_mnist_dir).url], checksums=sums, **FAST)
    expected = "SHA-256 mismatch" if checksums else "corrupt or truncated gzip stream"
    assert message.startswith("train-labels-idx1-ubyte.gz: download failed") and expected in message
    assert not (dest / "train-labels-idx1-ubyte.gz").exists()
    assert_no_partial_files(dest)


def test_cut_transfer_is_detected(fake_mnist_dir, serve, tmp_path):
    mirror = serve(fake_mnist_dir, ShortHandler)
    message = fetch_error(tmp_path / "dest", mirrors=[mirror.url], checksums=None, **FAST)
    size = (fake_mnist_dir / MNIST_FILES[0]).stat().st_size
    assert f"(got {size} of {size + 10} bytes)" in message
    assert mirror.requests == [MNIST_FILES[0]] * FAST["retries"]
    assert_no_partial_files(tmp_path / "dest")


def test_unreachable_mirror(tmp_path):
    dest = tmp_path / "dest"
    url = closed_port_url()
    message = fetch_error(dest, mirrors=[url], **FAST)
    assert message.startswith(
        f"train-images-idx3-ubyte.gz: download failed from every mirror: {url} ("
    )
    assert "refused" in message.lower() and "--mnist-dir" in message
    assert list(dest.iterdir()) == []


def test_existing_file_survives_a_failed_fetch(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / MNIST_FILES[0]).write_bytes(b"user's own file")
    fetch_error(dest, mirrors=[closed_port_url()], **FAST)
    assert (dest / MNIST_FILES[0]).read_bytes() == b"user's own file"
    assert_no_partial_files(dest)


def test_missing_file_url(tmp_path):
    message = fetch_error(tmp_path / "dest", mirrors=[tmp_path.as_uri()], **FAST)
    assert f"{tmp_path.as_uri()} (not found)" in message


def test_unwritable_destination(fake_mnist_dir, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o500)
    if os.access(dest, os.W_OK):
        pytest.skip("running as a user who can write anywhere")
    message = fetch_error(dest, mirrors=[fake_mnist_dir.as_uri()], checksums=None, **FAST)
    assert message.startswith(f"{dest}: cannot write the download")


def test_destination_is_a_file(tmp_path):
    dest = tmp_path / "dest"
    dest.write_text("")
    assert fetch_error(dest, **FAST).startswith(f"{dest}: cannot create the download folder")


def test_checksums_must_cover_every_file(tmp_path):
    message = fetch_error(tmp_path, checksums={MNIST_FILES[0]: "0" * 64}, **FAST)
    assert "no SHA-256 given for train-labels-idx1-ubyte.gz" in message


# --- load_checksums -------------------------------------------------------------------------


def test_load_checksums_keywords():
    assert load_checksums("official") is OFFICIAL_SHA256
    assert load_checksums("none") is None


def test_load_checksums_file(fake_sums, tmp_path):
    lines = ["# made by sha256sum", ""]
    lines += [f"{sha.upper()} *some/dir/{name}" for name, sha in fake_sums.items()]
    sums_file = tmp_path / "SUMS"
    sums_file.write_text("\n".join(lines) + "\n")
    assert load_checksums(sums_file) == fake_sums


def test_load_checksums_errors_name_the_file(tmp_path):
    sums_file = tmp_path / "SUMS"
    sums_file.write_text(f"{'a' * 64}  train-images-idx3-ubyte.gz\nnot a checksum line\n")
    with pytest.raises(DataError, match=rf"^{sums_file}: line 2 is not '<sha256>  <file name>'"):
        load_checksums(sums_file)
    sums_file.write_text(f"{'a' * 64}  train-images-idx3-ubyte.gz\n")
    with pytest.raises(DataError, match=rf"^{sums_file}: no SHA-256 for train-labels-idx1"):
        load_checksums(sums_file)
    with pytest.raises(DataError, match="checksums file not found"):
        load_checksums(tmp_path / "absent")
