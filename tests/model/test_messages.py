"""The batched-matmul messages of `orbjax.model.blocks` against e3nn-jax's own tensor product."""

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from orbjax.model.blocks import (
    _gate_input_irreps,
    aggregate_messages,
    message_layout,
    weight_groups,
)
from orbjax.model.radial import RadialMLP


def reference(h, sh, hidden, gate, weights, senders, receivers, n_nodes):
    """The straightforward formulation the fast path replaces."""
    hs = h[senders]
    messages = e3nn.concatenate(
        [hs.filter(keep=hidden), e3nn.tensor_product(hs, sh, filter_ir_out=gate)]
    ).regroup()
    return e3nn.scatter_sum(messages * weights, dst=receivers, output_size=n_nodes)


def split(weights, layout, only=None):
    """[n_edges, all message irreps] → the per-irrep list `aggregate_messages` takes."""
    return [weights[:, start:stop] for start, stop in weight_groups(layout, only)]


@pytest.mark.parametrize(
    "h_irreps, l_max",
    [
        ("6x0e", 2),
        ("6x0e+6x1o+6x2e", 2),
        pytest.param("4x0e+4x1o+4x2e+4x3o", 3, marks=pytest.mark.slow),  # ~1 min on CI
    ],
)
def test_messages_match_e3nn(h_irreps, l_max):
    rng = np.random.default_rng(0)
    mul = e3nn.Irreps(h_irreps)[0].mul
    hidden = e3nn.Irreps(
        "+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(l_max + 1))
    )
    gate = _gate_input_irreps(hidden)
    n_nodes, n_edges = 5, 17
    h = e3nn.IrrepsArray(
        h_irreps, jnp.asarray(rng.normal(size=(n_nodes, e3nn.Irreps(h_irreps).dim)), jnp.float32)
    )
    sh = e3nn.spherical_harmonics(
        e3nn.Irreps.spherical_harmonics(l_max),
        jnp.asarray(rng.normal(size=(n_edges, 3))),
        normalize=True,
        normalization="component",
    )
    senders = jnp.asarray(rng.integers(0, n_nodes, n_edges))
    receivers = jnp.asarray(rng.integers(0, n_nodes, n_edges))
    layout = message_layout(str(h.irreps), str(sh.irreps), str(hidden), str(gate))
    weights = jnp.asarray(rng.normal(size=(n_edges, layout.irreps.num_irreps)), jnp.float32)
    expected = reference(h, sh, hidden, gate, weights, senders, receivers, n_nodes)
    got = aggregate_messages(layout, h, sh, split(weights, layout), senders, receivers, n_nodes)
    assert got.irreps == expected.irreps
    np.testing.assert_allclose(got.array, expected.array, rtol=1e-5, atol=1e-5)

    # Gradients too (forces and training differentiate through the messages).
    def loss(fn, h_array, sh_array):
        out = fn(e3nn.IrrepsArray(h.irreps, h_array), e3nn.IrrepsArray(sh.irreps, sh_array))
        return jnp.sum(jnp.tanh(out.array))

    def fast(h_, sh_):
        return aggregate_messages(
            layout, h_, sh_, split(weights, layout), senders, receivers, n_nodes
        )

    def slow(h_, sh_):
        return reference(h_, sh_, hidden, gate, weights, senders, receivers, n_nodes)

    for a, b in zip(
        jax.grad(loss, (1, 2))(fast, h.array, sh.array),
        jax.grad(loss, (1, 2))(slow, h.array, sh.array),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_only_scalars_skips_the_rest_and_keeps_scalars_exact():
    rng = np.random.default_rng(1)
    hidden = e3nn.Irreps("4x0e+4x1o+4x2e")
    gate = _gate_input_irreps(hidden)
    h = e3nn.IrrepsArray(hidden, jnp.asarray(rng.normal(size=(4, hidden.dim)), jnp.float32))
    sh = e3nn.spherical_harmonics(
        "0e+1o+2e", jnp.asarray(rng.normal(size=(9, 3))), normalize=True, normalization="component"
    )
    s, r = jnp.asarray(rng.integers(0, 4, 9)), jnp.asarray(rng.integers(0, 4, 9))
    layout = message_layout(str(h.irreps), str(sh.irreps), str(hidden), str(gate))
    w = jnp.asarray(rng.normal(size=(9, layout.irreps.num_irreps)), jnp.float32)
    full = aggregate_messages(layout, h, sh, split(w, layout), s, r, 4)
    only = (e3nn.Irrep("0e"),)
    groups = weight_groups(layout, only)
    assert sum(stop - start for start, stop in groups) < layout.irreps.num_irreps
    scalars = aggregate_messages(layout, h, sh, split(w, layout, only), s, r, 4, only=only)
    assert scalars.zero_flags == tuple(ir.l > 0 for _, ir in layout.irreps)
    np.testing.assert_allclose(
        scalars.filter(keep="0e").array, full.filter(keep="0e").array, rtol=1e-6
    )


def test_radial_mlp_is_e3nn_mlp_and_columns_select_outputs():
    """Same parameter tree, initial values and outputs as e3nn's MLP; `columns` = a slice."""
    x = jnp.asarray(np.random.default_rng(2).normal(size=(7, 8)), jnp.float32)
    ours = RadialMLP((16, 16, 12))
    theirs = e3nn.flax.MultiLayerPerceptron([16, 16, 12], act=jax.nn.silu, output_activation=False)
    params = ours.init(jax.random.PRNGKey(0), x)
    params_e3nn = theirs.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(params) == jax.tree.structure(params_e3nn)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params_e3nn)):
        np.testing.assert_array_equal(a, b)
    full = ours.apply(params, x)
    np.testing.assert_allclose(full, theirs.apply(params, x), rtol=1e-5, atol=1e-6)
    groups = ((0, 3), (5, 12))
    for got, (start, stop) in zip(ours.apply(params, x, groups), groups):
        np.testing.assert_allclose(got, full[:, start:stop], rtol=1e-5, atol=1e-6)
