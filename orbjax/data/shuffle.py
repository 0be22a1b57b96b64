"""The shuffled-target control: per-atom labels permuted among atoms of the same element.

An auxiliary target can help a potential in two ways: by the electronic information it
carries, or merely by being a second task (multitask regularisation). To tell them apart,
the control trains on the same labels with their information destroyed and their
statistics kept: one fixed permutation per element, over every atom of that element in
the training split, moves whole per-atom vectors (all orbitals of an atom together) to
another atom of the same element. Per-element means, variances and the orbital layout stay
exactly as they were; which environment a value belongs to is lost.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from orbjax.data.structures import Structure

# Labels that can be shuffled, and how their values belong to atoms.
PER_ATOM = ("xtb_charges", "xtb_spd_populations", "dft_charges")
PER_ORBITAL = ("xtb_orbital_populations",)  # atom of an orbital: xtb_orbital_shell → xtb_shell_atom
PER_SHELL = ("xtb_shell_populations",)  # atom of a shell: xtb_shell_atom


def shuffle_within_element(
    structures: list[Structure], labels: tuple[str, ...], seed: int
) -> list[Structure]:
    """Copies of `structures` whose `labels` are permuted among same-element atoms.

    Structures without a label (e.g. frames left unlabelled, whose targets the loss masks)
    keep it absent and take no part in its permutation. Structures are copied; the inputs
    are not changed. The permutation is a pure function of `seed`.
    """
    for label in labels:
        if label not in PER_ATOM + PER_ORBITAL + PER_SHELL:
            raise ValueError(
                f"cannot shuffle {label!r}: one of {PER_ATOM + PER_ORBITAL + PER_SHELL}"
            )
        if structures and not any(label in s.labels for s in structures):
            raise ValueError(
                f"no structure carries a {label!r} label to shuffle (first: {structures[0].name!r})"
            )
    out = [dataclasses.replace(s, labels=dict(s.labels)) for s in structures]
    for k, label in enumerate(labels):
        _shuffle_label(out, label, np.random.default_rng([seed, 7, k]))
    return out


def _atom_slices(structure: Structure, label: str) -> list[np.ndarray]:
    """[n_atoms] index arrays into the label's first axis: the values of each atom."""
    if label not in structure.labels:
        raise ValueError(f"structure {structure.name!r}: no {label!r} label to shuffle")
    n = structure.n_atoms
    if label in PER_ATOM:
        return [np.array([i]) for i in range(n)]
    owner = structure.labels["xtb_shell_atom"].astype(np.int64)  # [n_shells]
    if label in PER_ORBITAL:
        owner = owner[structure.labels["xtb_orbital_shell"].astype(np.int64)]  # [n_orbitals]
    return [np.flatnonzero(owner == i) for i in range(n)]


def _shuffle_label(structures: list[Structure], label: str, rng: np.random.Generator) -> None:
    # Every (structure, atom) of each element, and that atom's block of values.
    blocks: dict[int, list[tuple[int, np.ndarray]]] = {}
    for si, s in enumerate(structures):
        if label not in s.labels:
            continue
        for atom, idx in enumerate(_atom_slices(s, label)):
            blocks.setdefault(int(s.atomic_numbers[atom]), []).append((si, idx))
    values = [np.asarray(s.labels[label]) if label in s.labels else None for s in structures]
    new_values = [None if v is None else v.copy() for v in values]
    for z, members in blocks.items():
        sizes = {len(idx) for _, idx in members}
        if len(sizes) != 1:
            raise ValueError(
                f"{label}: atoms of element Z={z} carry different numbers of values {sorted(sizes)}"
            )
        perm = rng.permutation(len(members))
        for (dst_s, dst_idx), src in zip(members, perm):
            src_s, src_idx = members[src]
            new_values[dst_s][dst_idx] = values[src_s][src_idx]
    for s, v in zip(structures, new_values):
        if v is not None:
            s.labels[label] = v
