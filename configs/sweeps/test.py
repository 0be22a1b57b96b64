"""A tiny sweep for tests and CI: 2 seeds × 2 learning rates of configs/test.py, a few steps.

python -m orbjax.sweep --config configs/sweeps/test.py --launcher local --workers 2
"""

import ml_collections

from orbjax.sweep import axis, product, zipit


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.name = "orbjax_test_sweep"
    sweep.base_config = "../test.py"
    sweep.sweep_dir = "runs/sweeps/test"
    sweep.runs = product(
        axis("seed", [0, 1]),
        zipit(
            axis("optimizer.learning_rate", [1e-2, 3e-3]), axis("optimizer.warmup_steps", [2, 3])
        ),
        axis("data.limit", [16]),
        axis("train.n_buckets", [1]),
        axis("train.num_steps", [6]),
        axis("train.eval_every", [6]),
        axis("train.checkpoint_every", [2]),
        axis("train.eval_at_start", [False]),
    )
    sweep.slurm = ml_collections.ConfigDict()
    sweep.slurm.partition = ""
    sweep.slurm.gpus_per_node = 0
    sweep.slurm.cpus_per_task = 1
    sweep.slurm.mem_gb = 4
    sweep.slurm.timeout_min = 10
    return sweep
