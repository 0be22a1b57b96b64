"""The denoising control: pretraining on the GFN1 set's structures with none of its labels.

    python -m experiments.pretraining.denoise data/pretraining/chno_gfn1_10k.h5 \
        data/pretraining/chno_denoise_10k.h5
    bash experiments/pretraining/pretrain_controls.sh       # pretrains on it (and pops-only)

Does pretraining help because of GFN1's labels or because the network sees 100× more
structures? This arm keeps the structures and drops the labels: each structure is copied
`COPIES` times with Gaussian noise of `SIGMA_A` Å per coordinate added to its positions, and
the network learns to push the atoms back, as a force field: the training target is the
restoring force F = −κ·(x̃ − x) with κ = `KAPPA` eV/Å² (the denoising-score direction,
−(x̃ − x)/σ², rescaled to forces of ~1.7 eV/Å per atom, the size of GFN1 MD forces), and no
energy (coordinate denoising as in Zaidi et al., ICLR 2023, with the forces as the noise
head). The noise's rigid part (net translation and rotation) is projected out: the forces of
an energy model sum to zero and exert no torque, so that part could never be fitted.
Fine-tuning then starts from that network exactly as from the GFN1-pretrained ones.

Units: Å, eV/Å. The copies keep their structure's mol_id, so a molecule-disjoint split keeps
all copies of a molecule together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SIGMA_A = 0.05  # Å per Cartesian component
KAPPA = 20.0  # eV/Å²: κσ = 1 eV/Å per component, ~1.7 eV/Å per atom (√3 σ displacement)
COPIES = 3  # noisy copies per structure (fresh noise per copy)
FORCES_KEY = "forces"  # the file's only label, read as forces (no energy)


def internal(noise: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """noise [N, 3] Å without its rigid part: the mean (translation) and the best-fitting
    rotation ω × (r − r̄) (unit masses; least squares) removed."""
    noise = noise - noise.mean(axis=0)
    r = positions - positions.mean(axis=0)
    if len(r) < 2:
        return noise
    inertia = np.eye(3) * np.sum(r * r) - r.T @ r  # Σ (|r|² 1 − r rᵀ)
    omega = np.linalg.lstsq(inertia, np.cross(r, noise).sum(axis=0), rcond=None)[0]
    return noise - np.cross(omega, r)


def noisy_copies(structures, copies: int = COPIES, sigma: float = SIGMA_A, seed: int = 0):
    """`copies` noisy versions of every structure: positions + N(0, σ²) per coordinate less
    its rigid part (`internal`), the one label `FORCES_KEY` = −κ·noise (eV/Å); mol_id, cell
    and charge kept, info noted."""
    from orbjax.data.structures import Structure

    rng = np.random.default_rng(seed)
    out = []
    for s in structures:
        for c in range(copies):
            noise = internal(rng.normal(0.0, sigma, size=s.positions.shape), s.positions)
            out.append(
                Structure(
                    atomic_numbers=s.atomic_numbers,
                    positions=s.positions + noise,
                    cell=s.cell,
                    pbc=s.pbc,
                    name=f"{s.name}#noise{c}",
                    mol_id=s.mol_id,
                    charge=s.charge,
                    multiplicity=s.multiplicity,
                    labels={FORCES_KEY: -KAPPA * noise},
                    info={"source": s.name, "noise_sigma_A": sigma, "kappa_eV_A2": KAPPA},
                )
            )
    return out


def main(argv=None) -> int:
    from orbjax.data.dataset import read_arrays, read_dataset, write_dataset

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="the GFN1 pretraining set (.h5): its structures only")
    p.add_argument("out", help="the denoising set to write (.h5)")
    p.add_argument("--copies", type=int, default=COPIES)
    p.add_argument("--sigma", type=float, default=SIGMA_A, help="noise per coordinate, Å")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    attrs = {
        "method": "coordinate denoising",
        "source": args.source,
        "seed": args.seed,
        "copies": args.copies,
        "noise_sigma_A": args.sigma,
        "kappa_eV_A2": KAPPA,
        "rigid_part_removed": True,
    }
    if Path(args.out).exists():  # the same settings: nothing to do; others: refused
        _, have = read_arrays(args.out)
        differ = {k: (have.get(k), v) for k, v in attrs.items() if have.get(k) != v}
        if differ:
            raise SystemExit(f"{args.out} was made with other settings {differ}: another path")
        print(f"{args.out}: already made with these settings")
        return 0
    structures, _ = read_dataset(args.source)
    copies = noisy_copies(structures, args.copies, args.sigma, args.seed)
    write_dataset(args.out, copies, attrs, compact=True)
    print(f"{args.out}: {len(copies)} noisy copies of {len(structures)} structures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
