"""Interaction block: NequIP-style equivariant convolution with a gated nonlinearity."""

from __future__ import annotations

import dataclasses
import functools

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from orbjax.model.radial import RadialMLP


class InteractionBlock(nn.Module):
    """One message-passing layer.

    h_i ← Gate( Linear( Σ_j R(r_ij) · [h_j ⊕ (h_j ⊗ Y(r̂_ij))] / √⟨n_neigh⟩ )
                + SelfConnection_Z(h_i) )

    The radial MLP R produces one weight per message irrep; it is multiplied by the smooth
    cutoff so that edges beyond the cutoff (and padding edges) carry exactly zero.

    Attributes:
      hidden_irreps: irreps of the output features, e.g. 32x0e+32x1o+32x2e.
      n_species: number of element types, for the element-dependent self-connection.
      radial_hidden: width of the radial MLP.
      radial_layers: number of hidden layers of the radial MLP.

    The last layer of a model whose readouts read only scalars is called with
    `scalars_only=True` (see `__call__`); there is no separate "last layer" attribute.
    """

    hidden_irreps: e3nn.Irreps
    n_species: int
    radial_hidden: int = 64
    radial_layers: int = 2
    edge_chunk: int = 0  # > 0: the edge loop in chunks of this many edges (`chunked_messages`)

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
        avg_num_neighbors: jnp.ndarray,  # [] normalisation, from training data statistics
        scalars_only: bool = False,
    ) -> e3nn.IrrepsArray:
        """Returns [n_nodes, hidden] features; with `scalars_only`, only their scalars (0e).

        `scalars_only` computes the same scalars with the same parameters but skips every
        message of l > 0: the last layer of a model whose readouts read only scalars (the
        energy) needs nothing else, neither forwards nor in the gradients.
        """
        hidden = e3nn.Irreps(self.hidden_irreps)
        n_nodes = node_features.shape[0]
        gate_irreps = _gate_input_irreps(hidden)

        self_connection = e3nn.flax.Linear(
            gate_irreps,
            num_indexed_weights=self.n_species,
            force_irreps_out=True,
            name="self_connection",
        )(species, node_features)
        h = e3nn.flax.Linear(node_features.irreps, name="linear_up")(node_features)
        layout = message_layout(str(h.irreps), str(edge_sh.irreps), str(hidden), str(gate_irreps))
        only = (e3nn.Irrep("0e"),) if scalars_only else None
        mlp = RadialMLP(
            (self.radial_hidden,) * self.radial_layers + (layout.irreps.num_irreps,),
            name="radial_mlp",
        )
        groups = weight_groups(layout, only)
        if 0 < self.edge_chunk < senders.shape[0]:
            mlp(edge_radial[:1], groups)  # creates (or binds) the parameters; the chunks apply them
            radial_weights = functools.partial(
                RadialMLP(mlp.features, parent=None).apply,
                {"params": mlp.variables["params"]},
                groups=groups,
            )
            aggregated = chunked_messages(
                layout,
                h,
                edge_sh,
                edge_radial,
                edge_envelope,
                radial_weights,
                senders,
                receivers,
                n_nodes,
                self.edge_chunk,
                only,
            )
        else:
            # one [n_edges, multiplicity] weight array per computed message irrep
            weights = [w * edge_envelope[:, None] for w in mlp(edge_radial, groups)]
            aggregated = aggregate_messages(
                layout, h, edge_sh, weights, senders, receivers, n_nodes, only
            )
        aggregated = aggregated / jnp.sqrt(avg_num_neighbors)
        out = (
            e3nn.flax.Linear(gate_irreps, force_irreps_out=True, name="linear_down")(aggregated)
            + self_connection
        )
        features = e3nn.gate(out)  # [n_nodes, hidden]
        return features.filter(keep="0e") if scalars_only else features


