"""The potential: the jit-able dense function and the ASE calculator agree, derivatives are
consistent (forces = −∇E, stress = (1/V) ∂E/∂ε), images are complete, bad input fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

import orbjax
from orbjax.data.batching import PaddingBudget, ladder_size, next_budget
from orbjax.data.neighbours import neighbour_list
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.potential import OrbjaxCalculator, UnknownElementError, required_images
from orbjax.potential.dense import dense_pairs, image_grid

ROOT = Path(__file__).resolve().parents[2]
E_REL, F_ABS = 1e-5, 1e-4  # energy relative, forces eV/Å


def train_tiny_model(tmp_path_factory) -> str:
    """Train configs/test.py for a few steps, once per test session (reused across files)."""
    from orbjax.config import load_config_module
    from orbjax.training.loop import train_and_evaluate

    workdir = tmp_path_factory.getbasetemp() / "tiny_potential_model"
    if not (workdir / "final_metrics.json").exists():
        config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
        config.train.num_steps = 4
        config.train.n_buckets = 1  # fewer shapes to compile
        config.train.eval_every = config.train.checkpoint_every = config.train.log_every = 4
        train_and_evaluate(config, str(workdir))
    return str(workdir)


@pytest.fixture(scope="module")
def potential(tmp_path_factory):
    return orbjax.load_potential(train_tiny_model(tmp_path_factory))


@pytest.fixture(scope="module")
def potential64(tmp_path_factory):
    return orbjax.load_potential(train_tiny_model(tmp_path_factory), dtype="float64")


@pytest.fixture(scope="module")
def molecule():
    s = max(read_structures(example_path(), keys=CHNO_KEYS), key=lambda s: s.n_atoms)  # 18 atoms
    return Atoms(numbers=s.atomic_numbers, positions=s.positions)


@pytest.fixture(scope="module")
def periodic(molecule):
    """The molecule in a skewed cell narrower than 2×cutoff (images matter), partly outside it."""
    atoms = molecule.copy()
    atoms.cell = [[7.0, 0.0, 0.0], [1.5, 6.5, 0.0], [0.8, -1.0, 6.8]]
    atoms.pbc = True
    atoms.positions += [3.0, -1.0, 4.0]
    return atoms


def calculate(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False) if atoms.pbc.any() else np.zeros((3, 3))
    return atoms.get_potential_energy(), atoms.get_forces(), stress


def assert_agree(energy, forces, ref_energy, ref_forces):
    assert abs(float(energy) - ref_energy) <= E_REL * abs(ref_energy)
    np.testing.assert_allclose(np.asarray(forces), ref_forces, atol=F_ABS)


# ----------------------------------------------------------------------------- dense pairs


@pytest.mark.parametrize(
    "pbc", [(True, True, True), (True, True, False), (False, False, True), (False,) * 3]
)
@pytest.mark.parametrize("width", [4.0, 7.0, 12.0])  # Å: cells narrower and wider than 2×cutoff
def test_dense_pairs_within_cutoff_are_exactly_the_neighbour_list(pbc, width):
    rng = np.random.default_rng(int(width))
    cell = np.array([[width, 0, 0], [0.3 * width, width, 0], [-0.2 * width, 0.1 * width, width]])
    positions = rng.uniform(-0.3, 1.3, (16, 3)) @ cell  # some atoms outside the cell
    cutoff, pbc = 5.0, np.array(pbc)
    images = image_grid(required_images(cell, pbc, cutoff, np))
    senders, receivers, shifts, valid = dense_pairs(
        jnp.asarray(positions), jnp.asarray(cell), pbc, images
    )
    d = np.linalg.norm(positions[senders] - positions[receivers] + np.asarray(shifts), axis=1)
    keep = (d > 0) & (d < cutoff) & np.asarray(valid)
    ref_s, ref_r, ref_shift = neighbour_list(positions, cell, pbc, cutoff)
    ref_d = np.linalg.norm(positions[ref_s] - positions[ref_r] + ref_shift, axis=1)
    assert keep.sum() == len(ref_s) > 0
    ours = np.lexsort((d[keep], receivers[keep], senders[keep]))
    theirs = np.lexsort((ref_d, ref_r, ref_s))
    np.testing.assert_array_equal(senders[keep][ours], ref_s[theirs])
    np.testing.assert_array_equal(receivers[keep][ours], ref_r[theirs])
    np.testing.assert_allclose(d[keep][ours], ref_d[theirs], atol=1e-4)  # float32 inside JAX


def test_the_public_names_resolve_and_hold_no_helpers():
    """`from orbjax.potential import *` gives what a user calls or catches, nothing internal."""
    import orbjax.potential

    assert all(getattr(orbjax.potential, name) is not None for name in orbjax.potential.__all__)
    helpers = {
        "FAR",
        "DTYPES",
        "next_budget",
        "image_grid",
        "dense_pairs",
        "dense_graph",
        "lattice_frame",
    }
    assert not helpers & set(orbjax.potential.__all__)
    assert {"load_potential", "Potential", "OrbjaxCalculator"} <= set(orbjax.potential.__all__)


def test_required_images_follow_the_plane_spacing():
    cubic = lambda a: np.eye(3) * a  # noqa: E731
    assert required_images(cubic(10.1), np.ones(3, bool), 5.0, np).tolist() == [0, 0, 0]
    assert required_images(cubic(6.0), np.ones(3, bool), 5.0, np).tolist() == [1, 1, 1]
    assert required_images(cubic(3.0), np.array([True, False, True]), 5.0, np).tolist() == [2, 0, 2]


# ----------------------------------------------------------------------------- pure function


@pytest.mark.parametrize("system", ["molecule", "periodic"])
def test_jit_of_vmap_agrees_with_the_calculator(potential, system, request):
    atoms = request.getfixturevalue(system)
    z, cell, pbc = atoms.numbers, atoms.cell.array, atoms.pbc
    # Å
    geometries = atoms.positions + 0.05 * np.random.default_rng(1).normal(size=(3, len(atoms), 3))
    if atoms.pbc.all():  # the same structure with one atom moved by a lattice vector
        geometries[2] = geometries[0]
        geometries[2, 3] += cell[0] - 2 * cell[2]
    calc = OrbjaxCalculator(potential)
    refs = [calculate(calc, _moved(atoms, x)) for x in geometries]
    assert np.abs(refs[1][1] - refs[0][1]).max() > 100 * F_ABS  # the geometries really differ

    batch = jax.jit(jax.vmap(lambda x: potential.energy_forces_stress(x, z, cell, pbc)))(geometries)
    for i, (e, f, s) in enumerate(refs):
        assert_agree(batch["energy"][i], batch["forces"][i], e, f)
        np.testing.assert_allclose(np.asarray(batch["stress"][i]), s, atol=1e-6)
    if atoms.pbc.all():
        assert_agree(
            batch["energy"][2],
            batch["forces"][2],
            float(batch["energy"][0]),
            np.asarray(batch["forces"][0]),
        )


def test_forces_are_minus_the_gradient_of_its_own_energy(potential, molecule):
    z, x = molecule.numbers, jnp.asarray(molecule.positions, jnp.float32)
    grad = jax.grad(lambda x: potential.energy_forces_stress(x, z)["energy"])(x)
    forces = potential.energy_forces_stress(x, z)["forces"]
    assert np.abs(np.asarray(forces)).max() > 100 * F_ABS
    np.testing.assert_allclose(-np.asarray(grad), np.asarray(forces), atol=F_ABS)


def _moved(atoms, positions):
    atoms = atoms.copy()
    atoms.positions = positions
    return atoms


def test_traced_cell_uses_max_images_and_flags_too_few(potential, periodic):
    args = (periodic.positions, periodic.numbers, periodic.cell.array, periodic.pbc)
    e_ref, f_ref, _ = calculate(OrbjaxCalculator(potential), periodic)
    # default (0, 0, 0): too few
    assert np.isnan(jax.jit(potential.energy_forces_stress)(*args)["energy"])
    with_images = jax.jit(potential.replace(max_images=1).energy_forces_stress)
    out = with_images(*args)
    assert_agree(out["energy"], out["forces"], e_ref, f_ref)
    wide = periodic.copy()
    wide.cell = np.eye(3) * 10.5  # wider than 2×cutoff: the minimum image is enough
    wide_args = (wide.positions, wide.numbers, wide.cell.array, wide.pbc)
    out = jax.jit(potential.energy_forces_stress)(*wide_args)
    ref = with_images(*wide_args)
    assert_agree(out["energy"], out["forces"], float(ref["energy"]), np.asarray(ref["forces"]))


def test_molecule_has_zero_stress_and_the_calculator_none(potential, molecule):
    out = potential.energy_forces_stress(molecule.positions, molecule.numbers)
    assert np.all(np.asarray(out["stress"]) == 0.0)
    atoms = molecule.copy()
    atoms.calc = OrbjaxCalculator(potential)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


# ----------------------------------------------------------------------------- stress


def test_calculator_stress_is_the_strain_derivative_of_the_energy(potential64, periodic):
    calc = OrbjaxCalculator(potential64)
    atoms = periodic.copy()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    volume, h = atoms.get_volume(), 1e-5
    numeric = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * h
                strained = periodic.copy()
                strained.set_cell(periodic.cell.array @ strain, scale_atoms=False)
                strained.positions = periodic.positions @ strain
                energies.append(calculate(calc, strained)[0])
            numeric[i, j] = (energies[0] - energies[1]) / (2 * h) / volume
    numeric = 0.5 * (numeric + numeric.T)
    assert np.abs(stress).max() > 1e-4  # not trivially zero
    np.testing.assert_allclose(stress, numeric, atol=1e-6 + 1e-4 * np.abs(stress).max())
    assert not jax.config.jax_enable_x64  # the float64 calculator left the global setting alone


def test_float64_needs_x64_explicitly_and_agrees_with_float32(potential64, potential, molecule):
    pot64 = potential64
    args = (molecule.positions, molecule.numbers)
    with pytest.raises(RuntimeError, match="x64"):
        pot64.energy_forces_stress(*args)
    with jax.enable_x64(True):
        out = pot64.energy_forces_stress(*args)
        assert out["energy"].dtype == jnp.float64
        e64, f64 = float(out["energy"]), np.asarray(out["forces"])
    ref = potential.energy_forces_stress(*args)
    assert_agree(ref["energy"], ref["forces"], e64, f64)


# ----------------------------------------------------------------------------- jax-md


def test_jax_md_energy_fn_gradient_is_minus_the_forces(potential, periodic):
    energy = potential.jax_md_energy_fn(periodic.numbers, periodic.cell.array, periodic.pbc)
    x = jnp.asarray(periodic.positions, jnp.float32)
    e_ref, f_ref, _ = calculate(OrbjaxCalculator(potential), periodic)
    e, grad = jax.jit(jax.value_and_grad(lambda x: energy(x, neighbor=None)))(x)
    assert_agree(e, -grad, e_ref, f_ref)
    with pytest.raises(NotImplementedError, match="box"):
        energy(x, box=np.eye(3))


# ----------------------------------------------------------------------------- bad input


def test_unknown_elements_are_named_before_any_computation(potential, molecule):
    z = molecule.numbers.copy()
    z[0], z[1] = 29, 9  # Cu, F
    for call in (
        lambda: potential.energy_forces_stress(molecule.positions, z),
        lambda: potential.jax_md_energy_fn(z),
        lambda: calculate(
            OrbjaxCalculator(potential), Atoms(numbers=z, positions=molecule.positions)
        ),
    ):
        with pytest.raises(
            UnknownElementError,
            match=r"trained on H \(Z=1\), C \(Z=6\).* only: F \(Z=9\), Cu \(Z=29\) in ",
        ):
            call()
    traced = jax.jit(lambda z: potential.energy_forces_stress(molecule.positions, z)["energy"])
    assert np.isnan(traced(z)) and np.isfinite(traced(molecule.numbers))


def test_load_potential_without_a_run_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoints"):
        orbjax.load_potential(tmp_path)


# ----------------------------------------------------------------------------- calculator budgets


def test_padding_budget_grows_geometrically_and_is_kept_while_it_fits():
    assert [ladder_size(x) for x in (1, 17, 25, 33, 49, 97, 1000)] == [
        16,
        20,
        28,
        40,
        56,
        112,
        1024,
    ]
    b = next_budget(None, 18, 300)
    assert b.fits(18, 300, 1) and b.n_edge >= 1.1 * 300
    assert next_budget(b, 18, 320) is b  # MD: a few more edges, same shape, no recompilation
    grown = next_budget(b, 18, b.n_edge + 1)
    assert grown.n_edge >= 1.1 * (b.n_edge + 1) and grown.n_node == b.n_node
    assert next_budget(PaddingBudget(4096, 65536, 2), 18, 300) == b  # far too large: shrink
    # The ladder 2^k × {1, 1.25, 1.5, 1.75}: never short, at most 1.25× what is asked for.
    for x in list(range(16, 300)) + [4961, 62636, 1_234_567]:
        size = ladder_size(x)
        assert x <= size <= 1.25 * x and size / 2 ** int(np.log2(size)) in (1.0, 1.25, 1.5, 1.75)


def test_calculator_compiles_once_for_small_moves(potential, periodic):
    calc = OrbjaxCalculator(potential)
    atoms = periodic.copy()
    atoms.calc = calc
    rng = np.random.default_rng(0)
    atoms.get_forces()
    before = calc.n_compilations
    for _ in range(5):
        atoms.positions += 0.02 * rng.normal(size=atoms.positions.shape)
        atoms.get_forces()
    assert calc.n_compilations == before
    atoms.calc = OrbjaxCalculator(potential)  # a new calculator reuses the compiled function
    atoms.get_forces()
    assert calc.n_compilations == before


# --------------------------------------------------------------------------- a host program's flags


# A program with absl flags of its own, named like those of `python -m orbjax.train`.
# Loading a potential must not register flags (it used to import train.py: DuplicateFlagError).
ABSL_PROGRAM = r"""
import json
from absl import app, flags
from ml_collections import config_flags
import orbjax

