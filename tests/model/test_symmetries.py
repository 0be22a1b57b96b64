"""Per-orbital (D·B·Dᵀ) equivariance of the orbital head. (Energy invariance and force/stress
equivariance over every model config: test_physics.py.)"""

import jax
import numpy as np
from scipy.spatial.transform import Rotation

from conftest import batch, init_params, make_model, molecule, run
from orbjax.model.orbital_basis import shell_block, wigner_d_tblite
from orbjax.orbitals import orbital_slot_table, shell_l_table


def transformed(s, rotation=np.eye(3), translation=np.zeros(3), perm=None):
    perm = np.arange(s.n_atoms) if perm is None else perm
    return s.replace(
        atomic_numbers=s.atomic_numbers[perm],
        positions=(s.positions[perm] @ rotation.T) + translation,
        cell=s.cell @ rotation.T,
    )


def _shell_irreps(model, params, graph):
    _, state = jax.jit(
        lambda p: model.apply(p, *_inputs(graph), with_heads=True, mutable=["intermediates"])
    )(params)
    (irreps,) = jax.tree.leaves(
        state["intermediates"]["orbital_populations_readout"]["shell_irreps_out"]
    )
    return np.asarray(irreps)  # [n_nodes, 3*1 + 2*3*5 + 3*9]


def _inputs(graph):
    from orbjax.model.predict import node_graph_index

    pos = graph.nodes["positions"]
    vec = pos[graph.senders] - pos[graph.receivers] + graph.edges["shifts"]
    return (
        vec,
        graph.nodes["atomic_numbers"],
        graph.senders,
        graph.receivers,
        node_graph_index(graph.n_node, pos.shape[0]),
        graph.globals["total_charge"],
    )


def _blocks(irreps_row):
    """Per shell slot k: the assembled p block (0e+2e) and d block (0e+2e+4e)."""
    s, q, h = irreps_row[:9], irreps_row[9:39].reshape(6, 5), irreps_row[39:].reshape(3, 9)
    p = [shell_block(np.concatenate([s[3 * k + 1 : 3 * k + 2], q[2 * k]]), 1) for k in range(3)]
    d = [
        shell_block(np.concatenate([s[3 * k + 2 : 3 * k + 3], q[2 * k + 1], h[k]]), 2)
        for k in range(3)
    ]
    return p, d


def test_orbital_populations_rotate_as_diag_DBDt(model_and_params):
    """Rotated prediction = diag(D·B·Dᵀ) of the unrotated prediction's on-site block."""
    model, params = model_and_params
    s = molecule(seed=4)
    rot = Rotation.random(random_state=7).as_matrix()
    g0, g1 = batch([s]), batch([transformed(s, rot)])
    pred0, pred1 = run(model, params, g0), run(model, params, g1)
    irreps0 = _shell_irreps(model, params, g0)
    slot_shell, slot_m = orbital_slot_table()
    l_table = shell_l_table()
    checked = set()
    for atom, z in enumerate(s.atomic_numbers):
        p_blocks, d_blocks = _blocks(irreps0[atom])
        for k, l in enumerate(l_table[z]):
            if l < 1:
                continue
            block = (p_blocks if l == 1 else d_blocks)[k]
            d = wigner_d_tblite(l, rot)
            expected = np.diag(d @ block @ d.T)
            slots = np.flatnonzero(slot_shell[z] == k)
            np.testing.assert_allclose(
                pred0["orbital_populations"][atom, slots] - _mean(model, z, slots),
                0.3 * np.diag(block),
                atol=1e-10,
            )  # diag(B) is what is predicted
            np.testing.assert_allclose(
                pred1["orbital_populations"][atom, slots] - _mean(model, z, slots),
                0.3 * expected,
                atol=1e-9,
            )
            checked.add((int(z), int(l)))
    assert {(16, 1), (16, 2), (29, 2), (29, 1), (8, 1)} <= checked
    # per-orbital values really change under rotation (otherwise the test proves nothing)
    assert np.abs(pred1["orbital_populations"] - pred0["orbital_populations"]).max() > 1e-3


def _mean(model, z, slots):
    from conftest import make_statistics

    stats = make_statistics()
    return stats.aux_mean("orbital_populations")[stats.species.index(int(z)), slots]


def test_invariant_orbital_head_cannot_follow_rotations(x64):
    """The invariant baseline predicts the same per-orbital values in every orientation.

    Real per-orbital populations change under rotation (tests/labels/test_xtb.py checks that
    on tblite), so this head can at best learn their rotational average, i.e. shell sums / (2l+1).
    That is the premise of the paper's equivariant-vs-invariant comparison.
    """
    model = make_model(orbital_head="invariant")
    s = molecule(seed=5)
    params = init_params(model, seed=2)
    rot = Rotation.random(random_state=11).as_matrix()
    a = run(model, params, batch([s]))["orbital_populations"]
    b = run(model, params, batch([transformed(s, rot)]))["orbital_populations"]
    np.testing.assert_allclose(a, b, atol=1e-10)
    eq = make_model()
    eq_params = init_params(eq, seed=2)
    c = run(eq, eq_params, batch([s]))["orbital_populations"]
    d = run(eq, eq_params, batch([transformed(s, rot)]))["orbital_populations"]
    assert np.abs(c - d).max() > 1e-3
