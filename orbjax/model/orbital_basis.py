"""Per-orbital populations from equivariant features, in tblite's real-harmonic basis.

Convention. The network feeds e3nn-jax its edge vectors in (y, z, x) order (see
`to_tblite_frame`). With that input, e3nn-jax's l=1 components are tblite's p order
(y, z, x) and its l=2 components are tblite's d order (xy, yz, z², xz, x²−y²), up to the
normalisation factor; so every irrep the network builds is already expressed in tblite's
basis and no per-shell change of basis is needed. (Checked in tests/model/test_orbital_basis.py
against explicit real harmonics and against tblite on rotated molecules.) A rotation R of the
molecule acts on the permuted vectors as P·R·Pᵀ, and on shell l as the Wigner matrix
D_l(P·R·Pᵀ) of e3nn-jax, which is tblite's real Wigner matrix.

Assembly. A shell's on-site block B = (P·S)_AA transforms as D·B·Dᵀ; its symmetric part
decomposes as 0e⊕2e (p) or 0e⊕2e⊕4e (d). Given those irreps x_L we build
B = Σ_L Σ_M C^{L}_{m m' M} x_{L M} with e3nn-jax's Clebsch–Gordan coefficients (which
intertwine D_l⊗D_l with D_L, hence B ↦ D·B·Dᵀ) and keep only its diagonal, the per-orbital
populations. Only the diagonal of each C^L is ever needed.
"""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import jax.numpy as jnp
import numpy as np

TBLITE_FROM_XYZ = np.array([1, 2, 0])  # Cartesian (x,y,z) → (y,z,x): tblite's p order


def to_tblite_frame(vectors: jnp.ndarray) -> jnp.ndarray:
    """[..., 3] Cartesian (x, y, z) → (y, z, x), the frame the network works in.

    A cyclic shift (slices, no integer-array gather: such gathers break when a process
    toggles `jax.enable_x64`, which tests and float64 runs do).
    """
    return jnp.roll(vectors, -1, axis=-1)


def rotation_in_tblite_frame(rotation: np.ndarray) -> np.ndarray:
    """P·R·Pᵀ: a Cartesian rotation as it acts on (y, z, x) vectors."""
    perm = np.eye(3)[TBLITE_FROM_XYZ]
    return perm @ np.asarray(rotation) @ perm.T


def wigner_d_tblite(l: int, rotation: np.ndarray) -> np.ndarray:
    """[2l+1, 2l+1] real Wigner matrix of shell l in tblite's orbital order."""
    l = int(l)
    return np.asarray(
        e3nn.Irrep(l, (-1) ** l).D_from_matrix(jnp.asarray(rotation_in_tblite_frame(rotation)))
    )


@functools.lru_cache(maxsize=None)
def diagonal_coupling(l: int) -> np.ndarray:
    """[2l+1, dim] maps the symmetric irreps (0e, 2e, …, (2l)e) of a shell to diag(B).

    Column blocks follow the irreps order 0e, 2e, 4e. The 0e column is normalised to 1 so
    that the scalar is the mean population per orbital of the shell (trace/(2l+1)); the
    higher-L blocks are traceless, so they redistribute charge between m without changing
    the shell sum.
    """
    blocks = []
    for big_l in range(0, 2 * l + 1, 2):
        cg = np.asarray(e3nn.clebsch_gordan(l, l, big_l))  # [2l+1, 2l+1, 2L+1]
        diag = np.einsum("mmM->mM", cg)
        if big_l == 0:
            diag = diag / diag[0, 0]
        else:
            diag = diag * np.sqrt(2 * l + 1)  # O(1) entries for unit-variance irreps
        blocks.append(diag)
    return np.concatenate(blocks, axis=1)


def shell_irreps(l: int) -> e3nn.Irreps:
    """Irreps of the symmetric part of a shell's on-site block: 0e (+2e (+4e))."""
    return e3nn.Irreps("+".join(f"{big_l}e" for big_l in range(0, 2 * l + 1, 2)))


def orbital_diagonal(features: e3nn.IrrepsArray, l: int) -> jnp.ndarray:
    """[..., shell_irreps(l).dim] irreps → [..., 2l+1] per-orbital populations (diag of B)."""
    return features.array @ jnp.asarray(diagonal_coupling(l), features.array.dtype).T


def shell_block(features: jnp.ndarray, l: int) -> jnp.ndarray:
    """[..., shell_irreps(l).dim] → [..., 2l+1, 2l+1] the symmetric on-site block B.

    Its diagonal equals `orbital_diagonal`; used by tests to check B ↦ D·B·Dᵀ.
    """
    blocks = []
    for big_l in range(0, 2 * l + 1, 2):
        cg = np.asarray(e3nn.clebsch_gordan(l, l, big_l))
        if big_l == 0:
            cg = cg / cg[0, 0, 0]
        else:
            cg = cg * np.sqrt(2 * l + 1)
        blocks.append(cg)
    coupling = jnp.asarray(np.concatenate(blocks, axis=2), jnp.asarray(features).dtype)
    return jnp.einsum("mnk,...k->...mn", coupling, features)
