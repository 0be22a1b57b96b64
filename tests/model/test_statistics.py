"""Dataset statistics: E0s by least squares or isolated atoms, scales, neighbour counts."""

import numpy as np

from orbjax.data.graphs import structure_to_graph
from orbjax.data.structures import Structure
from orbjax.model.statistics import Statistics, compute_statistics

E0 = {1: -13.6, 6: -1029.0, 8: -2041.0}


def _structures(rng, n=12):
    out = []
    for i in range(n):
        z = rng.choice([1, 6, 8], size=rng.integers(2, 7))
        pos = np.cumsum(rng.uniform(0.9, 1.3, size=(len(z), 3)), axis=0)
        energy = sum(E0[int(a)] for a in z) + rng.normal(scale=0.01)
        forces = rng.normal(scale=0.5, size=(len(z), 3))
        out.append(Structure(z, pos, name=f"s{i}", labels={"energy": energy, "forces": forces}))
    return out


def test_least_squares_recovers_reference_energies():
    structures = _structures(np.random.default_rng(0))
    graphs = [structure_to_graph(s, 3.0) for s in structures]
    stats = compute_statistics(graphs)
    assert (
        stats.species == (1, 6, 8)
        and stats.e0_source == ("least_squares",)
        and stats.levels == ("dft",)
    )
    # [level][species]
    np.testing.assert_allclose(stats.atomic_energies, [[E0[1], E0[6], E0[8]]], atol=0.05)
    forces = np.concatenate([s.labels["forces"] for s in structures])
    # float32 graphs
    assert np.isclose(stats.energy_scale[0], np.sqrt(np.mean(forces**2)), rtol=1e-6)
    n_edges = sum(len(g.senders) for g in graphs)
    assert stats.avg_num_neighbors == n_edges / sum(s.n_atoms for s in structures)


def test_isolated_atom_energies_take_precedence_and_round_trip():
    graphs = [structure_to_graph(s, 3.0) for s in _structures(np.random.default_rng(1))]
    isolated = {1: -13.0, 6: -1030.0, 8: -2040.0}
    stats = compute_statistics(graphs, isolated_atom_energies=isolated)
    assert stats.e0_source == ("isolated_atoms",)
    assert stats.atomic_energies == ((-13.0, -1030.0, -2040.0),)
    assert Statistics.from_json(stats.to_json()) == stats
    assert stats.z_to_species()[8] == 2 and stats.z_to_species()[16] == -1
