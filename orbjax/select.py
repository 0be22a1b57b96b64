"""Pick structures to label by committee spread, with diversity (active learning).

    python -m orbjax.select --model m0.orbjax m1.orbjax m2.orbjax m3.orbjax \\
        --candidates md_run/trajectory.extxyz --k 25 --out to_label.extxyz

Every candidate (any structure file ASE reads, e.g. an MD trajectory) is scored by the
committee's max force spread max_i σ_F,i (eV/Å; `--score energy` takes σ_E, eV/atom). The
`--pool` × k most uncertain form the pool; from it, k are chosen by farthest-point sampling
in descriptor space (each structure's mean per-atom descriptor, `Potential.descriptors` of
the first member), starting from the most uncertain: uncertain, and not k near-copies of
one event. Writes them as extxyz (info: candidate_index, max_force_std_eV_A,
energy_std_per_atom_eV) for labelling (`python -m orbjax.label`), and their candidate
indices, one a line, to `<out>.indices.txt` (usable as data.train_indices when the
candidates are the training file and orbjax reads every structure of it: data.train_indices
counts the structures a run reads, after data.limit and any left out as unreadable).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from orbjax import cli

SCORES = {"forces": "max_force_std", "energy": "energy_std_per_atom"}


def committee_scores(committee, frames) -> dict[str, np.ndarray]:
    """[n_frames] max force spread (eV/Å) and energy spread (eV/atom) of ASE `frames`,
    batched (`Committee.predict_structures`)."""
    from orbjax.data.structures import Structure

    structures = [
        Structure(
            atomic_numbers=np.asarray(a.numbers),
            positions=np.asarray(a.positions, np.float64),
            cell=a.cell.array if a.pbc.any() else np.zeros((3, 3)),
            pbc=np.asarray(a.pbc, bool),
            name=f"candidate {i}",
        )
        for i, a in enumerate(frames)
    ]
    results = committee.predict_structures(structures)
    return {
        key: np.asarray([r[key] for r in results], np.float64)
        for key in ("max_force_std", "energy_std_per_atom")
    }


def mean_descriptors(committee, frames) -> np.ndarray:
    """[n_frames, channels]: each frame's mean per-atom descriptor (first member)."""
    return np.stack(
        [
            committee.descriptors(
                a.positions,
                a.numbers,
                a.cell.array if a.pbc.any() else None,
                a.pbc if a.pbc.any() else None,
            ).mean(axis=0)
            for a in frames
        ]
    )


def farthest_point(x: np.ndarray, k: int, reference: np.ndarray | None = None) -> np.ndarray:
    """Indices of k rows of `x` [n, d], each time the row farthest (Euclidean) from those
    chosen: from row 0, or, given `reference` [m, d] (e.g. the labelled set's descriptors),
    from the row farthest from it, so the picks fill gaps instead of corners already covered."""
    k = min(k, len(x))
    if reference is None or len(reference) == 0:
        chosen = [0]
        distance = np.linalg.norm(x - x[0], axis=1)
        distance[0] = -1.0
    else:
        chosen = []
        distance = np.full(len(x), np.inf)
        for row in reference:  # one row at a time: memory [n, d], not [n, m, d]
            distance = np.minimum(distance, np.linalg.norm(x - row, axis=1))
    while len(chosen) < k:
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(x - x[nxt], axis=1))
        distance[chosen] = -1.0  # a chosen row is never chosen twice, even at distance 0
    return np.asarray(chosen[:k], dtype=np.int64)


def select(
    committee,
    frames,
    k: int,
    pool: float = 3.0,
    score: str = "forces",
    labelled=None,
) -> tuple[np.ndarray, dict]:
    """(indices into `frames` of the k chosen, every frame's spreads {"max_force_std" eV/Å,
    "energy_std_per_atom" eV/atom}): the ceil(pool·k) highest spreads, thinned to k by
    farthest-point sampling on mean descriptors (pool ≤ 1: the k highest), from the most
    uncertain, or, given the `labelled` frames (ASE Atoms), from those farthest from them."""
    if score not in SCORES:
        raise ValueError(f"--score must be one of {sorted(SCORES)}, not {score!r}")
    if k < 1:
        raise ValueError(f"--k must be ≥ 1, not {k}")
    scores = committee_scores(committee, frames)
    top = np.argsort(-scores[SCORES[score]], kind="stable")[: max(k, int(np.ceil(pool * k)))]
    if len(top) <= k:
        return top, scores
    x = mean_descriptors(committee, [frames[i] for i in top])
    reference = mean_descriptors(committee, labelled) if labelled else None
    return top[farthest_point(x, k, reference)], scores


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m orbjax.select", description=__doc__.split("\n")[0])
    p.add_argument(
        "--model", required=True, nargs="+", help="the committee's model files or workdirs (≥ 2)"
    )
    p.add_argument(
        "--candidates", required=True, help="structure file ASE reads (every frame is a candidate)"
    )
    p.add_argument("--k", type=int, required=True, help="structures to choose")
    p.add_argument("--out", required=True, help="extxyz file of the chosen structures")
    p.add_argument(
        "--pool",
        type=float,
        default=3.0,
        help="farthest-point sampling among the pool x k most uncertain (1: just the k most "
        "uncertain)",
    )
    p.add_argument(
        "--score",
        choices=sorted(SCORES),
        default="forces",
        help="forces: max force spread (eV/Å); energy: energy spread per atom (eV/atom)",
    )
    p.add_argument(
        "--labelled",
        default=None,
        help="structure file of what is labelled already (e.g. the training set): the "
        "farthest-point sampling starts from the candidates farthest from it",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="default: the model's training dtype",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda: _main(argv), argv)


def _main(argv) -> int:
    from ase.io import write

    from orbjax.potential.committee import load_committee

    args = parse_args(argv)
    if len(args.model) < 2:
        raise ValueError(
            "--model needs the committee's model files (at least 2): selection ranks by their "
            "spread"
        )
    frames = _read_frames(args.candidates, "--candidates")
    labelled = _read_frames(args.labelled, "--labelled") if args.labelled else None
    committee = load_committee(args.model, dtype=args.dtype)
    chosen, scores = select(committee, frames, args.k, args.pool, args.score, labelled)
    out = []
    for i in chosen:
        atoms = frames[i].copy()
        atoms.info.update(
            candidate_index=int(i),
            max_force_std_eV_A=float(scores["max_force_std"][i]),
            energy_std_per_atom_eV=float(scores["energy_std_per_atom"][i]),
        )
        out.append(atoms)
    write(args.out, out, format="extxyz")
    with open(f"{args.out}.indices.txt", "w") as f:
        f.write(
            f"# {args.candidates}: {len(chosen)} of {len(frames)} chosen by python -m "
            "orbjax.select\n"
        )
        f.writelines(f"{int(i)}\n" for i in chosen)
    print(
        f"{len(chosen)} of {len(frames)} candidates -> {args.out} (max force spread "
        f"{scores['max_force_std'][chosen].min():.3g}-{scores['max_force_std'][chosen].max():.3g} "
        "eV/Å; "
        f"median of all {np.median(scores['max_force_std']):.3g})"
    )
    return 0


def _read_frames(path: str, option: str) -> list:
    from ase.io import read

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such structure file ({option})")
    try:
        return read(path, index=":")
    except Exception as err:  # ASE raises many kinds for a file of another kind
        raise ValueError(
            f"{path}: not a structure file ASE can read ({option}): "
            f"{type(err).__name__}: {cli.one_line(err)}"
        ) from err


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
