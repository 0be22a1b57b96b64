"""The full model: network + energy readout + selectable charge readouts."""
from __future__ import annotations

import dataclasses

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp

from orbjax.model.network import EquivariantNetwork
from orbjax.model.readouts import EquivariantOrbitalReadout, ScalarMLP
from orbjax.model.statistics import Statistics
from orbjax.targets import TARGETS, auxiliary_targets


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters (hashable, saved with the checkpoint)."""

    channels: int = 32
    l_max: int = 2
    n_layers: int = 2
    cutoff: float = 5.0  # Å
    n_basis: int = 8
    radial_hidden: int = 64
    readout_hidden: int = 16
    heads: tuple[str, ...] = ()  # auxiliary targets it predicts (`targets.auxiliary_targets()`)
    orbital_head: str = "equivariant"  # or "invariant" (scalars only: the paper's baseline)
    # What the equivariant orbital head reads. "previous_layer": the l ≤ 2 features of layer
    # n−1 with the last layer's scalars, so the last layer computes scalars only, as for the
    # energy (the head costs ~6 % of a CPU train step); "last_layer": the last layer's full
    # features (its l > 0 messages then cost ~85 % more per train step; benchmarks/RESULTS.md).
    orbital_features: str = "previous_layer"
    charge_neutral: bool = False  # shift atomic charges so they sum to the total charge

    def __post_init__(self):
        unknown = set(self.heads) - set(auxiliary_targets())
        if unknown:
            raise ValueError(f"unknown charge heads {sorted(unknown)}; choose from {auxiliary_targets()}")
        if self.orbital_head not in ("equivariant", "invariant"):
            raise ValueError(f"orbital_head must be 'equivariant' or 'invariant', not {self.orbital_head!r}")
        if self.orbital_features not in ("previous_layer", "last_layer"):
            raise ValueError(f"orbital_features must be 'previous_layer' or 'last_layer', not {self.orbital_features!r}")


class OrbitalMLIP(nn.Module):
    """Per-atom energies (eV) and, with `with_heads=True`, the charge targets.

    The charge heads are only evaluated in training and evaluation; the potential calls the
    model with `with_heads=False`, so inference costs exactly an energy-only model.
    """

    config: ModelConfig
    statistics: Statistics
    dtype: jnp.dtype = jnp.float32
    # How the edge loop runs, not what it computes (same parameters and values): > 0 runs it
    # in chunks of this many edges, for large MD systems (`blocks.chunked_messages`).
    edge_chunk: int = 0

    @nn.compact
    def __call__(
        self,
        edge_vectors: jnp.ndarray,  # [n_edges, 3] Å
        atomic_numbers: jnp.ndarray,  # [n_nodes] int
        senders: jnp.ndarray,  # [n_edges]
        receivers: jnp.ndarray,  # [n_edges]
        node_graph: jnp.ndarray,  # [n_nodes] graph index of each node
        total_charge: jnp.ndarray,  # [n_graphs] e
        with_heads: bool = False,
    ) -> dict[str, jnp.ndarray]:
        cfg, stats = self.config, self.statistics
        species = jnp.maximum(jnp.asarray(stats.z_to_species())[atomic_numbers], 0)  # [n_nodes]
        layers = EquivariantNetwork(
            n_species=stats.n_species, channels=cfg.channels, l_max=cfg.l_max,
            n_layers=cfg.n_layers, cutoff=cfg.cutoff, n_basis=cfg.n_basis,
            avg_num_neighbors=stats.avg_num_neighbors, radial_hidden=cfg.radial_hidden,
            edge_chunk=self.edge_chunk, name="network")(edge_vectors.astype(self.dtype), species, senders, receivers,
                            scalars_only=not self._last_layer_vectors(with_heads))
        features = layers[-1]
        e0 = jnp.asarray(stats.atomic_energies, self.dtype)[species]
        raw = ScalarMLP(1, cfg.readout_hidden, name="energy_readout")(features)[:, 0]
        # features: scalars only unless a readout needs more (see _last_layer_vectors)
        outputs = {"node_energies": e0 + stats.energy_scale * raw, "features": features}
        if with_heads:
            for head in cfg.heads:
                outputs[head] = self._charge_head(head, layers, atomic_numbers, species)
            if cfg.charge_neutral and "atomic_charges" in outputs:
                outputs["atomic_charges"] = _neutralise(outputs["atomic_charges"], node_graph, total_charge)
        return outputs

    def _last_layer_vectors(self, with_heads: bool) -> bool:
        """Whether a readout reads the last layer's l > 0 features (only the equivariant
        orbital head with `orbital_features="last_layer"`, or a one-layer network, does); if
        none does, the last layer computes scalars only: less work, same parameters
        (initialisation always builds the full network, so every model has the same tree)."""
        cfg = self.config
        if self.is_initializing():
            return True
        return (with_heads and any(self._equivariant(head) for head in cfg.heads)
                and self._head_reads_last_layer())

    def _equivariant(self, head: str) -> bool:
        """Whether `head` uses the equivariant s/p/d readout (an "orbital" target, unless
        `orbital_head="invariant"` asks for the scalar baseline)."""
        return TARGETS[head].readout == "orbital" and self.config.orbital_head == "equivariant"

    def _head_reads_last_layer(self) -> bool:
        return self.config.orbital_features == "last_layer" or self.config.n_layers == 1

    def _orbital_features(self, layers):
        """The features the equivariant orbital head reads (see ModelConfig.orbital_features)."""
        if self._head_reads_last_layer():
            return layers[-1]
        return e3nn.concatenate([layers[-2], layers[-1].filter(keep="0e")]).regroup()

    def _charge_head(self, head, layers, atomic_numbers, species):
        stats, width = self.statistics, TARGETS[head].width
        if self._equivariant(head):
            raw = EquivariantOrbitalReadout(name=f"{head}_readout")(self._orbital_features(layers), atomic_numbers)
        else:
            raw = ScalarMLP(width, self.config.readout_hidden, name=f"{head}_readout")(layers[-1])
        mean = jnp.asarray(stats.charge_mean(head), self.dtype)[species]  # [n_nodes, width]
        pred = mean + stats.charge_scale(head) * raw
        return pred[:, 0] if width == 1 else pred


def _neutralise(charges, node_graph, total_charge):
    """Spread the excess charge of each graph equally over its atoms."""
    n_graphs = total_charge.shape[0]
    excess = jax.ops.segment_sum(charges, node_graph, n_graphs) - total_charge
    n_atoms = jax.ops.segment_sum(jnp.ones_like(charges), node_graph, n_graphs)
    return charges - (excess / jnp.maximum(n_atoms, 1.0))[node_graph]
