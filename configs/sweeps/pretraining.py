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
  recipe     fine-tuning the 9,900-frame pretrained model (energy + forces + orbitals) at
             n = 50, seeds 0–2, learning rates RECIPE_LRS: chosen on validation
  scratch_long  scratch at 4× the steps, n = 50 and 200, and at 8× where 4× still moved
             (SCRATCH_8X), seeds 0–2 (with the pilot's 1× and 2×: the budget rule)
  scratch_large  scratch at 4× and 8× the steps at n = 400 (SCRATCH_LARGE), seeds 0–2: its
             converged error, for the factor at n = 200
  scratch_seeds  scratch seeds 3–4 at n = 50 and its converged budget (2×): the decisive
             pair's 5 seeds
  decisive   the chosen recipe: fine-tuned from the orbital-pretrained model and from the
             energy + forces-only one (seeds 0–4 each), n = 50 and 200, 1×; 2× for seeds
             0–2 of the first (the budget rule)
  size       fine-tuning the decisive arm's pretraining on 24,500 and 49,000 GFN1 frames
             (pretrain_v3.sh), n = 50 and 200, seeds 0–2, 1×: the pretraining-size curve
  acac       acac's pair (lc_acac.py's data and split): fine-tuned from the full pretraining
             (FULL_MODEL) at 1× (seeds 0–4) and 2× (0–2) against scratch at 1×, 2×, 4× (seeds
             0–2), n = 50 and 200 (ratios pair seeds 0–2 until scratch has seeds 3–4 at its
             converged budget: not in this kind yet)
  controls   fine-tuning the two controls' pretrainings (pretrain_controls.sh: populations
             only; coordinate denoising, no GFN1 label), the decisive recipe, seeds 0–2, n = 50
             and 200, 1× then 2×
  multifidelity  joint training on the n DFT structures and the 9,900 GFN1 frames, one energy
             readout per level (DFT ~20 % of each epoch), n = 50 and 200, seeds 0–2
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
# The 9,900-frame pretraining (experiments/pretraining/pretrain_v1.sh): energy + forces +
# per-orbital populations ("efo", the decisive arm) and energy + forces only ("ef").
MODELS = os.path.join("experiments", "pretraining", "models", "pretrained")
PRETRAINED_10K = {
    "efo": os.environ.get("ORBJAX_PRETRAINED_EFO", f"{MODELS}/chno_gfn1_10k_efo.orbjax"),
    "ef": os.environ.get("ORBJAX_PRETRAINED_EF", f"{MODELS}/chno_gfn1_10k_ef.orbjax"),
    # the controls (pretrain_controls.sh): per-orbital populations only; and coordinate
    # denoising on the same structures without any GFN1 label
    "o": f"{MODELS}/chno_gfn1_10k_o.orbjax",
    "denoise": f"{MODELS}/chno_denoise_10k.orbjax",
}
# The pretraining-size curve (experiments/pretraining/pretrain_v3.sh): the decisive arm's
# pretraining on the first 5,000 and 10,000 sampled pool molecules (24,500 / 49,000 training
# frames, 20,000 steps), beside the 9,900-frame model (1,980 molecules, 12,000 steps).
SIZE_MOLECULES = (5000, 10000)
# The full pretraining (pretrain_v2.sh): 49,000 frames of 9,800 pool molecules + the 10,000
# acac GFN1 MD frames (started from acac's training frames only), 20,000 steps; acac's pair.
FULL_MODEL = f"{MODELS}/chno_gfn1_full_efo.orbjax"
SIZE_MODELS = {m: f"{MODELS}/chno_gfn1_{m}mol_efo.orbjax" for m in SIZE_MOLECULES}
# Sizes whose scratch validation energy still changed by ≥ 5 % from 2× to 4× the steps
# (n = 50: +2.2 %, 2 seeds, converged at 2×; n = 200: −18.7 %, seed 0): they get 8×.
SCRATCH_8X = (200,)
# Sizes beyond 200 where scratch's converged error is needed: the efficiency factor at
# n = 200 and "fine-tuned at 50 against scratch at 400" (4× converged n = 200; 4× and 8× here).
SCRATCH_LARGE = (400,)
RECIPE_LRS = (5e-3, 1e-3, 3e-4)  # fine-tuning learning rates compared on validation (n = 50)
# The learning rate the recipe stage chose on validation (experiments/pretraining/analyse.py
# writes results/recipe_choice.json); ORBJAX_FINETUNE_LR overrides it.
FINETUNE_LR = float(os.environ.get("ORBJAX_FINETUNE_LR", "0") or 0) or None


