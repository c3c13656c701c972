"""Data identity: runs on other data get other run ids, and a train job refuses data its spec
does not name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import write_fake_mnist

from sbp_core import identity, train
from sbp_core.cli import main
from sbp_core.errors import ConfigError, DataError
from sbp_core.fetch import MNIST_FILES, OFFICIAL_SHA256, sha256_of
from sbp_core.grid import expand, validate_config
from sbp_core.spec import RunSpec

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
DIGITS_SHA256 = "f7183b0644d65463b76818673a5d0d6dc8e61ce4f721674e7c08f936bf32770d"
"""The identity of scikit-learn's digits as sbp-bench reads them (pinned: stable across runs)."""


def mnist_grid(**config):
    profile = {"base": {"dataset": "mnist", "epochs": 1}, "sweeps": {"s": {"methods": ["sbp"]}}}
    return expand(validate_config({**profile, **config}, SCHEMA))


@pytest.fixture
def other_mnist_dir(tmp_path) -> Path:
    """Another tiny IDX dataset under the same file names (as Fashion-MNIST is to MNIST)."""
    return write_fake_mnist(tmp_path / "other", n_train=50)


def test_another_idx_folder_gets_other_run_ids_and_says_so(fake_mnist_dir, other_mnist_dir):
    first = mnist_grid(mnist_dir=str(fake_mnist_dir))
    second = mnist_grid(mnist_dir=str(other_mnist_dir))
    assert not set(first.runs) & set(second.runs)
    (spec,) = second.runs.values()
    assert spec.data_sha256 == identity.of_folder(other_mnist_dir)
    assert spec.data_sha256 != identity.of_folder(fake_mnist_dir)


def test_a_local_copy_and_a_download_of_the_same_files_share_run_ids(tmp_path, fake_mnist_dir):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("".join(f"{sha256_of(fake_mnist_dir / n)}  {n}\n" for n in MNIST_FILES))
    local = mnist_grid(mnist_dir=str(fake_mnist_dir))
    download = mnist_grid(mnist={"checksums": str(sums)})
    assert list(local.runs) == list(download.runs)


@pytest.mark.mnist
def test_official_mnist_folder_has_the_identity_of_the_official_checksums(mnist_dir):
    assert identity.of_folder(mnist_dir) == identity.of_checksums(OFFICIAL_SHA256)
    (spec,) = mnist_grid().runs.values()  # checksums: official, nothing read
    assert spec.data_sha256 == identity.of_checksums(OFFICIAL_SHA256)


def test_unchecked_download_is_named_by_the_files_already_downloaded(
    tmp_path, fake_mnist_dir, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^config key mnist\.checksums: 'none' names no data"):
        mnist_grid(mnist={"checksums": "none"})
    shutil.copytree(fake_mnist_dir, tmp_path / "resources" / "mnist")
    (spec,) = mnist_grid(mnist={"checksums": "none"}).runs.values()
    assert spec.data_sha256 == identity.of_folder(fake_mnist_dir)


def test_digits_identity_is_the_pinned_hash_of_its_arrays():
    assert identity.of_digits() == DIGITS_SHA256
    (spec,) = expand(validate_config({"sweeps": {"s": {"methods": ["sbp"]}}}, SCHEMA)).runs.values()
    assert spec.data_sha256 == DIGITS_SHA256


def test_a_config_pinning_other_data_is_refused_by_name(fake_mnist_dir):
    with pytest.raises(DataError, match=rf"^{fake_mnist_dir}: data identity .* differs"):
        mnist_grid(
            mnist_dir=str(fake_mnist_dir), base={"dataset": "mnist", "data_sha256": "0" * 64}
        )


def test_data_sha256_must_be_a_sha256():
    with pytest.raises(ConfigError, match=r"data_sha256 must match \[0-9a-f\]\{64\}"):
        RunSpec(data_sha256="fashion")


def test_train_refuses_data_other_than_its_spec_names(tmp_path, fake_mnist_dir, other_mnist_dir):
    spec = RunSpec(dataset="mnist", epochs=1, data_sha256=identity.of_folder(fake_mnist_dir))
    out = tmp_path / "run"
    with pytest.raises(DataError) as caught:
        train.run(spec, out, mnist_dir=other_mnist_dir)
    message = str(caught.value)
    assert message.startswith(f"{other_mnist_dir}: data identity") and "\n" not in message
    assert not out.exists()
    metrics = train.run(spec, out, mnist_dir=fake_mnist_dir)
    assert metrics["run_id"] == spec.run_id
    assert json.loads((out / "spec.json").read_text())["data_sha256"] == spec.data_sha256


def test_cli_refusal_is_one_line_naming_the_folder(
    tmp_path, fake_mnist_dir, other_mnist_dir, capsys
):
    sha = identity.of_folder(fake_mnist_dir)
    args = ["train", "--dataset", "mnist", "--epochs", "1", "--data-sha256", sha, "--quiet"]
    assert main([*args, "--mnist-dir", str(other_mnist_dir), "--out", str(tmp_path / "r")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"sbp-bench: error: {other_mnist_dir}: data identity")


def test_a_spec_without_identity_takes_the_datas(tmp_path, fake_mnist_dir):
    metrics = train.run(
        RunSpec(dataset="mnist", epochs=1), tmp_path / "r", mnist_dir=fake_mnist_dir
    )
    stamped = RunSpec(dataset="mnist", epochs=1, data_sha256=identity.of_folder(fake_mnist_dir))
    assert metrics["run_id"] == stamped.run_id


def test_identity_hashes_the_file_bytes(tmp_path, fake_mnist_dir):
    changed = shutil.copytree(fake_mnist_dir, tmp_path / "changed")
    labels = changed / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-1] + bytes([labels.read_bytes()[-1] ^ 1]))
    assert identity.of_folder(changed) != identity.of_folder(fake_mnist_dir)


