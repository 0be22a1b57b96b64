"""Learning curves on the CHNO set: training size × auxiliary target × seed (90 runs).

Label the data first (GFN1-xTB populations next to the ωB97X energies, forces and charges):
  python -m orbjax.label experiments/data/chno/chno_wb97x.extxyz data/chno_gfn1.h5
then, from the repository root:
  python -m orbjax.sweep --config configs/sweeps/learning_curve.py --launcher slurm
  python -m orbjax.sweep collect --sweep-dir runs/sweeps/learning_curve

Every run trains for the same number of optimiser steps, so small training sets see many
epochs; the best checkpoint by validation error is kept. `seed` changes both the
molecule-disjoint split and the initialisation; `n_train` subsamples are nested.
"""

import ml_collections

from orbjax.sweep import axis, product

VARIANTS = ("energy_only", "orbital", "orbital_invariant", "shell", "atomic", "dft_charges")


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.name = "learning_curve"
    sweep.base_config = "../default.py"
    sweep.sweep_dir = "runs/sweeps/learning_curve"
    sweep.runs = product(
        # structures; 0 = the whole training split (≈320)
        axis("data.n_train", [25, 50, 100, 200, 0]),
        axis("config", VARIANTS),
        axis("seed", [0, 1, 2]),
        axis("data.train_path", ["data/chno_gfn1.h5"]),
        axis("train.num_steps", [20000]),
        axis("train.progress_bar", [False]),
    )

    sweep.slurm = ml_collections.ConfigDict()
    sweep.slurm.partition = "gpu"
    sweep.slurm.gpus_per_node = 1
    sweep.slurm.cpus_per_task = 8
    sweep.slurm.mem_gb = 32
    sweep.slurm.timeout_min = 240  # preempted/timed-out runs are requeued and resume
    sweep.slurm.array_parallelism = 32  # runs at a time
    sweep.slurm.account = ""
    sweep.slurm.qos = ""
    sweep.slurm.setup = []  # shell lines before each run, e.g. ["module load cuda/12"]
    return sweep
