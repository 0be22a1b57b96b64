"""A committee of 4 models: the same config, 4 seeds (initialisation and batch order).

Train (each run's workdir gets model.orbjax when it finishes), then run committee MD:

  python -m orbjax.sweep --config configs/sweeps/committee.py --launcher local --workers 2
  python -m orbjax.md --model runs/sweeps/committee/seed=*/model.orbjax --structure box.extxyz \\
      --steps 10000 --out md_committee --uncertainty-threshold 0.3 --on-uncertain stop

`configs/sweeps/committee.py` (default, "shared"): the members train on one n_train
subsample (data.subsample_seed fixed), so they differ by initialisation only;
`configs/sweeps/committee.py:own`: each member draws its own subsample from its seed
(data.subsample_seed -1), as separate runs always did. The validation/test split is fixed
(data.split_seed 0) either way. Other settings as overrides of the base config:
`--config.…` is not taken by the sweep, so copy this file and edit BASE, N_TRAIN, SEEDS.
"""

import ml_collections

from orbjax.sweep import axis, product

BASE = "../default.py"  # the training config every member uses
N_TRAIN = 0  # 0: the whole training split; else a subsample of this many structures
SEEDS = [0, 1, 2, 3]  # one member per seed


def get_config(kind="shared"):
    if kind not in ("shared", "own"):
        raise ValueError(f"committee sweep kind must be 'shared' or 'own', not {kind!r}")
    sweep = ml_collections.ConfigDict()
    sweep.name = f"orbjax_committee_{kind}"
    sweep.base_config = BASE
    sweep.sweep_dir = "runs/sweeps/committee" + ("" if kind == "shared" else "_own")
    sweep.runs = product(
        axis("seed", SEEDS),
        axis("data.split_seed", [0]),
        axis("data.n_train", [N_TRAIN]),
        axis("data.subsample_seed", [0 if kind == "shared" else -1]),
    )
    sweep.slurm = ml_collections.ConfigDict()
    sweep.slurm.partition = ""
    sweep.slurm.gpus_per_node = 1
    sweep.slurm.cpus_per_task = 4
    sweep.slurm.mem_gb = 16
    sweep.slurm.timeout_min = 240
    return sweep
