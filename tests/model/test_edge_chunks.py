"""The chunked edge loop (`model.edge_chunk`) computes what the whole one does: same
parameters, energies, forces, stress, charge heads and parameter gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import batch, make_model, molecule, periodic_cell
from orbjax.model.predict import predict
from orbjax.training.factories import init_params


@pytest.mark.parametrize("orbital_features", ["previous_layer", "last_layer"])
def test_chunked_edge_loop_changes_no_output_or_gradient(x64, orbital_features):
    model = make_model(orbital_features=orbital_features)
    graph = batch([molecule(seed=3), periodic_cell()])
    n_edges = int(graph.senders.shape[0])
    params = init_params(model, graph, seed=2)

    def loss_and_outputs(model, p):
        pred = predict(model, p, graph, with_heads=True, compute_stress=True)
        loss = jnp.sum(pred["energy"] ** 2) + jnp.sum(pred["forces"] ** 2) + jnp.sum(pred["orbital_populations"] ** 2)
        return loss, pred

    (ref_loss, ref), ref_grad = jax.jit(jax.value_and_grad(lambda p: loss_and_outputs(model, p), has_aux=True))(params)
    # 7 and 13 edges per chunk: the last chunk is padded; n_edges + 5: one chunk, padded.
    for chunk in (7, 13, n_edges + 5):
        chunked = model.clone(edge_chunk=chunk)
        # The same parameter tree and initial values: a model file serves both ways.
        same_init = init_params(chunked, graph, seed=2)
        assert jax.tree.structure(same_init) == jax.tree.structure(params)
        jax.tree.map(np.testing.assert_array_equal, same_init, params)
        (loss, out), grad = jax.jit(jax.value_and_grad(lambda p: loss_and_outputs(chunked, p), has_aux=True))(params)
        for key in ("energy", "forces", "stress", "orbital_populations", "spd_populations", "atomic_charges"):
            np.testing.assert_allclose(out[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=f"{key}, chunk {chunk}")
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), grad, ref_grad)
    assert np.abs(ref["forces"]).max() > 1e-3  # a non-trivial comparison
