"""Every table one command away: the data script (`python -m experiments.data.fetch`) places
the public sets, checked by SHA-256, where the experiments read them; the committed CHNO set
is the published one; and the documented reproduction of the acac n = 25 seed-0 energy-only
row finds its run, its committed row and its data. The offline mode runs against
`../shared/data` (skipped where that copy is absent)."""

import hashlib
import re
import shutil
import urllib.error
from pathlib import Path

import pytest

from experiments.common import paths
from experiments.data import fetch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "botnet" / "acac").is_dir(), reason="no ../shared/data copy"
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_lists_the_public_sets_and_only_their_training_files():
    names = fetch.manifest()
    assert {n.split("/")[0] for n in names} == {"botnet", "metals"}
    assert {
        "botnet/acac/train_300K.xyz",
        "botnet/acac/train_600K.xyz",
        "botnet/acac/isolated_atoms.xyz",
        "botnet/3BPA/train_300K.xyz",
        "botnet/ethanol/train.xyz",
        "botnet/LICENSE",
        "metals/LICENSE.maml",
        "metals/mlearn_Mo_train.extxyz",
    } <= set(names)
    # upstream test sets stay out, as the data's README asks
    assert not [n for n in names if "/test" in n]
    assert all(re.fullmatch("[0-9a-f]{64}", d) for d in names.values())


def test_urls_point_at_the_pinned_upstream_commit():
    assert (
        fetch.url("botnet/acac/train_300K.xyz") == f"{fetch.BOTNET_URL}/dataset_acac/train_300K.xyz"
    )
    assert fetch.url("botnet/LICENSE") == f"{fetch.BOTNET_URL}/LICENSE"
    assert (
        fetch.BOTNET_COMMIT in fetch.BOTNET_URL
        and fetch.url("metals/mlearn_Mo_train.extxyz") is None
    )


@needs_shared
def test_offline_copy_places_checked_files_and_is_idempotent(tmp_path, capsys):
    assert (
        fetch.main(
            [
                "--from",
                str(SHARED),
                "--dest",
                str(tmp_path),
                "--only",
                "botnet/acac",
                "botnet/LICENSE",
            ]
        )
        == 0
    )
    expected = fetch.select(fetch.manifest(), ["botnet/acac", "botnet/LICENSE"])
    assert sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
    ) == sorted(expected)
    assert all(_sha(tmp_path / n) == d for n, d in expected.items())
    assert (
        fetch.main(["--from", str(SHARED), "--dest", str(tmp_path), "--only", "botnet/acac"]) == 0
    )
    assert "0 placed, 4 already there" in capsys.readouterr().out


def test_a_file_with_another_checksum_is_refused(tmp_path):
    source = tmp_path / "source"
    (source / "botnet" / "acac").mkdir(parents=True)
    (source / "botnet" / "acac" / "isolated_atoms.xyz").write_text("not the published file\n")
    with pytest.raises(SystemExit, match="SHA-256"):
        fetch.main(
            [
                "--from",
                str(source),
                "--dest",
                str(tmp_path / "out"),
                "--only",
                "botnet/acac/isolated_atoms.xyz",
            ]
        )
    assert not (tmp_path / "out" / "botnet" / "acac" / "isolated_atoms.xyz").exists()


def test_nothing_reachable_is_one_line_and_stops_after_the_first_network_error(
    tmp_path, monkeypatch
):
    calls = []

    def offline(address, timeout):
        calls.append(address)
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)
    with pytest.raises(SystemExit) as error:
        fetch.main(["--dest", str(tmp_path), "--only", "botnet"])
    message = str(error.value)
    assert (
        "\n" not in message
        and message.startswith("fetch: nothing reachable")
        and "--from DIR" in message
    )
    assert len(calls) == 1
    with pytest.raises(SystemExit, match="nothing reachable"):  # an empty local copy
        fetch.main(["--from", str(tmp_path), "--dest", str(tmp_path / "out"), "--only", "metals"])


