"""Learning curves on the shared CHNO set (ωB97X/6-31G(d), 626 structures, 209 molecules;
experiments/data/chno/).

Molecule-disjoint validation and test molecules (10 % each) fixed by data.split_seed = 0 for
every run; n_train (0 = the whole training split, 503 structures) is a nested subsample
drawn by the run's seed. Prepare the data first:
  python -m experiments.learning_curves.prepare
  python -m orbjax.sweep --config configs/sweeps/lc_chno.py --launcher local --workers 1 [--only
      seed=0]
(`lc_X.py:weights`, `:noforces`, `:controls` for the other experiments, see lc_common.py)
"""

import os

from orbjax.config import load_config_module

common = load_config_module(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "lc_common.py")
)
DATA = {
    "data.train_path": f"{common.DATA}/chno.h5",
    "data.key_preset": "chno",
    "data.split_seed": 0,
}
# Chosen by the `weights` scan (validation energy MAE, geometric mean over n = 50 and 200 of
# the ratio to energy-only; results/weights_choice.csv): the weight of the controls.
AUX_WEIGHT = 1000.0
SIZES_STEPS = [(50, 1500), (100, 2000), (200, 3000), (0, 4000)]


def get_config(kind="curve"):
    return common.experiment(
        "chno", DATA, SIZES_STEPS, kind, controls=("dft_charges",), aux_weight=AUX_WEIGHT
    )