def _chosen_lr() -> float:
    import json

    if FINETUNE_LR:
        return FINETUNE_LR
    path = os.path.join(
        HERE, "..", "..", "experiments", "pretraining", "results", "recipe_choice.json"
    )
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: run the recipe stage and experiments.pretraining.analyse first "
            "(or set ORBJAX_FINETUNE_LR)"
        )
    with open(path) as f:
        return float(json.load(f)["learning_rate"])


def _finetuned(model: str, lr: float) -> dict:
    return {
        "config": "finetune",
        "init.model": PRETRAINED_10K[model],
        "optimizer.learning_rate": lr,
        "optimizer.warmup_steps": 100,
    }


def _run(seed, n, steps, overrides, data=None):
    return {
        "seed": seed,
        "data.n_train": n,
        "train.num_steps": steps,
        **(grown.DATA if data is None else data),
        **common.COMMON,
        **overrides,
    }


def get_config(kind="pilot"):
    budgets = {n: steps for n, steps in grown.SIZES_STEPS}
    if kind == "pilot":
        runs = [
            _run(seed, n, budgets[n] * factor, overrides)
            for factor in (1, 2)
            for seed in common.SEEDS
            for n in (50, 200)
            for overrides in ARMS.values()
        ]
        return common.sweep_config("chno_grown_pilot", "runs/pretraining/chno_grown_pilot", runs)
    if kind == "recipe":  # the fine-tuning learning rate, chosen on validation at n = 50
        runs = [
            _run(seed, 50, budgets[50], _finetuned("efo", lr))
            for lr in RECIPE_LRS
            for seed in common.SEEDS
        ]
        return common.sweep_config("chno_grown_recipe", "runs/pretraining/chno_grown_recipe", runs)
    if kind == "scratch_long":  # the budget rule for scratch: 4× and 8× the learning-curve steps
        runs = [
            _run(seed, n, budgets[n] * factor, ARMS["scratch"])
            for factor in (4, 8)
            for seed in common.SEEDS
            for n in (50, 200)
            if factor == 4 or n in SCRATCH_8X
        ]
        return common.sweep_config(
            "chno_grown_scratch", "runs/pretraining/chno_grown_scratch", runs
        )
    if kind == "scratch_large":  # scratch's converged curve beyond n = 200: 4× and 8× at 400
        runs = [
            _run(seed, n, budgets[n] * factor, ARMS["scratch"])
            for factor in (4, 8)  # 4× for every seed first: the curve needs 3 seeds there
            for seed in common.SEEDS
            for n in SCRATCH_LARGE
        ]
        return common.sweep_config(
            "chno_grown_scratch_large", "runs/pretraining/chno_grown_scratch_large", runs
        )
    if kind == "scratch_seeds":  # seeds 3–4 of scratch at its converged n = 50 budget (2×)
        runs = [_run(seed, 50, budgets[50] * 2, ARMS["scratch"]) for seed in (3, 4)]
        return common.sweep_config(
            "chno_grown_scratch_seeds", "runs/pretraining/chno_grown_scratch_seeds", runs
        )
    if kind == "decisive":  # the 10k-pretrained arms at the chosen learning rate
        lr = _chosen_lr()
        runs = [  # n = 50, seeds 0–2 at the chosen rate are the recipe stage's runs
            _run(seed, n, budgets[n], _finetuned("efo", lr))
            for seed in common.DECISIVE_SEEDS
            for n in (50, 200)
            if n != 50 or seed not in common.SEEDS or lr not in RECIPE_LRS
        ]
        runs += [  # seeds 3–4 came later: the EF/EFO comparison at 5 seeds
            _run(seed, n, budgets[n], _finetuned("ef", lr))
            for seed in common.DECISIVE_SEEDS
            for n in (50, 200)
        ]
        runs += [  # the budget rule for fine-tuning: 2× the steps
            _run(seed, n, budgets[n] * 2, _finetuned("efo", lr))
            for seed in common.SEEDS
            for n in (50, 200)
        ]
        return common.sweep_config(
            "chno_grown_decisive", "runs/pretraining/chno_grown_decisive", runs
        )
    if kind == "controls":  # the two controls at the decisive recipe, seeds 0–2, 1× then 2×
        lr = _chosen_lr()
        runs = [
            _run(seed, n, budgets[n] * factor, _finetuned(model, lr))
            for factor in (1, 2)
            for model in ("o", "denoise")
            for seed in common.SEEDS
            for n in (50, 200)
        ]
        return common.sweep_config(
            "chno_grown_controls", "runs/pretraining/chno_grown_controls", runs
        )
    if kind == "size":  # fine-tuning the larger pretrainings, the decisive recipe, seeds 0–2
        lr = _chosen_lr()
        runs = [
            _run(seed, n, budgets[n], {**_finetuned("efo", lr), "init.model": SIZE_MODELS[m]})
            for m in SIZE_MOLECULES
            for seed in common.SEEDS
            for n in (50, 200)
        ]
        return common.sweep_config("chno_grown_size", "runs/pretraining/chno_grown_size", runs)
    if kind == "multifidelity":  # DFT and the 9,900 GFN1 frames at once, one readout each
        runs = [
            _run(seed, n, MULTIFIDELITY_STEPS, {**MULTIFIDELITY, "data.train_repeat": repeat})
            for seed in common.SEEDS
            for n, repeat in ((50, 50), (200, 12))
        ]
        return common.sweep_config(
            "chno_grown_multifidelity", "runs/pretraining/chno_grown_multifidelity", runs
        )
    if kind == "acac":  # acac's pair: the full pretraining (it saw acac's GFN1 frames) vs scratch
        acac = load_config_module(os.path.join(HERE, "lc_acac.py"))
        steps = dict(acac.SIZES_STEPS)
        lr = _chosen_lr()
        finetuned = {**_finetuned("efo", lr), "init.model": FULL_MODEL}
        plan = [(s, 1, finetuned) for s in common.DECISIVE_SEEDS]  # paired seeds first
        plan += [(s, f, ARMS["scratch"]) for f in (1, 2, 4) for s in common.SEEDS]
        plan += [(s, 2, finetuned) for s in common.SEEDS]  # the budget rule for fine-tuning
        runs = [
            _run(seed, n, steps[n] * factor, overrides, acac.DATA)
            for seed, factor, overrides in plan
            for n in (50, 200)
        ]
        return common.sweep_config("acac_pair", "runs/pretraining/acac_pair", runs)
    raise ValueError(
        f"unknown kind {kind!r}: pilot, recipe, scratch_long, scratch_large, scratch_seeds, "
        "decisive, size, controls, multifidelity, acac"
    )


# Joint training: the n DFT structures repeated (train_repeat) so that they are ~20 % of
# every epoch beside the 9,900 GFN1 frames (n = 50: 2,500 of 12,400; n = 200: 2,400 of
# 12,300), GFN1 energy and forces on their own readout, per-orbital populations of both (the
# pretraining's targets), as many steps as the pretraining.
MULTIFIDELITY_STEPS = 12000
MULTIFIDELITY = {
    "config": "default",
    "data.levels": "dft,gfn1",
    "data.extra_train_path": "data/pretraining/chno_gfn1_10k.h5",
    "loss.weights.energy_gfn1": 10.0,
    "loss.weights.forces_gfn1": 10.0,
    "optimizer.learning_rate": 5e-3,
    "optimizer.warmup_steps": 100,
}
