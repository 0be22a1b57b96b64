"""Committees for a real temperature shift (experiments/calibration/temperature_shift.py):
the grown CHNO set's learning-curve split, trained and validated on its ≤ 500 K frames only.

    python -m experiments.calibration.temperature_shift prepare
    python -m orbjax.sweep --config configs/sweeps/calibration_shift.py --launcher local --workers 1

Energy + forces (configs/energy_only.py, the learning curves' recipe), 5 members (seeds 0–4)
at n = 200 (each member its own subsample, as the learning-curve committees) and on all 761
cool training frames, at the learning curves' step budgets for n = 200 and 800 (3,000;
5,000; their full set of 1,205 had 6,000).
"""

import os

from orbjax.config import load_config_module

HERE = os.path.dirname(os.path.abspath(__file__))
common = load_config_module(os.path.join(HERE, "lc_common.py"))

DATA = {
    "data.train_path": "data/calibration/chno_grown_cool_train.h5",
    "data.val_path": "data/calibration/chno_grown_cool_val.h5",
    "data.test_path": "data/calibration/chno_grown_test.h5",
    "data.key_preset": "chno",
    "data.split_seed": 0,  # fixed files: the split does not depend on the seed
}
SIZES_STEPS = ((200, 3000), (0, 5000))  # n_train (0: all 761) and steps
SEEDS = (0, 1, 2, 3, 4)


def get_config():
    runs = [
        {
            "config": "energy_only",
            "seed": seed,
            "data.n_train": n,
            "train.num_steps": steps,
            **DATA,
            **common.COMMON,
        }
        for n, steps in SIZES_STEPS
        for seed in SEEDS
    ]
    return common.sweep_config("chno_grown_cool", "runs/calibration/chno_grown_cool", runs)