flags.DEFINE_string("workdir", None, "this program's own workdir flag")
config_flags.DEFINE_config_file("config", None, "this program's own config flag")


def main(argv):
    potential = orbjax.load_potential(flags.FLAGS.workdir)
    print(json.dumps({"step": potential.step}))


app.run(main)
"""


def test_a_program_with_its_own_absl_flags_can_load_a_potential(tmp_path_factory):
    workdir = train_tiny_model(tmp_path_factory)
    done = subprocess.run(
        [sys.executable, "-c", ABSL_PROGRAM, "--workdir", workdir],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"step": 4}


def test_descriptors_are_invariant_and_give_the_atomic_energies(potential, periodic):
    """The latent features: rotation-invariant, permuted with the atoms, and exactly what the
    energy readout reads (readout(features) summed = the potential's energy)."""
    import e3nn_jax as e3nn
    from scipy.spatial.transform import Rotation

    from orbjax.model.readouts import ScalarMLP

    z, x, cell = periodic.numbers, periodic.positions, periodic.cell.array
    features = potential.descriptors(x, z, cell, periodic.pbc)
    assert features.shape == (len(periodic), potential.model.config.channels)
    assert np.abs(features).max() > 1e-3  # not a zero array
    rot = Rotation.from_euler("zyx", [0.3, -1.1, 2.0]).as_matrix()
    np.testing.assert_allclose(
        potential.descriptors(x @ rot.T, z, cell @ rot.T, periodic.pbc),
        features,
        rtol=1e-4,
        atol=1e-5,
    )
    perm = np.random.default_rng(0).permutation(len(periodic))
    np.testing.assert_allclose(
        potential.descriptors(x[perm], z[perm], cell, periodic.pbc),
        features[perm],
        rtol=1e-4,
        atol=1e-5,
    )
    stats = potential.statistics
    species = np.asarray(stats.z_to_species())[z]
    raw = ScalarMLP(1, potential.model.config.readout_hidden).apply(
        {"params": potential.params["params"]["energy_readout"]},
        e3nn.IrrepsArray(f"{features.shape[1]}x0e", jnp.asarray(features)),
    )[:, 0]
    energy = float(
        np.sum(
            np.asarray(stats.atomic_energies[0])[species] + stats.energy_scale[0] * np.asarray(raw)
        )
    )
    ref = float(potential.energy_forces_stress(x, z, cell, periodic.pbc)["energy"])
    assert energy == pytest.approx(ref, rel=1e-5, abs=1e-4)


def test_edge_chunks_change_no_result(potential, periodic):
    """The potential's edge loop runs in chunks of `EDGE_CHUNK` edges by default (large MD);
    any chunk size gives what the whole loop gives."""
    from orbjax.potential.core import EDGE_CHUNK

    whole, small = potential.replace(edge_chunk=0), potential.replace(edge_chunk=64)
    assert (
        potential.edge_chunk == EDGE_CHUNK > 0 and whole.edge_chunk == 0 and small.edge_chunk == 64
    )
    e0, f0, s0 = calculate(OrbjaxCalculator(whole), periodic)
    e1, f1, s1 = calculate(OrbjaxCalculator(small), periodic)
    assert_agree(e1, f1, e0, f0)
    np.testing.assert_allclose(s1, s0, atol=1e-6)
    z, cell, pbc = periodic.numbers, periodic.cell.array, periodic.pbc
    # all pairs × images: many chunks
    dense = small.energy_forces_stress(periodic.positions, z, cell, pbc)
    assert_agree(dense["energy"], dense["forces"], e0, f0)
    with pytest.raises(ValueError, match="edge_chunk"):
        potential.replace(edge_chunk=-1)
