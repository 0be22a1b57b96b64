"""The chunked edge loop (`model.edge_chunk`, what a potential runs) computes what the whole
one does: same parameters, energies, forces, stress and auxiliary heads. (Training runs the
whole loop; parameter gradients through the chunks are not needed and not compiled here.)"""

import jax
import numpy as np
import pytest

from conftest import batch, init_params, make_model, molecule, periodic_cell
from orbjax.model.predict import predict


@pytest.mark.slow  # ~1 min on CI; the default suite keeps its quicker siblings
def test_chunked_edge_loop_changes_no_output(x64):
    """The orbital head on the last layer: every message irrep of every layer is computed
    (the scalars-only last layer of an energy call is chunked in `test_potential.py`). 7 edges
    per chunk: many chunks, the last one padded."""
    model, chunk = make_model(orbital_features="last_layer"), 7
    graph = batch([molecule(seed=3), periodic_cell()])
    n_edges = int(graph.senders.shape[0])
    params = init_params(model, seed=2)

    def outputs(model):
        return jax.jit(lambda p: predict(model, p, graph, with_heads=True, compute_stress=True))(
            params
        )

    ref = outputs(model)
    assert n_edges % chunk and n_edges > 2 * chunk
    chunked = model.clone(edge_chunk=chunk)
    # The same parameter tree and initial values: a model file serves both ways.
    same_init = init_params(chunked, seed=2)
    assert jax.tree.structure(same_init) == jax.tree.structure(params)
    jax.tree.map(np.testing.assert_array_equal, same_init, params)
    out = outputs(chunked)
    for key in (
        "energy",
        "forces",
        "stress",
        "orbital_populations",
        "spd_populations",
        "atomic_charges",
    ):
        np.testing.assert_allclose(out[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert np.abs(ref["forces"]).max() > 1e-3 and np.abs(ref["stress"]).max() > 1e-4  # non-trivial
