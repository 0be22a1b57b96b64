"""The full model: network + one energy readout per level of theory + auxiliary readouts.

The dataset statistics (reference energies, scales, neighbour count, auxiliary means) are
not part of the module: it reads them from the "statistics" variable collection
(`Statistics.arrays`), passed beside "params" in `model.apply({"params": ..., "statistics":
...}, ...)`. Compiled functions therefore take them as arguments, and every model of one
architecture shares one compilation.
"""

from __future__ import annotations

import dataclasses

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp

from orbjax.model.network import EquivariantNetwork
from orbjax.model.readouts import EquivariantOrbitalReadout, ScalarMLP
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
    # elements it knows (their atomic numbers are statistics: `Statistics.species`)
    n_species: int = 1
    # levels of theory, one energy readout each; the first is the default
    levels: tuple[str, ...] = ("dft",)
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
            raise ValueError(
                f"unknown auxiliary heads {sorted(unknown)}; choose from {auxiliary_targets()}"
            )
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels must be distinct names, at least one, not {self.levels!r}")
        if self.orbital_head not in ("equivariant", "invariant"):
            raise ValueError(
                f"orbital_head must be 'equivariant' or 'invariant', not {self.orbital_head!r}"
            )
        if self.orbital_features not in ("previous_layer", "last_layer"):
            raise ValueError(
                "orbital_features must be 'previous_layer' or 'last_layer', not "
                f"{self.orbital_features!r}"
            )


class OrbitalMLIP(nn.Module):
    """Per-atom energies (eV) of every level of theory and, with `with_heads=True`, the
    auxiliary targets.

    The auxiliary heads are only evaluated in training and evaluation; the potential calls
    the model with `with_heads=False`, so inference costs exactly an energy-only model.
    """

    config: ModelConfig
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
        """Returns node_energies [n_nodes, n_levels] = E0 + scale · readout (eV),
        node_network_energies [n_nodes, n_levels] (the readout part alone, without E0),
        features and, with heads, one entry per auxiliary target."""
        cfg = self.config
        stats = self._statistics()
        species = jnp.maximum(stats["z_to_species"][atomic_numbers], 0)  # [n_nodes]
        layers = EquivariantNetwork(
            n_species=cfg.n_species,
            channels=cfg.channels,
            l_max=cfg.l_max,
            n_layers=cfg.n_layers,
            cutoff=cfg.cutoff,
            n_basis=cfg.n_basis,
            radial_hidden=cfg.radial_hidden,
            edge_chunk=self.edge_chunk,
            name="network",
        )(
            edge_vectors.astype(self.dtype),
            species,
            senders,
            receivers,
            stats["avg_num_neighbors"].astype(self.dtype),
            scalars_only=not self._last_layer_vectors(with_heads),
        )
        features = layers[-1]
        # features: scalars only unless a readout needs more (see _last_layer_vectors)
        raw = jnp.stack(
            [
                ScalarMLP(1, cfg.readout_hidden, name=energy_readout_name(k, level))(features)[:, 0]
                for k, level in enumerate(cfg.levels)
            ],
            axis=-1,
        )  # [n_nodes, n_levels]
        network = stats["energy_scale"].astype(self.dtype) * raw
        e0 = stats["atomic_energies"].astype(self.dtype).T[species]  # [n_nodes, n_levels]
        outputs = {
            "node_energies": e0 + network,
            "node_network_energies": network,
            "features": features,
        }
        if with_heads:
            for head in cfg.heads:
                outputs[head] = self._aux_head(head, layers, atomic_numbers, species, stats)
            if cfg.charge_neutral and "atomic_charges" in outputs:
                outputs["atomic_charges"] = _neutralise(
                    outputs["atomic_charges"], node_graph, total_charge
                )
        return outputs

    def _statistics(self) -> dict[str, jnp.ndarray]:
        """The "statistics" collection (placeholders of the right shapes at initialisation)."""
        cfg, n_levels = self.config, len(self.config.levels)
        shapes = {
            "atomic_energies": ((n_levels, cfg.n_species), 0.0),
            "energy_scale": ((n_levels,), 1.0),
            "avg_num_neighbors": ((), 1.0),
        }
        for head in cfg.heads:
            shapes[f"{head}_mean"] = ((cfg.n_species, TARGETS[head].width), 0.0)
            shapes[f"{head}_scale"] = ((), 1.0)
        out = {
            name: jnp.asarray(
                self.variable(
                    "statistics", name, lambda s=shape, v=value: jnp.full(s, v, self.dtype)
                ).value
            )
            for name, (shape, value) in shapes.items()
        }
        out["z_to_species"] = jnp.asarray(
            self.variable(
                "statistics",
                "z_to_species",
                lambda: jnp.arange(119, dtype=jnp.int32) % cfg.n_species,
            ).value
        )
        return out

    def _last_layer_vectors(self, with_heads: bool) -> bool:
        """Whether a readout reads the last layer's l > 0 features (only the equivariant
        orbital head with `orbital_features="last_layer"`, or a one-layer network, does); if
        none does, the last layer computes scalars only: less work, same parameters
        (initialisation always builds the full network, so every model has the same tree)."""
        cfg = self.config
        if self.is_initializing():
            return True
        return (
            with_heads
            and any(self._equivariant(head) for head in cfg.heads)
            and self._head_reads_last_layer()
        )

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

    def _aux_head(self, head, layers, atomic_numbers, species, stats):
        width = TARGETS[head].width
        if self._equivariant(head):
            raw = EquivariantOrbitalReadout(name=f"{head}_readout")(
                self._orbital_features(layers), atomic_numbers
            )
        else:
            raw = ScalarMLP(width, self.config.readout_hidden, name=f"{head}_readout")(layers[-1])
        mean = stats[f"{head}_mean"].astype(self.dtype)[species]  # [n_nodes, width]
        pred = mean + stats[f"{head}_scale"].astype(self.dtype) * raw
        return pred[:, 0] if width == 1 else pred


def energy_readout_name(index: int, level: str) -> str:
    """The default level keeps the parameter path of one-level models ("energy_readout")."""
    return "energy_readout" if index == 0 else f"energy_readout_{level}"


def _neutralise(charges, node_graph, total_charge):
    """Spread the excess charge of each graph equally over its atoms."""
    n_graphs = total_charge.shape[0]
    excess = jax.ops.segment_sum(charges, node_graph, n_graphs) - total_charge
    n_atoms = jax.ops.segment_sum(jnp.ones_like(charges), node_graph, n_graphs)
    return charges - (excess / jnp.maximum(n_atoms, 1.0))[node_graph]