def _gate_input_irreps(hidden: e3nn.Irreps) -> e3nn.Irreps:
    """Scalars, then one gate scalar per non-scalar irrep, then the non-scalars."""
    scalars = e3nn.Irreps([(mul, ir) for mul, ir in hidden if ir.l == 0])
    vectors = e3nn.Irreps([(mul, ir) for mul, ir in hidden if ir.l > 0])
    gates = e3nn.Irreps(f"{vectors.num_irreps}x0e") if vectors.num_irreps else e3nn.Irreps("")
    return (scalars + gates + vectors).simplify()


# ----------------------------------------------------------------------------- messages
#
# The messages of an edge are  h_j ⊕ (h_j ⊗ Y(r̂_ij))  (the tensor product filtered to the
# gate irreps), regrouped by irrep, as `e3nn.concatenate([h.filter(keep), e3nn.tensor_product(
# h, Y, filter_ir_out)]).regroup()` lays them out. e3nn-jax evaluates that product path by
# path as einsums whose inner dimensions are 1–5 wide, which XLA on CPU runs far below
# speed, above all in the second derivatives training needs (forces, then the parameter
# gradient). Every irrep of h has the same number of channels C and Y has one copy of each
# l, so per output irrep the whole product is one batched matrix product per edge:
#   out[e, c, (path, k)] = Σ_i h[e, c, i] · A[e, i, (path, k)],
#   A = Σ_j Y[e, j] · CG[i, j, (path, k)],
# with h's components i of all l side by side. Each output irrep is weighted and summed
# over receivers on its own, so irreps nobody reads (the last layer's l > 0 when only the
# energy is wanted) can be skipped (`only`). Values and layout are those of e3nn's.


@dataclasses.dataclass(frozen=True)
class MessageLayout:
    """Static description of the messages of one interaction block.

    Attributes:
      irreps: message irreps (regrouped: one entry per irrep, sorted).
      channels: C, the multiplicity of every irrep of h.
      blocks: per message irrep, (ir, keep_h, cg) with keep_h whether h's own chunk of that
        irrep comes first (the `h.filter(keep)` part) and cg [dim_h, dim_sh, n_paths·dim_ir],
        the Clebsch–Gordan coefficients of the tensor-product paths into ir, in e3nn's order.
    """

    irreps: e3nn.Irreps
    channels: int
    blocks: tuple


@functools.lru_cache(maxsize=None)
def message_layout(h_irreps: str, sh_irreps: str, keep: str, filter_ir_out: str) -> MessageLayout:
    h_irreps, sh_irreps = e3nn.Irreps(h_irreps).regroup(), e3nn.Irreps(sh_irreps).regroup()
    keep_irs = {ir for _, ir in e3nn.Irreps(keep)}
    out_irs = {ir for _, ir in e3nn.Irreps(filter_ir_out)}
    channels = {mul for mul, _ in h_irreps}
    if len(channels) != 1 or any(mul != 1 for mul, _ in sh_irreps):
        raise ValueError(
            f"fast messages need equal multiplicities in h ({h_irreps}) and one copy "
            f"of each l in the spherical harmonics ({sh_irreps})"
        )
    (channels,) = channels
    h_irs = [ir for _, ir in h_irreps]
    h_offsets = np.cumsum([0] + [ir.dim for ir in h_irs])
    sh_offsets = np.cumsum([0] + [ir.dim for _, ir in sh_irreps])
    factor = {
        "component": lambda ir, a, b: np.sqrt(ir.dim),
        "norm": lambda ir, a, b: np.sqrt(a.dim * b.dim),
        "none": lambda ir, a, b: 1.0,
    }[e3nn.config("irrep_normalization")]
    paths = {}  # ir_out → list of (i1, i2), in the order e3nn.tensor_product emits them
    for i1, ir1 in enumerate(h_irs):
        for i2, (_, ir2) in enumerate(sh_irreps):
            for ir_out in ir1 * ir2:
                if ir_out in out_irs:
                    paths.setdefault(ir_out, []).append((i1, i2))
    blocks, irreps = [], []
    for ir in sorted(set(paths) | (keep_irs & set(h_irs))):
        keep_h = ir in keep_irs and ir in h_irs
        cg = np.zeros((h_offsets[-1], sh_offsets[-1], len(paths.get(ir, [])), ir.dim))
        for p, (i1, i2) in enumerate(paths.get(ir, [])):
            ir1, ir2 = h_irs[i1], sh_irreps[i2].ir
            c = np.asarray(e3nn.clebsch_gordan(ir1.l, ir2.l, ir.l)) * factor(ir, ir1, ir2)
            cg[h_offsets[i1] : h_offsets[i1 + 1], sh_offsets[i2] : sh_offsets[i2 + 1], p] = c
        blocks.append((ir, keep_h, cg.reshape(h_offsets[-1], sh_offsets[-1], -1)))
        irreps.append((channels * (int(keep_h) + len(paths.get(ir, []))), ir))
    return MessageLayout(e3nn.Irreps(irreps), channels, tuple(blocks))


