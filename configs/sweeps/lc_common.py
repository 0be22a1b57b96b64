"""The learning-curve grid of issue 13, shared by `lc_acac.py` and `lc_chno.py`.

Runs are ordered seed-major (then size, then variant), so a sweep cut short has complete,
seed-paired curves for its first seeds. Every variant of one (size, seed) trains the same
number of steps on the same structures; the validation and test sets never change
(`data.split_seed`, or fixed files), the seed draws the initialisation and the nested
`n_train` subsample. The best-by-validation (DFT energy + forces) checkpoint is scored.
"""
import ml_collections

DATA = "data/learning_curves"  # written by experiments/learning_curves/prepare.py
COMMON = {"train.progress_bar": False, "train.eval_every": 250, "train.checkpoint_every": 250,
          "train.log_every": 250}


def learning_curve_sweep(name, data, sizes_steps, variants, seeds, extra=None):
    """A sweep: {seed} × {(n_train, num_steps)} × {variant} with the data overrides `data`."""
    runs = []
    for seed in seeds:
        for n_train, steps in sizes_steps:
            for variant in variants:
                runs.append({"seed": seed, "data.n_train": n_train, "train.num_steps": steps,
                             "config": variant, **data, **COMMON, **(extra or {})})
    sweep = ml_collections.ConfigDict()
    sweep.name = name
    sweep.base_config = "../default.py"
    sweep.sweep_dir = f"runs/learning_curves/{name}"
    sweep.runs = runs
    sweep.slurm = ml_collections.ConfigDict(dict(partition="gpu", gpus_per_node=1, cpus_per_task=4, mem_gb=16,
                                                 timeout_min=120, array_parallelism=32))
    return sweep
