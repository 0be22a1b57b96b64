"""The physics every model config must obey, run over several tiny configs (as nequip does).

Energy invariance and force/stress equivariance under rotation, translation and permutation;
forces = −∂E/∂x and stress = (1/V) ∂E/∂ε by finite differences; padding changes nothing;
locality (molecules farther apart than cutoff × layers do not interact). A config switch
that breaks one of these (a head that leaks into the energy, a chunked loop that drops
edges, a float32 cast in the wrong place) fails here, not in a trained model's MD.

Every call of one config is padded to one budget, so each config compiles once (plus once
for the padding test's loose budget).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import CUTOFF, batch, init_params, make_model, molecule, periodic_cell, run
from orbjax.data.batching import PaddingBudget
from orbjax.data.structures import Structure
from orbjax.orbitals import spd_sums

BUDGET = PaddingBudget(n_node=16, n_edge=192, n_graph=3)  # two 7-atom molecules, or one + the cell
LOOSE = PaddingBudget(n_node=16 + 37, n_edge=192 + 101, n_graph=3 + 3)
HEADS = ("atomic_charges", "spd_populations")  # per-atom scalars: invariant, permuted with atoms


@dataclasses.dataclass(frozen=True)
class Config:
    """A model variant and the tolerances its compute dtype allows."""

    model: dict = dataclasses.field(default_factory=dict)  # ModelConfig fields
    edge_chunk: int = 0
    dtype: type = jnp.float64
    exact: float = 1e-10  # invariance, padding, locality: same numbers up to rounding
    step: float = 1e-5  # finite-difference step (Å, strain)
    fd_rtol: float = 1e-5
    fd_atol: float = 1e-7


CONFIGS = {
    "default": Config(),
    "last_layer_head": Config(model=dict(orbital_features="last_layer")),
    "invariant_head": Config(model=dict(orbital_head="invariant")),
    "charge_neutral": Config(model=dict(charge_neutral=True)),
    # 7 edges a chunk: many chunks, the last one padded; the head on the last layer, so the
    # chunked loop computes every message irrep of every layer.
    "edge_chunks": Config(model=dict(orbital_features="last_layer"), edge_chunk=7),
    # What a trained model computes in unless asked otherwise. Central differences of a
    # float32 energy: rounding ~1e-7 |E| / step, so a larger step and looser tolerances.
    "float32": Config(dtype=jnp.float32, exact=5e-6, step=1e-3, fd_rtol=1e-3, fd_atol=2e-5),
}


@functools.lru_cache(maxsize=None)
def _initial_params(orbital_head: str, orbital_features: str):
    """Initialised once per parameter tree (`charge_neutral`, `edge_chunk` and the dtype
    change no parameter): the init compile is the largest cost of a config."""
    model = make_model(orbital_head=orbital_head, orbital_features=orbital_features)
    return init_params(model, seed=1)


@functools.lru_cache(maxsize=None)
def model_and_params(name: str):
    config = CONFIGS[name]
    model = make_model(dtype=config.dtype, **config.model).clone(edge_chunk=config.edge_chunk)
    params = _initial_params(model.config.orbital_head, model.config.orbital_features)
    params = {**params, "params": jax.tree.map(lambda x: x.astype(config.dtype), params["params"])}
    return model, params


@pytest.fixture(scope="class", params=list(CONFIGS))
def setup(request, x64):
    return *model_and_params(request.param), CONFIGS[request.param]


def predict(setup, structures, budget=BUDGET):
    model, params, config = setup
    return run(model, params, batch(structures, budget, config.dtype), compute_stress=True)


def transformed(s, rotation=np.eye(3), translation=np.zeros(3), perm=None):
    perm = np.arange(s.n_atoms) if perm is None else perm
    return s.replace(
        atomic_numbers=s.atomic_numbers[perm],
        positions=(s.positions[perm] @ rotation.T) + translation,
        cell=s.cell @ rotation.T,
    )


def network_energy(setup, s) -> float:
    """The energy without Σ E0 (a constant of the atoms): less float32 rounding to difference."""
    return float(predict(setup, [s])["network_energy"][0])


class TestPhysics:
    """Each test runs once per entry of CONFIGS (the class-scoped `setup` fixture)."""

    @pytest.mark.parametrize("make", [molecule, periodic_cell])
    def test_energy_invariant_forces_and_stress_equivariant(self, setup, make):
        """Rotate, translate and permute: same energy and per-atom scalars, rotated forces and
        stress, same s/p/d totals of the orbital populations (the trace of each shell's D·B·Dᵀ)."""
        tol = setup[2].exact
        s = make()
        rot = Rotation.random(random_state=3).as_matrix()
        perm = np.random.default_rng(0).permutation(s.n_atoms)
        ref = predict(setup, [s])
        out = predict(setup, [transformed(s, rot, np.array([0.3, -1.2, 2.0]), perm)])
        n = s.n_atoms
        scale = max(1.0, abs(float(ref["energy"][0])))
        np.testing.assert_allclose(out["energy"][0], ref["energy"][0], rtol=0, atol=tol * scale)
        np.testing.assert_allclose(out["forces"][:n], ref["forces"][:n][perm] @ rot.T, atol=tol)
        np.testing.assert_allclose(out["stress"][0], rot @ ref["stress"][0] @ rot.T, atol=tol)
        for head in HEADS:
            np.testing.assert_allclose(out[head][:n], ref[head][:n][perm], atol=tol, err_msg=head)
        np.testing.assert_allclose(
            spd_sums(s.atomic_numbers[perm], out["orbital_populations"][:n]),
            spd_sums(s.atomic_numbers, ref["orbital_populations"][:n])[perm],
            atol=tol,
        )
        assert np.abs(ref["forces"][:n]).max() > 1e-3  # not vacuous
        assert (np.abs(ref["stress"][0]).max() > 1e-4) == s.is_periodic

    @pytest.mark.parametrize("make", [molecule, periodic_cell])
    def test_forces_are_minus_the_energy_gradient(self, setup, make):
        config = setup[2]
        s = make(seed=2)
        forces = predict(setup, [s])["forces"][: s.n_atoms]
        h = config.step
        rng = np.random.default_rng(0)
        for atom, axis in zip(rng.integers(0, s.n_atoms, 3), rng.integers(0, 3, 3)):
            plus, minus = s.positions.copy(), s.positions.copy()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            fd = -(
                network_energy(setup, s.replace(positions=plus))
                - network_energy(setup, s.replace(positions=minus))
            ) / (2 * h)
            np.testing.assert_allclose(
                forces[atom, axis],
                fd,
                rtol=config.fd_rtol,
                atol=config.fd_atol,
                err_msg=f"atom {atom} axis {axis}",
            )
        assert np.abs(forces).max() > 1e-3

    def test_stress_is_the_strain_derivative(self, setup):
        config = setup[2]
        s = periodic_cell()
        stress = predict(setup, [s])["stress"][0]
        volume = abs(np.linalg.det(s.cell))
        h = config.step
        for i, j in [(0, 0), (1, 2), (2, 1), (0, 1)]:
            energies = []
            for sign in (1, -1):
                strain = np.zeros((3, 3))
                strain[i, j] += sign * h / 2
                strain[j, i] += sign * h / 2
                deform = np.eye(3) + strain
                energies.append(
                    network_energy(
                        setup, s.replace(positions=s.positions @ deform, cell=s.cell @ deform)
                    )
                )
            fd = (energies[0] - energies[1]) / (2 * h) / volume
            np.testing.assert_allclose(
                stress[i, j],
                fd,
                rtol=config.fd_rtol,
                atol=config.fd_atol / volume,
                err_msg=f"stress[{i}, {j}]",
            )
        np.testing.assert_allclose(stress, stress.T, atol=config.exact)
        assert np.abs(stress).max() > 1e-4

    def test_padding_changes_no_output(self, setup):
        """More padding nodes, edges and graphs: the same numbers for the real ones."""
        tol = setup[2].exact
        structures = [molecule(seed=8), periodic_cell()]
        tight, loose = predict(setup, structures), predict(setup, structures, LOOSE)
        n = sum(s.n_atoms for s in structures)
        for key, m in [
            ("energy", 2),
            ("stress", 2),
            ("forces", n),
            ("orbital_populations", n),
            *((head, n) for head in HEADS),
        ]:
            np.testing.assert_allclose(
                loose[key][:m], tight[key][:m], rtol=tol, atol=tol, err_msg=key
            )

    def test_molecules_beyond_the_receptive_field_do_not_interact(self, setup):
        """Two molecules farther apart than cutoff × layers, as one structure: the energy is
        the sum of theirs, forces and heads are theirs (nequip's large-separation test).
        `charge_neutral` spreads one structure's excess charge over all its atoms, so there
        only the energy, forces and s/p/d populations are local."""
        model, _, config = setup
        a, b = molecule(seed=2), molecule(seed=8)
        apart = CUTOFF * model.config.n_layers + 4.0  # clusters span < 3.2 Å: gap > cutoff × layers

        def joined(offset):
            return Structure(
                np.concatenate([a.atomic_numbers, b.atomic_numbers]),
                np.concatenate([a.positions, b.positions + [offset, 0.0, 0.0]]),
            )

        alone, together = predict(setup, [a, b]), predict(setup, [joined(apart)])
        n, tol = a.n_atoms + b.n_atoms, config.exact
        scale = max(1.0, abs(float(together["energy"][0])))
        np.testing.assert_allclose(
            together["energy"][0], alone["energy"][:2].sum(), rtol=0, atol=tol * scale
        )
        keys = ("forces", "spd_populations", "orbital_populations")
        for key in keys + (() if model.config.charge_neutral else ("atomic_charges",)):
            np.testing.assert_allclose(together[key][:n], alone[key][:n], atol=tol, err_msg=key)
        near = predict(setup, [joined(CUTOFF)])  # within the cutoff: they do interact
        assert abs(float(near["energy"][0] - together["energy"][0])) > 1e-4


def test_charge_neutral_charges_sum_to_the_total_charge(x64):
    """`charge_neutral=True`: each structure's atomic charges sum to its total charge, by
    one shift per structure of the charges the same parameters predict without it."""
    structures = [molecule(seed=2).replace(charge=1.0), molecule(seed=8).replace(charge=-2.0)]
    raw = predict((*model_and_params("default"), CONFIGS["default"]), structures)["atomic_charges"]
    setup = (*model_and_params("charge_neutral"), CONFIGS["charge_neutral"])
    charges = predict(setup, structures)["atomic_charges"]
    ends = np.cumsum([s.n_atoms for s in structures])
    for s, start, end in zip(structures, ends - [s.n_atoms for s in structures], ends):
        np.testing.assert_allclose(charges[start:end].sum(), s.charge, atol=1e-10, err_msg=s.name)
        shift = charges[start:end] - raw[start:end]
        np.testing.assert_allclose(shift, shift[0], atol=1e-12, err_msg=s.name)
        assert abs(raw[start:end].sum() - s.charge) > 1e-3, "the switch had nothing to do"
