"""One-file models: what training writes and `orbjax.export` writes loads without an
optimiser, gives the workdir's energies and forces, and a damaged or foreign file is refused."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

import orbjax
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.export import main as export_main
from orbjax.model.file import FORMAT_VERSION, ModelFileError, read_model_file, write_model_file
from orbjax.model.io import MODEL_FILE_NAME, export_model
from tests.potential.test_potential import train_tiny_model


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> str:
    return train_tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def model_path(workdir, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny.orbjax"
    assert export_main([workdir, str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def molecule():
    s = max(read_structures(example_path(), keys=CHNO_KEYS), key=lambda s: s.n_atoms)  # 18 atoms
    return s.positions, s.atomic_numbers


@pytest.fixture(scope="module")
def reference(workdir, molecule):
    """Energy [] eV and forces [n, 3] eV/Å of the workdir's potential."""
    out = orbjax.load_potential(workdir).energy_forces_stress(*molecule)
    return float(out["energy"]), np.asarray(out["forces"])


def assert_same_predictions(potential, molecule, reference):
    out = potential.energy_forces_stress(*molecule)
    assert float(out["energy"]) == pytest.approx(reference[0], rel=1e-7, abs=0)
    np.testing.assert_allclose(np.asarray(out["forces"]), reference[1], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- loading


def test_file_gives_the_workdirs_energies_and_forces(model_path, molecule, reference):
    potential = orbjax.load_potential(model_path)
    assert_same_predictions(potential, molecule, reference)
    assert potential.step == 4 and potential.dtype == np.float32


def test_training_writes_the_best_checkpoint_as_a_model_file(workdir, model_path):
    written, exported = read_model_file(f"{workdir}/{MODEL_FILE_NAME}"), read_model_file(model_path)
    assert written.header["checkpoint"] == "best" and written.step == exported.step
    for key in ("config", "statistics", "species"):
        assert written.header[key] == exported.header[key]


def test_loading_needs_no_optimizer(workdir, model_path, molecule, reference, monkeypatch):
    """Neither path builds an optimiser, so a changed optimiser cannot break loading."""
    from orbjax.training import factories

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model built an optimizer")

    monkeypatch.setattr(factories, "create_optimizer", refuse)
    assert_same_predictions(orbjax.load_potential(model_path), molecule, reference)
    assert_same_predictions(orbjax.load_potential(workdir), molecule, reference)


def test_file_with_another_optimizer_config_loads_the_same(
    model_path, molecule, reference, tmp_path
):
    """The same parameters under a config whose optimiser differs from training's (another
    optimiser, schedule and weight decay): the model file does not care."""
    f = read_model_file(model_path)
    config = f.config
    assert config["optimizer"]["name"] == "adam"
    config["optimizer"].update(
        name="amsgrad", schedule="constant", weight_decay=0.1, learning_rate=3.0
    )
    other = write_model_file(
        tmp_path / "other.orbjax", f.params, json.dumps(config), f.statistics, step=f.step
    )
    assert read_model_file(other).config["optimizer"]["name"] == "amsgrad"
    assert_same_predictions(orbjax.load_potential(other), molecule, reference)


def test_float64_from_a_float32_file(model_path, molecule, reference):
    potential = orbjax.load_potential(model_path, dtype="float64")
    with potential.precision():
        out = potential.energy_forces_stress(*molecule)
    assert float(out["energy"]) == pytest.approx(reference[0], rel=1e-5)


def test_header_holds_what_a_user_needs(model_path, workdir):
    f = read_model_file(model_path)
    h = f.header
    assert h["format_version"] == FORMAT_VERSION and h["orbjax_version"] == orbjax.__version__
    assert {"jax", "flax", "e3nn-jax"} <= set(h["versions"]) and all(
        h["versions"][k] for k in ("jax", "flax")
    )
    assert h["elements"] == ["H", "C", "N", "O"] and h["species"] == [1, 6, 7, 8]
    assert h["units"]["energy"] == "eV" and h["units"]["forces"] == "eV/Å"
    assert h["n_params"] == sum(a.size for a in _leaves(f.params["params"]))
    assert json.loads(f.statistics)["species"] == [1, 6, 7, 8]
    # raw float32 plus the JSON header
    assert model_path.stat().st_size < 4 * h["n_params"] + 64_000


def test_latest_checkpoint_exports_too(workdir, tmp_path):
    path = export_model(workdir, tmp_path / "latest.orbjax", which="latest")
    assert read_model_file(path).header["checkpoint"] == "latest"


def _leaves(tree):
    return [x for v in tree.values() for x in (_leaves(v) if isinstance(v, dict) else [v])]


# ----------------------------------------------------------------------------- refusing


def test_flipped_byte_is_refused_by_name(model_path, tmp_path):
    raw = model_path.read_bytes()
    n_json = struct.unpack_from("<Q", raw, 16)[0]
    for where, offset in {
        "json": 40,
        "params": 32 + n_json + 100,
        "checksum": len(raw) - 1,
    }.items():
        bad = bytearray(raw)
        bad[offset] ^= 0x01
        path = tmp_path / f"flipped-{where}.orbjax"
        path.write_bytes(bytes(bad))
        with pytest.raises(ModelFileError, match=rf"flipped-{where}\.orbjax: checksum mismatch"):
            orbjax.load_potential(path)


@pytest.mark.parametrize("keep", [5, 30, 200, -5000, -1])
def test_cut_file_is_refused_by_name(model_path, tmp_path, keep):
    path = tmp_path / "cut.orbjax"
    path.write_bytes(model_path.read_bytes()[:keep])
    with pytest.raises(ModelFileError, match=r"cut\.orbjax: file is truncated"):
        orbjax.load_potential(path)


def test_another_format_version_is_refused(model_path, tmp_path):
    raw = bytearray(model_path.read_bytes()[:-32])
    struct.pack_into("<I", raw, 8, FORMAT_VERSION + 1)
    path = tmp_path / "future.orbjax"
    path.write_bytes(bytes(raw) + hashlib.sha256(raw).digest())  # intact, just newer
    with pytest.raises(
        ModelFileError, match=rf"future\.orbjax: model file format version {FORMAT_VERSION + 1}"
    ):
        orbjax.load_potential(path)


def test_a_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "notes.orbjax"
    path.write_text("not a model, but long enough to hold a header of thirty-two bytes\n")
    with pytest.raises(ModelFileError, match="not an orbjax model file"):
        orbjax.load_potential(path)
    assert issubclass(ModelFileError, ValueError)


def test_object_arrays_are_refused_even_with_a_valid_checksum(model_path, tmp_path):
    """Loading copies numbers only: an entry asking for Python objects is refused, not unpickled."""
    f = read_model_file(model_path)
    raw = model_path.read_bytes()
    n_json, n_data = struct.unpack_from("<QQ", raw, 16)
    header = json.loads(raw[32 : 32 + n_json])
    header["arrays"][0]["dtype"] = "|O"
    text = json.dumps(header).encode()
    body = (
        struct.pack("<8sIIQQ", b"ORBJAXM\0", FORMAT_VERSION, 0, len(text), n_data)
        + text
        + raw[32 + n_json : 32 + n_json + n_data]
    )
    path = tmp_path / "objects.orbjax"
    path.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(ModelFileError, match=r"objects\.orbjax: .*dtype object; only numbers"):
        read_model_file(path)
    assert f.params  # the original still reads


def test_export_of_a_directory_without_checkpoints_fails_cleanly(tmp_path, capsys):
    assert export_main([str(tmp_path), str(tmp_path / "m.orbjax")]) == 1
    assert "no checkpoints/ directory" in capsys.readouterr().err
    assert not (tmp_path / "m.orbjax").exists()
