"""The shuffled-target control keeps per-element label statistics and destroys the pairing."""

import numpy as np
import pytest

from orbjax.data.shuffle import shuffle_within_element
from orbjax.data.structures import Structure


def molecule(k: int, rng) -> Structure:
    """C, H, H with GFN1-like layouts: C has s + p (4 orbitals, 2 shells), H has two s shells."""
    z = [6, 1, 1]
    shell_atom = np.array([0, 0, 1, 1, 2, 2])
    orbital_shell = np.array([0, 1, 1, 1, 2, 3, 4, 5])
    orbitals = rng.normal(size=8)
    charges = rng.normal(size=3)
    return Structure(
        z,
        rng.normal(size=(3, 3)) * 3,
        name=f"m{k}",
        labels={
            "xtb_orbital_populations": orbitals,
            "xtb_charges": charges,
            "xtb_shell_atom": shell_atom,
            "xtb_orbital_shell": orbital_shell,
        },
    )


def per_element_blocks(structures, label="xtb_orbital_populations"):
    blocks = {6: [], 1: []}
    for s in structures:
        v = s.labels[label]
        blocks[6].append(tuple(v[0:4]))
        blocks[1].append(tuple(v[4:6]))
        blocks[1].append(tuple(v[6:8]))
    return blocks


def test_whole_atom_vectors_move_between_atoms_of_one_element_only():
    rng = np.random.default_rng(0)
    structures = [molecule(k, rng) for k in range(20)]
    before = per_element_blocks(structures)
    shuffled = shuffle_within_element(structures, ("xtb_orbital_populations",), seed=3)
    after = per_element_blocks(shuffled)
    for z in (6, 1):  # the same multiset of whole per-atom vectors per element …
        assert sorted(before[z]) == sorted(after[z])
        moved = np.mean([a != b for a, b in zip(before[z], after[z])])
        assert moved > 0.8  # … but almost all of them on another atom
    assert per_element_blocks(structures) == before  # inputs untouched
    for s, t in zip(structures, shuffled):  # other labels untouched
        assert np.array_equal(s.labels["xtb_charges"], t.labels["xtb_charges"])


def test_deterministic_in_the_seed_and_per_atom_labels_too():
    rng = np.random.default_rng(1)
    structures = [molecule(k, rng) for k in range(10)]
    a = shuffle_within_element(structures, ("xtb_charges",), seed=5)
    b = shuffle_within_element(structures, ("xtb_charges",), seed=5)
    c = shuffle_within_element(structures, ("xtb_charges",), seed=6)
    values = lambda ss: np.concatenate([s.labels["xtb_charges"] for s in ss])  # noqa: E731
    assert np.array_equal(values(a), values(b)) and not np.array_equal(values(a), values(c))
    carbon = lambda ss: sorted(s.labels["xtb_charges"][0] for s in ss)  # noqa: E731
    assert carbon(a) == carbon(structures)


def test_unknown_or_missing_label_is_an_error_naming_it():
    rng = np.random.default_rng(2)
    structures = [molecule(0, rng)]
    with pytest.raises(ValueError, match="energy"):
        shuffle_within_element(structures, ("energy",), seed=0)
    del structures[0].labels["xtb_charges"]
    with pytest.raises(ValueError, match="xtb_charges.*m0"):
        shuffle_within_element(structures, ("xtb_charges",), seed=0)


def test_unlabelled_structures_keep_the_label_absent_and_stay_out_of_the_permutation():
    """Frames without GFN1 labels (the metals' PBE-only surfaces) are mixed in."""
    rng = np.random.default_rng(4)
    structures = [molecule(k, rng) for k in range(12)]
    for k in (2, 7):
        structures[k].labels.pop("xtb_orbital_populations")
    shuffled = shuffle_within_element(structures, ("xtb_orbital_populations",), seed=1)
    assert all("xtb_orbital_populations" not in shuffled[k].labels for k in (2, 7))
    labelled = [s for k, s in enumerate(structures) if k not in (2, 7)]
    after = per_element_blocks([s for k, s in enumerate(shuffled) if k not in (2, 7)])
    for z, blocks in per_element_blocks(labelled).items():
        assert sorted(blocks) == sorted(after[z])
