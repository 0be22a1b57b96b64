"""Learning curves on the grown CHNO set (experiments/data/chno/ 626 structures +
experiments/data/chno_grow_*.extxyz, merged by mol_id; ωB97X/6-31G(d), ≥ 1,500 structures of ≥ 500
molecules).

The same protocol as `lc_chno.py` on a set 2.4× larger: molecule-disjoint validation and
test molecules (10 % each) fixed by data.split_seed = 0, nested n_train subsamples drawn by
the run's seed (0 = the whole training split), sizes up to 8× the largest shared-set size.
The orbital weight is the one the CHNO `weights` scan chose on validation (1000; not
re-chosen here). Prepare the data first, then the decisive pair per seed:
  python -m experiments.learning_curves.prepare --chno-grown
  bash experiments/learning_curves/queue.sh lc_chno_grown@0+config=energy_only
      lc_chno_grown:curve_chosen@0 ...
"""

import os

from orbjax.config import load_config_module

HERE = os.path.dirname(os.path.abspath(__file__))
common = load_config_module(os.path.join(HERE, "lc_common.py"))


# prepare.py names the merged set by its size: 626 shared + 882 grown structures, 503 molecules.
DATA = {
    "data.train_path": f"{common.DATA}/chno_grown_1508.h5",
    "data.key_preset": "chno",
    "data.split_seed": 0,
}
AUX_WEIGHT = 1000.0  # CHNO's validation-chosen weight (results/weights_choice.csv)
SIZES_STEPS = [(50, 1500), (100, 2000), (200, 3000), (400, 4000), (800, 5000), (0, 6000)]


def get_config(kind="curve"):
    return common.experiment(
        "chno_grown", DATA, SIZES_STEPS, kind, controls=("dft_charges",), aux_weight=AUX_WEIGHT
    )
