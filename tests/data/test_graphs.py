"""Structure → graph: layout, dtypes, labels and masks (missing labels never give NaN)."""

from pathlib import Path

import numpy as np
import pytest

from orbjax.data.graphs import graphs_to_batch, structure_to_graph
from orbjax.data.structures import Structure, StructureError
from orbjax.orbitals import n_orbitals

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CHNO = DATA / "chno" / "chno_wb97x.extxyz"


def chno_structures(count):
    if not CHNO.exists():
        pytest.skip(f"{CHNO} not found")
    import ase.io

    out = []
    for k, atoms in enumerate(ase.io.read(CHNO, f":{count}")):
        labels = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "dft_charges": atoms.arrays["dft_mulliken_charges"],
        }
        out.append(
            Structure(
                atoms.numbers,
                atoms.positions,
                name=f"chno:{k}",
                mol_id=str(atoms.info["mol_id"]),
                labels=labels,
            )
        )
    return out


def water(**labels):
    positions = [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]
    return Structure([8, 1, 1], positions, name="water", charge=-1.0, labels=labels)


def assert_no_nan(graph):
    for part in (graph.nodes, graph.edges, graph.globals):
        for key, value in part.items():
            assert np.isfinite(value).all(), key


def test_chno_graph_carries_labels_and_geometry():
    s = chno_structures(1)[0]
    g = structure_to_graph(s, cutoff=5.0)
    n = s.n_atoms
    assert g.n_node.tolist() == [n] and g.n_node.dtype == np.int32
    assert (
        g.n_edge.tolist() == [len(g.senders)] and g.senders.dtype == g.receivers.dtype == np.int32
    )
    np.testing.assert_allclose(g.nodes["positions"], s.positions)
    np.testing.assert_allclose(g.nodes["forces"], s.labels["forces"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.nodes["dft_charges"], s.labels["dft_charges"], atol=1e-6)
    assert g.nodes["forces_mask"].all() and g.nodes["dft_charges_mask"].all()
    assert not g.nodes["atomic_charges_mask"].any() and not g.nodes["orbital_mask"].any()
    # float64 kept
    assert g.globals["energy"][0] == pytest.approx(float(s.labels["energy"]), abs=1e-9)
    assert g.globals["energy_mask"].tolist() == [True] and g.globals["stress_mask"].tolist() == [
        False
    ]
    assert g.nodes["forces"].dtype == np.float32 and g.globals["energy"].dtype == np.float64
    # Molecule: all pairs within 5 Å, no shifts, no self-edges.
    d = np.linalg.norm(s.positions[:, None] - s.positions[None], axis=-1)
    assert len(g.senders) == np.sum((d < 5.0) & (d > 0))
    assert not g.edges["shifts"].any() and (g.senders != g.receivers).all()
    assert_no_nan(g)


def test_missing_and_nan_labels_are_zero_with_false_mask():
    forces = np.ones((3, 3))
    forces[1, 2] = np.nan
    charges = np.array([0.5, np.nan, -0.2])
    g = structure_to_graph(water(energy=np.nan, forces=forces, xtb_charges=charges), cutoff=3.0)
    assert g.nodes["forces_mask"].tolist() == [True, False, True]
    assert g.nodes["atomic_charges_mask"].tolist() == [True, False, True]
    assert g.nodes["atomic_charges"][1] == 0.0 and (g.nodes["forces"][1] == 0).all()
    assert g.globals["energy_mask"].tolist() == [False] and g.globals["energy"][0] == 0.0
    for key in ("dft_charges_mask", "spd_mask", "orbital_mask", "stress"):
        assert not np.any(g.nodes.get(key, g.globals.get(key)))
    assert g.globals["total_charge"].tolist() == [-1.0]
    assert_no_nan(g)


def test_energy_and_forces_keys_select_xtb_labels():
    s = water(
        energy=-10.0, forces=np.zeros((3, 3)), xtb_energy=-5.0, xtb_forces=np.full((3, 3), 2.0)
    )
    g = structure_to_graph(s, cutoff=3.0, energy_key="xtb_energy", forces_key="xtb_forces")
    assert g.globals["energy"][0] == -5.0 and (g.nodes["forces"] == 2.0).all()


def test_orbital_and_spd_labels_follow_the_gfn1_basis():
    # O has s, p (4 orbitals); H has two s shells (2 orbitals): 8 orbitals in tblite order.
    assert n_orbitals(np.array([8, 1, 1])).tolist() == [4, 2, 2]
    flat = np.arange(1.0, 9.0)
    spd = np.array([[1.8, 4.5, 0.3], [0.7, 0.1, 0.2], [0.7, 0.0, 0.0]])  # nonzero p/d for H: masked
    g = structure_to_graph(water(xtb_orbital_populations=flat, xtb_spd_populations=spd), cutoff=3.0)
    mask = g.nodes["orbital_mask"]
    assert mask.sum(axis=1).tolist() == [4, 2, 2]
    np.testing.assert_array_equal(g.nodes["orbital_populations"][mask], flat)
    assert (g.nodes["orbital_populations"][~mask] == 0).all()
    assert g.nodes["spd_mask"].tolist() == [
        [True, True, False],
        [True, False, False],
        [True, False, False],
    ]
    np.testing.assert_allclose(
        g.nodes["spd_populations"], [[1.8, 4.5, 0], [0.7, 0, 0], [0.7, 0, 0]], atol=1e-6
    )
    assert_no_nan(g)


def test_wrong_orbital_count_names_the_structure():
    with pytest.raises(StructureError, match="water"):
        structure_to_graph(water(xtb_orbital_populations=np.ones(7)), cutoff=3.0)


def test_periodic_graph_has_cell_pbc_and_stress():
    stress = np.arange(9.0).reshape(3, 3) * 1e-3
    stress = stress + stress.T
    s = Structure(
        [29],
        [[0.0, 0.0, 0.0]],
        cell=np.eye(3) * 2.5,
        pbc=True,
        labels={"stress": stress},
        name="cu",
    )
    g = structure_to_graph(s, cutoff=3.6)
    assert len(g.senders) == 6 + 12  # simple cubic, a = 2.5 Å: 6 images at 2.5 Å, 12 at 3.54 Å
    assert (g.senders == 0).all() and (g.receivers == 0).all()
    assert g.globals["pbc"].tolist() == [[True, True, True]] and g.globals[
        "stress_mask"
    ].tolist() == [True]
    np.testing.assert_allclose(g.globals["stress"][0], stress, atol=1e-7)
    np.testing.assert_allclose(g.globals["cell"][0], np.eye(3) * 2.5)


def test_batch_concatenates_and_offsets_edges():
    graphs = [structure_to_graph(s, cutoff=4.0) for s in chno_structures(3)]
    batch = graphs_to_batch(graphs)
    assert batch.n_node.tolist() == [int(g.n_node[0]) for g in graphs]
    second = slice(int(graphs[0].n_edge[0]), int(graphs[0].n_edge[0] + graphs[1].n_edge[0]))
    np.testing.assert_array_equal(batch.senders[second], graphs[1].senders + graphs[0].n_node[0])
    assert batch.globals["energy"].shape == (3,)