def weight_groups(layout: MessageLayout, only=None) -> tuple[tuple[int, int], ...]:
    """Column ranges (start, stop) of the radial weights of each message irrep in `only`
    (None: all), in order."""
    groups, start = [], 0
    for (ir, _, _), (mul, _) in zip(layout.blocks, layout.irreps):
        if only is None or ir in only:
            groups.append((start, start + mul))
        start += mul
    return tuple(groups)


def aggregate_messages(
    layout: MessageLayout,
    h: e3nn.IrrepsArray,
    sh: e3nn.IrrepsArray,
    weights: list[jnp.ndarray],
    senders,
    receivers,
    n_nodes: int,
    only=None,
) -> e3nn.IrrepsArray:
    """Σ_j weights_ij · messages_ij over the senders j of each receiver i.

    Args:
      h: [n_nodes, irreps] node features (before the gather to edges).
      sh: [n_edges, sh irreps] spherical harmonics of the edge vectors.
      weights: per message irrep in `only` (all when None), in order, its weights
        [n_edges, multiplicity] (the columns `weight_groups` names).
      only: irreps to compute (None: all); the others are e3nn zero chunks, never computed.
    Returns:
      [n_nodes, layout.irreps].
    """
    h = h.regroup()
    messages = _edge_messages(
        layout,
        h.irreps,
        channels_last(h, layout.channels),
        sh.regroup().array,
        weights,
        senders,
        only,
    )
    sums = [
        None if m is None else jax.ops.segment_sum(m, receivers, num_segments=n_nodes)
        for m in messages
    ]
    return _from_sums(layout, sums, n_nodes, sh.dtype)