def test_fields_added_later_keep_the_run_ids_of_the_runs_before_them():
    """Ids as the spec gave them before pulse_prob_final, refresh_every and refresh_level: a spec
    at the values those runs had keeps its id; any other value is a new run."""
    assert RunSpec().run_id == "d93014d3c9fe"
    assert RunSpec(method="sgd", device="ideal", dataset="mnist").run_id == "eef7d2a9244e"
    assert (
        RunSpec(refresh_every=1000).run_id == RunSpec(refresh_every=1000, refresh_level=0.9).run_id
    )
    changed = ({}, {"pulse_prob_final": 0.5}, {"refresh_every": 9}, {"refresh_level": 0.8})
    assert len({RunSpec(**kw).run_id for kw in changed}) == 4


# --- device files ----------------------------------------------------------------------------

DEVICE_FILE = "n_states: 40\nnl_ltp: 1\nnl_ltd: -1\non_off: 10\nc2c_sigma: 0.01\ng_max_s: 1e-6\n"


def test_preset_runs_keep_the_run_ids_from_before_device_files():
    """A preset's spec leaves device_sha256 out of its run id: existing results stay valid (on
    presets that kept their values: Table II changed ag_si's, so its runs have new ids)."""
    assert RunSpec().run_id == "d93014d3c9fe"
    assert RunSpec(device="ideal", method="sgd", c2c_sigma=0.1).run_id == "a3937aa7bc04"
    assert RunSpec(device="ag_si", method="sgd", c2c_sigma=0.1).run_id != "97cd69866c4b"
    with pytest.raises(ConfigError, match="device_sha256 applies to device files only"):
        RunSpec(device="ag_si", device_sha256="0" * 64)


def test_a_device_files_content_not_its_path_names_the_run(tmp_path):
    first, second = tmp_path / "a" / "mine.yaml", tmp_path / "b" / "theirs.yml"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(DEVICE_FILE)
    one, two = (identity.device_stamped(RunSpec(device=str(p))) for p in (first, second))
    assert one.device_sha256 == two.device_sha256 == identity.of_device_file(first)
    assert one.run_id == two.run_id and one.device != two.device
    second.write_text(DEVICE_FILE.replace("0.01", "0.02"))
    assert identity.device_stamped(RunSpec(device=str(second))).run_id != one.run_id
    assert identity.device_stamped(RunSpec()) == RunSpec()  # a preset has no file


def test_a_train_job_refuses_a_device_file_its_spec_does_not_name(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(DEVICE_FILE)
    spec = identity.device_stamped(RunSpec(device=str(path), epochs=1, n_hidden=4))
    path.write_text(DEVICE_FILE.replace("0.01", "0.02"))  # edited after the grid was built
    with pytest.raises(ConfigError, match=rf"{path}: device file content .* differs from"):
        train.run(spec, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()
    with pytest.raises(ConfigError, match=r"nowhere.yaml: device file not found"):
        identity.device_stamped(RunSpec(device=str(tmp_path / "nowhere.yaml")))


def test_a_bad_device_file_in_a_profile_is_one_line_naming_the_sweep_file_and_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(DEVICE_FILE.replace("nl_ltd:", "nl_lt:"))
    profile = {"base": {"device": str(path)}, "sweeps": {"s": {"methods": ["sbp"]}}}
    with pytest.raises(ConfigError) as caught:
        expand(validate_config(profile, SCHEMA))
    assert str(caught.value) == f"config sweeps.s: {path}: unknown key 'nl_lt' " + (
        "(a neurosim device file holds: name, n_states, nl_ltp, nl_ltd, on_off, c2c_sigma, "
        "d2d_sigma, stuck_gmin, stuck_gmax, read_noise, reset_step_ratio, g_max_s, v_set, "
        "v_reset, pulse_width_s, reset_pulse_width_s, r_access_ohm, neurosim_accuracy, citation, "
        "kind, fit)"
    )
