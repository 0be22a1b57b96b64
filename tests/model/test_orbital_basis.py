"""The e3nn-jax ↔ tblite change of basis, checked against explicit harmonics and tblite itself."""

import e3nn_jax as e3nn
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from orbjax.data.structures import Structure
from orbjax.model.orbital_basis import (
    diagonal_coupling,
    shell_block,
    to_tblite_frame,
    wigner_d_tblite,
)


def tblite_real_harmonics(l, unit):
    """tblite's normalised real harmonics: p = (y, z, x); d = (xy, yz, z², xz, x²−y²)."""
    x, y, z = unit.T
    if l == 1:
        return np.stack([y, z, x], 1)
    s3 = np.sqrt(3.0)
    return np.stack(
        [s3 * x * y, s3 * y * z, (3 * z**2 - 1) / 2, s3 * x * z, s3 / 2 * (x**2 - y**2)], 1
    )


@pytest.mark.parametrize("l", [1, 2])
def test_e3nn_in_tblite_frame_is_tblite_order(l):
    unit = np.random.default_rng(l).normal(size=(20, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sh = e3nn.spherical_harmonics(
        f"{l}e" if l % 2 == 0 else f"{l}o",
        to_tblite_frame(jnp.asarray(unit)),
        normalize=True,
        normalization="component",
    ).array / np.sqrt(2 * l + 1)
    np.testing.assert_allclose(sh, tblite_real_harmonics(l, unit), atol=1e-6)
    # ...and plain Cartesian input would NOT be (the frame matters):
    plain = e3nn.spherical_harmonics(
        f"{l}e" if l % 2 == 0 else f"{l}o",
        jnp.asarray(unit),
        normalize=True,
        normalization="component",
    ).array / np.sqrt(2 * l + 1)
    assert np.abs(plain - tblite_real_harmonics(l, unit)).max() > 0.1


@pytest.mark.parametrize("l", [1, 2])
def test_wigner_d_rotates_tblite_harmonics(l):
    rot = Rotation.random(random_state=l).as_matrix()
    unit = np.random.default_rng(0).normal(size=(30, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    d = wigner_d_tblite(l, rot)
    np.testing.assert_allclose(
        tblite_real_harmonics(l, unit @ rot.T), tblite_real_harmonics(l, unit) @ d.T, atol=1e-5
    )


@pytest.mark.parametrize("l", [1, 2])
def test_block_assembly(l):
    """B(x) is symmetric, its diagonal is diagonal_coupling·x, its trace is (2l+1)·x_0e,
    and rotating the irreps rotates the block: B(D_L x) = D_l B(x) D_lᵀ."""
    rng = np.random.default_rng(l)
    irreps = e3nn.Irreps("+".join(f"{L}e" for L in range(0, 2 * l + 1, 2)))
    x = rng.normal(size=irreps.dim)
    block = np.asarray(shell_block(x, l))
    np.testing.assert_allclose(block, block.T, atol=1e-6)  # float32 inside jnp
    np.testing.assert_allclose(np.diag(block), diagonal_coupling(l) @ x, atol=1e-6)
    np.testing.assert_allclose(np.trace(block), (2 * l + 1) * x[0], atol=1e-6)
    rot = Rotation.random(random_state=5).as_matrix()
    from orbjax.model.orbital_basis import rotation_in_tblite_frame

    x_rot = np.asarray(irreps.D_from_matrix(jnp.asarray(rotation_in_tblite_frame(rot)))) @ x
    d = wigner_d_tblite(l, rot)
    np.testing.assert_allclose(np.asarray(shell_block(x_rot, l)), d @ block @ d.T, atol=1e-5)


def test_tblite_orbital_populations_rotate_with_wigner_d():
    """Relabel a rotated molecule with tblite: per-orbital = diag(D·B·Dᵀ) with our D."""
    from orbjax.labels.xtb import onsite_blocks, run_xtb

    # thioacetyl chloride-like: S and Cl carry d shells in GFN1
    z = [6, 16, 17, 6, 1, 1, 1]
    pos = np.array(
        [
            [0.0, 0.0, 0.0],
            [1.2, 1.0, 0.1],
            [-0.2, -1.3, 1.2],
            [-1.3, 0.7, -0.4],
            [-2.1, 0.1, -0.2],
            [-1.4, 1.6, 0.2],
            [-1.3, 1.0, -1.4],
        ]
    )
    s = Structure(z, pos, name="thioacetyl-chloride")
    rot = Rotation.random(random_state=2).as_matrix()
    ref = run_xtb(s, save_integrals=True)
    out = run_xtb(s.replace(positions=pos @ rot.T), save_integrals=True)
    blocks = onsite_blocks(ref.density, ref.overlap, ref.orbital_shell)
    pops = np.einsum("mn,nm->m", out.density, out.overlap)
    n_checked = 0
    for shell, (l, block) in enumerate(zip(ref.shell_l, blocks)):
        orbitals = np.flatnonzero(ref.orbital_shell == shell)
        if l == 0:
            np.testing.assert_allclose(pops[orbitals], np.diag(block), atol=1e-6)
            continue
        d = wigner_d_tblite(l, rot)
        np.testing.assert_allclose(pops[orbitals], np.diag(d @ block @ d.T), atol=1e-5)
        assert np.abs(pops[orbitals] - np.diag(block)).max() > 1e-3 or l == 0
        n_checked += 1
    assert n_checked >= 4  # p of C, S, Cl and the d shells of S, Cl


def test_candidate_matrix_is_the_per_shell_diagonal():
    """The readout's one-matrix map equals `orbital_diagonal` of each (slot, l) candidate."""
    from orbjax.model.orbital_basis import orbital_diagonal, shell_irreps
    from orbjax.model.readouts import _candidate_matrix
    from orbjax.orbitals import MAX_SHELLS as n

    out = e3nn.IrrepsArray(
        f"{3 * n}x0e+{2 * n}x2e+{n}x4e",
        jnp.asarray(np.random.default_rng(0).normal(size=(4, 22 * n))),
    )
    s, q, h = out.filter(keep="0e").array, out.filter(keep="2e").array, out.filter(keep="4e").array
    q, h = q.reshape(4, 2 * n, 5), h.reshape(4, n, 9)
    expected = []
    for k in range(n):
        expected.append(s[:, 3 * k : 3 * k + 1])
        expected.append(
            orbital_diagonal(
                e3nn.IrrepsArray(
                    shell_irreps(1), jnp.concatenate([s[:, 3 * k + 1 : 3 * k + 2], q[:, 2 * k]], -1)
                ),
                1,
            )
        )
        expected.append(
            orbital_diagonal(
                e3nn.IrrepsArray(
                    shell_irreps(2),
                    jnp.concatenate([s[:, 3 * k + 2 : 3 * k + 3], q[:, 2 * k + 1], h[:, k]], -1),
                ),
                2,
            )
        )
    np.testing.assert_allclose(
        out.array @ _candidate_matrix(), jnp.concatenate(expected, -1), rtol=1e-6, atol=1e-6
    )