def chunked_messages(
    layout: MessageLayout,
    h: e3nn.IrrepsArray,
    sh: e3nn.IrrepsArray,
    radial: jnp.ndarray,
    envelope: jnp.ndarray,
    radial_weights,
    senders,
    receivers,
    n_nodes: int,
    chunk: int,
    only=None,
) -> e3nn.IrrepsArray:
    """`aggregate_messages` with the radial weights, over the edges `chunk` at a time.

    The same sums, but no [n_edges, …] tensor of the messages (or of the radial MLP) is ever
    whole: each chunk gathers and weights its own messages and adds them into the node sums
    in place, and its backward pass recomputes them (`jax.checkpoint`), so the working set
    of the edge loop is one chunk's whatever the system's size. Unchunked, the
    [n_edges, 9, C] gathers outgrow the CPU's caches above a few thousand atoms and the time
    per atom of an MD step grows with the system (`benchmarks/md_flatness/`). Costs one more
    forward pass of the edge messages in the backward.

    Args:
      radial: [n_edges, n_basis]; envelope: [n_edges] (zero on padding edges).
      radial_weights: radial basis [c, n_basis] → the weight list `aggregate_messages` takes.
      chunk: edges per chunk; the edges are zero-padded (envelope 0) to a multiple of it.
    """
    h = h.regroup()
    x = channels_last(h, layout.channels)  # [n_nodes, dim_h, C], once for all chunks
    n_edges = senders.shape[0]
    n_chunks = -(-n_edges // chunk)

    def split(a):  # [n_edges, …] → [n_chunks, chunk, …]
        a = jnp.pad(a, [(0, n_chunks * chunk - n_edges)] + [(0, 0)] * (a.ndim - 1))
        return a.reshape(n_chunks, chunk, *a.shape[1:])

    @jax.checkpoint
    def chunk_messages(x, y, rad, env, s):  # only chunk-sized arrays are saved for the backward
        weights = [w * env[:, None] for w in radial_weights(rad)]
        return _edge_messages(layout, h.irreps, x, y, weights, s, only)

    def step(sums, edges):  # None (an empty pytree) where `only` skips an irrep
        y, rad, env, s, r = edges
        messages = chunk_messages(x, y, rad, env, s)
        return [None if m is None else total.at[r].add(m) for total, m in zip(sums, messages)], None

    c = layout.channels
    zeros = [
        jnp.zeros((n_nodes, mul // c, ir.dim, c), x.dtype) if only is None or ir in only else None
        for mul, ir in layout.irreps
    ]
    sums, _ = jax.lax.scan(
        step, zeros, tuple(map(split, (sh.regroup().array, radial, envelope, senders, receivers)))
    )
    return _from_sums(layout, sums, n_nodes, x.dtype)


def channels_last(h: e3nn.IrrepsArray, channels: int) -> jnp.ndarray:
    """[n_nodes, irreps] (regrouped, every irrep `channels` wide) → [n_nodes, dim_h, C].

    Channels last: every product and reduction of the messages then runs along C-wide rows;
    with the e3nn layout ([.., C, component]) XLA's backward reductions ran over 1–5-wide
    minor axes at a fraction of the speed."""
    x = h.array.reshape(h.shape[0], -1)
    chunks = [
        jnp.swapaxes(x[:, s].reshape(-1, channels, ir.dim), 1, 2)
        for s, (_, ir) in zip(h.irreps.slices(), h.irreps)
    ]
    return jnp.concatenate(chunks, axis=1)


def _edge_messages(
    layout: MessageLayout, h_irreps: e3nn.Irreps, x_nodes, y, weights, senders, only
) -> list:
    """Per message irrep: the weighted messages [n_edges, paths(+1), dim, C] of the edges
    given, or None where `only` skips it. x_nodes: [n_nodes, dim_h, C] (`channels_last`);
    y: [n_edges, dim_sh]."""
    c = layout.channels
    x = x_nodes[senders]  # [n_edges, dim_h, C]
    offsets = np.cumsum([0] + [ir.dim for _, ir in h_irreps])
    out, weights = [], iter(weights)
    for (ir, keep_h, cg), (mul, _) in zip(layout.blocks, layout.irreps):
        if only is not None and ir not in only:
            out.append(None)
            continue
        w = next(weights).reshape(-1, mul // c, 1, c)  # [n_edges, paths(+1), 1, C]
        parts = []
        if keep_h:
            k = [ir_h for _, ir_h in h_irreps].index(ir)
            parts.append(x[:, None, offsets[k] : offsets[k] + ir.dim, :])  # [n_edges, 1, dim, C]
        if cg.shape[-1]:
            # [n_edges, paths·dim, dim_h]
            a = jnp.einsum("ej,ijd->edi", y, jnp.asarray(cg, y.dtype))
            tp = jnp.einsum("edi,eic->edc", a, x)  # [n_edges, paths·dim, C]
            parts.append(tp.reshape(x.shape[0], -1, ir.dim, c))  # [n_edges, paths, dim, C]
        out.append(jnp.concatenate(parts, axis=1) * w)  # [n_edges, paths(+1), dim, C]
    return out


def _from_sums(layout: MessageLayout, sums: list, n_nodes: int, dtype) -> e3nn.IrrepsArray:
    """Node sums [n_nodes, paths(+1), dim, C] per message irrep (None: skipped) → e3nn layout."""
    chunks = [
        None if m is None else jnp.swapaxes(m, 2, 3).reshape(n_nodes, mul, ir.dim)
        for m, (mul, ir) in zip(sums, layout.irreps)
    ]
    return e3nn.from_chunks(layout.irreps, chunks, (n_nodes,), dtype)
