"""Padding graphs, nodes and edges change no output and no gradient."""

import jax
import jax.numpy as jnp
import numpy as np

from conftest import batch, molecule, periodic_cell
from orbjax.data.batching import PaddingBudget
from orbjax.model.build import with_statistics
from orbjax.model.predict import predict
from orbjax.training.losses import total_loss

WEIGHTS = {
    "energy": 1.0,
    "forces": 10.0,
    "atomic_charges": 1.0,
    "spd_populations": 1.0,
    "orbital_populations": 1.0,
}


def _labelled(s, rng):
    n = s.n_atoms
    from orbjax.orbitals import n_orbitals

    labels = {
        "energy": rng.normal(),
        "forces": rng.normal(size=(n, 3)),
        "xtb_charges": rng.normal(size=n),
        "xtb_orbital_populations": rng.normal(size=int(n_orbitals(s.atomic_numbers).sum())),
        "xtb_spd_populations": rng.normal(size=(n, 3)),
    }
    return s.replace(labels=labels)


def test_padding_changes_no_output_or_gradient(model_and_params):
    model, params = model_and_params
    rng = np.random.default_rng(0)
    structures = [_labelled(molecule(seed=8), rng), _labelled(periodic_cell(), rng)]
    tight = batch(structures)
    loose = batch(
        structures,
        PaddingBudget(
            int(tight.n_node.sum()) + 37,
            int(tight.n_edge.sum()) + 101,
            int(tight.n_node.shape[0]) + 3,
        ),
    )

    def loss_and_outputs(p, g):
        pred = predict(model, with_statistics(p, params), g, with_heads=True, compute_stress=True)
        return total_loss(g, pred, WEIGHTS)[0], pred

    fn = jax.jit(jax.value_and_grad(loss_and_outputs, has_aux=True))
    trained = {"params": params["params"]}
    (l1, p1), g1 = fn(trained, tight)
    (l2, p2), g2 = fn(trained, loose)
    n_atoms = sum(s.n_atoms for s in structures)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    np.testing.assert_allclose(p1["energy"][:2], p2["energy"][:2], rtol=1e-12)
    for key in ("forces", "orbital_populations", "spd_populations", "atomic_charges"):
        np.testing.assert_allclose(p1[key][:n_atoms], p2[key][:n_atoms], atol=1e-12)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(g2))
    assert float(l1) > 0
