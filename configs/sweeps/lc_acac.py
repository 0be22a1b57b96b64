"""Learning curves on acetylacetone (PBE-D3/def2-SVP, 300 K MD; data/public/botnet/acac
from `python -m experiments.data.fetch`).

Fixed 50 validation / 50 test frames of train_300K, n_train from the other 400 (nested);
train_600K scored as a second test set (`test600_*`). Prepare the data first:
  python -m experiments.learning_curves.prepare
  python -m orbjax.sweep --config configs/sweeps/lc_acac.py --launcher local --workers 1 [--only
      seed=0]
(`lc_X.py:weights`, `:noforces`, `:controls` for the other experiments, see lc_common.py)
"""

import os

from orbjax.config import load_config_module

common = load_config_module(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "lc_common.py")
)
D = common.DATA
DATA = {
    "data.train_path": f"{D}/acac_train.h5",
    "data.val_path": f"{D}/acac_val.h5",
    "data.test_path": f"{D}/acac_test.h5",
    "data.extra_tests": f"test600={D}/acac_test600.h5",
    "data.key_preset": "default",
    "data.isolated_atoms_path": "data/public/botnet/acac/isolated_atoms.xyz",
}  # experiments.data.fetch
# Chosen by the `weights` scan (validation energy MAE, geometric mean over n = 50 and 200 of
# the ratio to energy-only; results/weights_choice.csv): the weight of the controls.
AUX_WEIGHT = 3000.0
SIZES_STEPS = [(25, 1000), (50, 1500), (100, 2000), (200, 3000), (400, 4000)]


def get_config(kind="curve"):
    return common.experiment("acac", DATA, SIZES_STEPS, kind, aux_weight=AUX_WEIGHT)
