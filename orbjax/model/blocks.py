"""Interaction block: NequIP-style equivariant convolution with a gated nonlinearity."""
from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp


class InteractionBlock(nn.Module):
    """One message-passing layer.

    h_i ← Gate( Linear( Σ_j R(r_ij) · [h_j ⊕ (h_j ⊗ Y(r̂_ij))] / √⟨n_neigh⟩ ) + SelfConnection_Z(h_i) )

    The radial MLP R produces one weight per message irrep; it is multiplied by the smooth
    cutoff so that edges beyond the cutoff (and padding edges) carry exactly zero.

    Attributes:
      hidden_irreps: irreps of the output features, e.g. 32x0e+32x1o+32x2e.
      n_species: number of element types, for the element-dependent self-connection.
      avg_num_neighbors: normalisation from training data statistics.
      radial_hidden: width of the radial MLP.
      is_last: the last layer keeps only what the readouts need and skips the gate.
    """

    hidden_irreps: e3nn.Irreps
    n_species: int
    avg_num_neighbors: float
    radial_hidden: int = 64
    radial_layers: int = 2

    @nn.compact
    def __call__(
        self,
        node_features: e3nn.IrrepsArray,  # [n_nodes, irreps]
        species: jnp.ndarray,  # [n_nodes] int
        edge_sh: e3nn.IrrepsArray,  # [n_edges, sh irreps]
        edge_radial: jnp.ndarray,  # [n_edges, n_basis]
        edge_envelope: jnp.ndarray,  # [n_edges]
        senders: jnp.ndarray,  # [n_edges]
        receivers: jnp.ndarray,  # [n_edges]
    ) -> e3nn.IrrepsArray:
        hidden = e3nn.Irreps(self.hidden_irreps)
        n_nodes = node_features.shape[0]
        gate_irreps = _gate_input_irreps(hidden)

        self_connection = e3nn.flax.Linear(gate_irreps, num_indexed_weights=self.n_species, force_irreps_out=True,
                                           name="self_connection")(species, node_features)
        h = e3nn.flax.Linear(node_features.irreps, name="linear_up")(node_features)
        h_senders = h[senders]  # [n_edges, irreps]
        messages = e3nn.concatenate([
            h_senders.filter(keep=hidden),
            e3nn.tensor_product(h_senders, edge_sh, filter_ir_out=gate_irreps),
        ]).regroup()  # [n_edges, message irreps]
        mlp = e3nn.flax.MultiLayerPerceptron(
            [self.radial_hidden] * self.radial_layers + [messages.irreps.num_irreps],
            act=jax.nn.silu, output_activation=False, name="radial_mlp")
        weights = mlp(edge_radial) * edge_envelope[:, None]  # [n_edges, n_message_irreps]
        messages = messages * weights
        aggregated = e3nn.scatter_sum(messages, dst=receivers, output_size=n_nodes)
        aggregated = aggregated / jnp.sqrt(self.avg_num_neighbors)
        out = e3nn.flax.Linear(gate_irreps, force_irreps_out=True, name="linear_down")(aggregated) + self_connection
        return e3nn.gate(out)  # [n_nodes, hidden]


def _gate_input_irreps(hidden: e3nn.Irreps) -> e3nn.Irreps:
    """Scalars, then one gate scalar per non-scalar irrep, then the non-scalars."""
    scalars = e3nn.Irreps([(mul, ir) for mul, ir in hidden if ir.l == 0])
    vectors = e3nn.Irreps([(mul, ir) for mul, ir in hidden if ir.l > 0])
    gates = e3nn.Irreps(f"{vectors.num_irreps}x0e") if vectors.num_irreps else e3nn.Irreps("")
    return (scalars + gates + vectors).simplify()
