"""GFN1 pretraining → DFT fine-tuning against training from scratch (experiments/pretraining/).

On the grown CHNO set (the learning curves' data, split and test molecules: `lc_chno_grown.py`),
every run energy + forces on DFT with the learning curves' recipe (configs/energy_only.py:
learning rate, warm-up, schedule, batch), the one difference being the start:
  scratch    random weights (configs/energy_only.py)
  finetuned  the GFN1-pretrained model `PRETRAINED` (configs/finetune.py with the scratch
             optimiser settings; reference energies refitted on the DFT data)
Kinds (`--config configs/sweeps/pretraining.py:KIND`):
  pilot      n = 50 and 200, seeds 0–2, at the learning curves' step budgets (1×) and at 2×
             (does doubling the steps change the validation error by < 5 %? the budget rule)
The seed draws the DFT subsample and the initialisation of whatever is new (paired with
scratch's seed); the pretraining run is one (PRETRAINED).
  python -m orbjax.sweep --config configs/sweeps/pretraining.py:pilot --launcher local --workers 1
"""

import os

from orbjax.config import load_config_module

HERE = os.path.dirname(os.path.abspath(__file__))
common = load_config_module(os.path.join(HERE, "lc_common.py"))
grown = load_config_module(os.path.join(HERE, "lc_chno_grown.py"))

PRETRAINED = os.environ.get("ORBJAX_PRETRAINED", "runs/pretrain/chno_gfn1_v0/model.orbjax")
SCRATCH_OPTIMISER = {"optimizer.learning_rate": 5e-3, "optimizer.warmup_steps": 100}
ARMS = {
    "scratch": {"config": "energy_only"},
    "finetuned": {"config": "finetune", "init.model": PRETRAINED, **SCRATCH_OPTIMISER},
}


def get_config(kind="pilot"):
    if kind != "pilot":
        raise ValueError(f"unknown kind {kind!r}: pilot")
    budgets = {n: steps for n, steps in grown.SIZES_STEPS}
    runs = []
    for factor in (1, 2):
        for seed in common.SEEDS:
            for n in (50, 200):
                for overrides in ARMS.values():
                    runs.append(
                        {
                            "seed": seed,
                            "data.n_train": n,
                            "train.num_steps": budgets[n] * factor,
                            **grown.DATA,
                            **common.COMMON,
                            **overrides,
                        }
                    )
    return common.sweep_config("chno_grown_pilot", "runs/pretraining/chno_grown_pilot", runs)
