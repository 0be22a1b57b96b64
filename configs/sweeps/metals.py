"""Periodic metals (experiments/metals/): one multi-element model on PBE energies, forces and
stresses.

Prepare the data first (labels committed in experiments/metals/data, splits rebuilt):
  python -m experiments.metals.select_subset && python -m experiments.metals.prepare
  python -m orbjax.sweep --config configs/sweeps/metals.py[:KIND] --launcher local --workers 1
Kinds:
  decisive  energy-only, orbital (equivariant head) and the shuffled-orbital control on every
            training frame, seeds 0–2 (the latent-space comparison; run first)
  sizes     energy-only and orbital at the two smaller sizes, seeds 0–2
  shell     s/p/d shell populations on every training frame, seeds 0–2
  long      energy-only, orbital and the shuffled-orbital control on every training frame with
            5× the steps (6,000): do the decisive runs' conclusions survive training to
            convergence? (the 1,200-step runs still improve at their last step)
  long_wW   the orbital model of `long` with auxiliary weight W (e.g. long_w100): the weight was
            taken from the CHNO scan, never chosen on metals; this asks whether a smaller one helps
Validation (10 % of the training trajectories' frames) picks the checkpoint; the test split
holds whole trajectories out (experiments/metals/select_subset.py). Every variant of one
(size, seed) trains the same steps on the same frames; the seed draws the initialisation
and the nested subsample.
"""

import os

from orbjax.config import load_config_module

common = load_config_module(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "lc_common.py")
)


def data(d):
    return {
        "data.train_path": f"{d}/train.h5",
        "data.val_path": f"{d}/val.h5",
        "data.test_path": f"{d}/test.h5",
        "data.key_preset": "default",
    }


# Energy-only runs read the same frames in the same order without GFN1 labels (prepare.py
# --pbe-only), so they need not wait for the labelling.
DATA = {"energy_only": data("data/metals_pbe")}
DATA_LABELLED = data("data/metals")
COMMON = {
    "train.progress_bar": False,
    "train.eval_every": 100,
    "train.checkpoint_every": 100,
    "train.log_every": 100,
    # 4 Å takes the first two neighbour shells of every structure here (bcc, fcc, diamond)
    # with ~3× fewer edges than 5 Å, so a run fits a CPU core in ~10 minutes.
    "model.cutoff": 4.0,
    # Stress MSE is in (eV/Å³)², ~1e-4 for these cells: weight 1000 makes it count about
    # as much as the energy term, as in the mlearn/MACE metal fits.
    "loss.weights.stress": 1000.0,
}
# Not scanned on metals (no time): the weight the CHNO scan chose (learning_curves RESULTS.md).
AUX_WEIGHT = 1000.0
AUX = {
    "orbital": {"loss.weights.orbital_populations": AUX_WEIGHT},
    "orbital_shuffled": {"loss.weights.orbital_populations": AUX_WEIGHT},
    "shell": {"loss.weights.spd_populations": AUX_WEIGHT},
    "energy_only": {},
}
ALL, STEPS_ALL, STEPS_LONG = 0, 1200, 6000
SMALLER = [(50, 1000), (150, 1200)]
SEEDS = (0, 1, 2)


def sweep(name, sizes_steps, variants, seeds=SEEDS):
    runs = [
        {
            "seed": seed,
            "data.n_train": n,
            "train.num_steps": steps,
            "config": variant,
            **DATA.get(variant, DATA_LABELLED),
            **COMMON,
            **AUX[variant],
        }
        for seed in seeds
        for n, steps in sizes_steps
        for variant in variants
    ]
    return common.sweep_config(name, f"runs/metals/{name}", runs)


def get_config(kind="decisive"):
    if kind == "decisive":
        return sweep("decisive", [(ALL, STEPS_ALL)], ("energy_only", "orbital", "orbital_shuffled"))
    if kind == "sizes":
        return sweep("sizes", SMALLER, ("energy_only", "orbital"))
    if kind == "shell":
        return sweep("shell", [(ALL, STEPS_ALL)], ("shell",))
    if kind == "long":
        return sweep("long", [(ALL, STEPS_LONG)], ("energy_only", "orbital", "orbital_shuffled"))
    if kind.startswith("long_w"):  # the orbital model of `long` at another auxiliary weight
        weight = float(kind[len("long_w") :])
        config = sweep(kind, [(ALL, STEPS_LONG)], ("orbital",))
        for run in config.runs:
            run["loss.weights.orbital_populations"] = weight
        return config
    raise ValueError(f"unknown kind {kind!r}: decisive | sizes | shell | long | long_wW")
