"""The graph index of every node and edge of a batch (orbjax.model.predict), which places each
atom and edge in its structure's cell and strain."""

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from orbjax.model.predict import edge_graph_index, node_graph_index


def test_node_graph_index_matches_repeat_with_empty_graphs_and_padding():
    rng = np.random.default_rng(0)
    index = jax.jit(node_graph_index, static_argnums=1)
    for _ in range(50):
        n_graphs = int(rng.integers(1, 10))
        n_node = rng.integers(0, 6, size=n_graphs)  # empty graphs too
        # entries past the last graph: the last graph
        n_total = int(n_node.sum()) + int(rng.integers(0, 3))
        expected = np.repeat(np.arange(n_graphs), n_node)
        expected = np.concatenate([expected, np.full(n_total - len(expected), n_graphs - 1)])
        np.testing.assert_array_equal(index(jnp.asarray(n_node), n_total), expected)


def test_edge_graph_index_is_that_of_the_sender_in_a_padded_batch():
    def graph(n, e):
        return jraph.GraphsTuple(
            nodes=np.zeros((n, 1)),
            edges=np.zeros((e, 1)),
            senders=np.arange(e) % n,
            receivers=(np.arange(e) + 1) % n,
            globals=np.zeros((1, 1)),
            n_node=np.array([n]),
            n_edge=np.array([e]),
        )

    batch = jraph.pad_with_graphs(jraph.batch([graph(3, 4), graph(5, 7), graph(2, 1)]), 16, 20, 5)
    node_graph = node_graph_index(jnp.asarray(batch.n_node), 16)
    expected = np.repeat(np.arange(5), batch.n_edge)
    np.testing.assert_array_equal(edge_graph_index(batch, node_graph), expected)
