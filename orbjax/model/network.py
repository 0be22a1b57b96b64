"""The equivariant network: species embedding → interaction blocks → per-atom irreps features."""

from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax.numpy as jnp

from orbjax.model.blocks import InteractionBlock
from orbjax.model.orbital_basis import to_tblite_frame
from orbjax.model.radial import bessel_basis, polynomial_cutoff


def hidden_irreps(channels: int, l_max: int) -> e3nn.Irreps:
    """channels × (0e + 1o + 2e + 3o …): the parities spherical harmonics of vectors carry."""
    return e3nn.Irreps(
        "+".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(l_max + 1))
    )


def safe_edge_geometry(vectors: jnp.ndarray, cutoff: float, n_basis: int, l_max: int):
    """Edge vectors [n_edges, 3] Å → (spherical harmonics, radial basis, envelope).

    Zero-length vectors (padding edges) are replaced before any division so neither the
    values nor their gradients can become NaN; their envelope is zero so they carry nothing.
    """
    vectors = to_tblite_frame(vectors)
    squared = jnp.sum(vectors**2, axis=-1)
    is_zero = squared == 0.0
    lengths = jnp.sqrt(jnp.where(is_zero, 1.0, squared))  # [n_edges]
    unit = vectors / lengths[:, None]
    sh = e3nn.spherical_harmonics(
        e3nn.Irreps.spherical_harmonics(l_max), unit, normalize=False, normalization="component"
    )
    radial = bessel_basis(lengths, n_basis, cutoff)  # [n_edges, n_basis]
    envelope = jnp.where(is_zero, 0.0, polynomial_cutoff(lengths, cutoff))  # [n_edges]
    return sh, radial, envelope


class EquivariantNetwork(nn.Module):
    """Per-atom equivariant features from positions and species.

    Attributes:
      n_species: number of element types (the model's species table).
      channels, l_max, n_layers: feature width, maximum angular momentum, depth.
      cutoff: Å. n_basis: Bessel functions.
    """

    n_species: int
    channels: int = 32
    l_max: int = 2
    n_layers: int = 2
    cutoff: float = 5.0
    n_basis: int = 8
    radial_hidden: int = 64
    edge_chunk: int = 0  # > 0: each layer's edge loop in chunks of this many edges (same values)

    @nn.compact
    def __call__(
        self,
        edge_vectors: jnp.ndarray,  # [n_edges, 3] Å, from receiver to sender
        species: jnp.ndarray,  # [n_nodes] int in [0, n_species)
        senders: jnp.ndarray,  # [n_edges]
        receivers: jnp.ndarray,  # [n_edges]
        avg_num_neighbors: jnp.ndarray,  # [] from training data (a statistic, not a constant)
        scalars_only: bool = False,
    ) -> list[e3nn.IrrepsArray]:
        """Returns the [n_nodes, hidden irreps] features of every layer, in tblite's
        real-harmonic frame (of the last layer only its scalars with `scalars_only`: it then
        skips all l > 0 work)."""
        sh, radial, envelope = safe_edge_geometry(
            edge_vectors, self.cutoff, self.n_basis, self.l_max
        )
        one_hot = jnp.eye(self.n_species, dtype=edge_vectors.dtype)[species]
        features = e3nn.flax.Linear(f"{self.channels}x0e", name="embedding")(
            e3nn.IrrepsArray(f"{self.n_species}x0e", one_hot)
        )
        layers = []
        for layer in range(self.n_layers):
            features = InteractionBlock(
                hidden_irreps=hidden_irreps(self.channels, self.l_max),
                n_species=self.n_species,
                radial_hidden=self.radial_hidden,
                edge_chunk=self.edge_chunk,
                name=f"interaction_{layer}",
            )(
                features,
                species,
                sh,
                radial,
                envelope,
                senders,
                receivers,
                avg_num_neighbors,
                scalars_only=scalars_only and layer == self.n_layers - 1,
            )
            layers.append(features)
        return layers