def test_committed_chno_set_is_the_published_one():
    readme = (paths.CHNO.parent / "README.md").read_text()
    assert _sha(paths.CHNO) in readme  # the provenance states the checksum of what is committed
    assert (paths.CHNO.parent / "LICENSE").read_text().count("CC BY 4.0") == 1
    if (SHARED / "chno" / "chno_wb97x.extxyz").exists():
        assert _sha(SHARED / "chno" / "chno_wb97x.extxyz") == _sha(paths.CHNO)


def test_experiments_read_the_fetched_and_committed_locations():
    """No experiment, benchmark or sweep config reads ../shared directly (the data script
    only names it as an example of a local copy for --from)."""
    offenders = [
        f"{p.relative_to(ROOT)}"
        for top in ("experiments", "benchmarks", "configs")
        for p in (ROOT / top).rglob("*")
        if p.suffix in (".py", ".sh")
        and p != Path(fetch.__file__)
        and re.search(r"\.\./shared|\"\.\.\"\s*,\s*\"shared\"", p.read_text())
    ]
    assert not offenders, offenders


# ----------------------------------------------------------------------------- the reproduction


def test_the_documented_row_has_its_run_its_committed_row_and_its_data_paths():
    from experiments.learning_curves import prepare, reproduce

    spec = reproduce.run_spec("acac", "curve", "energy_only", 25, 0)
    assert (
        spec["name"] == "seed=0,n_train=25,num_steps=1000,config=energy_only"
        and spec["sweep"] == "acac"
    )
    assert Path(spec["workdir"]).parent == ROOT / "runs" / "reproduce" / "acac"
    (row,) = [
        r
        for r in reproduce.read_rows(
            ROOT / "experiments" / "learning_curves" / "results" / "acac.csv"
        )
        if r["name"] == spec["name"]
    ]
    assert row["status"] == "finished" and float(row["test_energy_mae"]) > 0
    o = spec["overrides"]
    # every file the run reads is written by prepare (data/learning_curves) or placed by fetch
    assert {
        (ROOT / o[k]).parent for k in ("data.train_path", "data.val_path", "data.test_path")
    } == {prepare.OUT}
    assert (
        ROOT / o["data.isolated_atoms_path"]
        == paths.PUBLIC_DATA / "botnet" / "acac" / "isolated_atoms.xyz"
    )
    assert "botnet/acac/isolated_atoms.xyz" in fetch.manifest()
    checks = reproduce.compare(
        {
            f"{t}_{m}": 1.01 * float(row[f"{t}_{m}"])
            for t in ("test", "test600")
            for m in reproduce.METRICS
        },
        row,
        ("test", "test600"),
        0.02,
    )
    assert len(checks) == 4 and all(c["ok"] for c in checks)
    off = {f"test_{m}": 1.03 * float(row[f"test_{m}"]) for m in reproduce.METRICS}
    assert not any(c["ok"] for c in reproduce.compare(off, row, ("test",), 0.02))


@pytest.mark.slow
@needs_shared
def test_data_preparation_of_the_documented_row_from_an_offline_copy(tmp_path):
    """fetch --from, then prepare: the run's training, validation and test sets (~30 s)."""
    from experiments.learning_curves import prepare, reproduce
    from orbjax.sweep import build_config
    from orbjax.training.data import split_structures

    public, out = tmp_path / "public", tmp_path / "learning_curves"
    assert fetch.main(["--from", str(SHARED), "--dest", str(public), "--only", "botnet/acac"]) == 0
    prepare.main(["--acac-only", "--out", str(out), "--acac", str(public / "botnet" / "acac")])
    spec = reproduce.run_spec("acac", "curve", "energy_only", 25, 0)
    config = build_config(spec)
    for key in ("train_path", "val_path", "test_path"):
        config.data[key] = str(out / Path(config.data[key]).name)
    config.data.extra_tests = f"test600={out / 'acac_test600.h5'}"
    config.data.isolated_atoms_path = str(public / "botnet" / "acac" / "isolated_atoms.xyz")
    splits = split_structures(config.data, config.seed)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (25, 50, 50)
    assert {len(v) for v in splits.extra_tests.values()} == {500}
    shutil.rmtree(tmp_path)
