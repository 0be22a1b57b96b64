"""The learning-curve experiments (experiments/learning_curves/), shared by `lc_acac.py` and
`lc_chno.py`.

Each dataset file calls `experiment(dataset, data, sizes_steps, kind)`; pick the kind on the
command line as `--config configs/sweeps/lc_acac.py:KIND`:
  curve     energy-only vs orbital (equivariant head, weight 100), every size, seeds 0–2;
            energy-only also seeds 3–4 (the baseline of the decisive curve_wW)
  weights   orbital-population weights 10 … 10000 at two sizes, seed 0 (weight 100 and
            energy-only are in `curve`); chosen by validation energy MAE, never on test
  curve_wW  the orbital model of `curve` with orbital weight W (e.g. curve_w1000), every
            size, seeds 0–4: the decisive curve at the chosen weight (baseline from `curve`;
            seeds 3–4 added because 3 seeds left its t-intervals touching 1)
  curve_chosen  curve_wW with W the dataset's chosen `aux_weight`
  noforces  the same pair trained on energies alone (force weight 0): the data-poor regime
            where one label per structure meets 9 auxiliary labels per atom
  controls  shuffled per-orbital targets, invariant head, s/p/d shell sums, GFN1 atomic
            charges (and DFT Mulliken charges where the data has them) at two sizes, seeds 0–2
  head_input  the orbital head on the last layer's full features (`orbital_features =
            "last_layer"`, what the energy reads) instead of the previous layer's, two sizes,
            seeds 0–2 (compare with `orbital` of `curve`)
  noforces_controls  the shuffled-target control in the force-free regime, every size, seeds 0–2
  long      the largest size at 4× its step budget, energy-only vs orbital (chosen weight),
            seeds 0–4 (the decisive comparison's seeds): is the budget enough, and does the
            gap survive longer training?
  long_small  the same at n = 50 (the small-data end, where the curves' gains were largest)
  tta       the largest size, energy-only, seed 0, at 12× its step budget: with `long`'s
            seed-0 energy-only run, orbjax's side of the time-to-accuracy benchmark
            (`benchmarks/time_to_accuracy.py`)
  tta_long  the same at 48× (acac: 192,000 steps, ~2 core-hours, mace-torch's budget there)

Runs are ordered seed-major (then size, then variant), so a sweep cut short has complete,
seed-paired curves for its first seeds. Every variant of one (size, seed) trains the same
number of steps on the same structures; validation and test sets never change
(`data.split_seed`, or fixed files), the seed draws the initialisation and the nested
`n_train` subsample. The best-by-validation (DFT energy + forces) checkpoint is scored.
"""

import ml_collections

DATA = "data/learning_curves"  # written by experiments/learning_curves/prepare.py
COMMON = {
    "train.progress_bar": False,
    "train.eval_every": 250,
    "train.checkpoint_every": 250,
    "train.log_every": 250,
}
SEEDS = (0, 1, 2)
# the chosen-weight comparison: 5 seeds, where 3 left the spread hiding the effect
DECISIVE_SEEDS = (0, 1, 2, 3, 4)
CONTROL_TARGET = {
    "orbital_shuffled": "orbital_populations",
    "orbital_invariant": "orbital_populations",
    "shell": "spd_populations",
    "atomic": "atomic_charges",
    "dft_charges": "dft_charges",
}
SCAN_WEIGHTS = (10.0, 1000.0, 3000.0, 10000.0)  # 0 (energy-only) and 100 (orbital) are in `curve`
KINDS = (
    "curve",
    "weights",
    "noforces",
    "controls",
    "head_input",
    "noforces_controls",
    "long",
    "long_small",
    "tta",
    "tta_long",
)
LONG_FACTOR, TTA_FACTOR, TTA_LONG_FACTOR = 4, 12, 48  # step budgets, in multiples of the size's own


def learning_curve_sweep(name, data, sizes_steps, variants, seeds, extra=None):
    """A sweep: {seed} × {(n_train, num_steps)} × {variant} × {extra override sets}."""
    runs = []
    for seed in seeds:
        for n_train, steps in sizes_steps:
            for variant in variants:
                for more in extra or [{}]:
                    runs.append(
                        {
                            "seed": seed,
                            "data.n_train": n_train,
                            "train.num_steps": steps,
                            "config": variant,
                            **data,
                            **COMMON,
                            **more,
                        }
                    )
    return sweep_config(name, f"runs/learning_curves/{name}", runs)


def long_sweep(dataset, data, size_steps, aux_weight, kind="long"):
    """The largest size with a longer budget: `long` at LONG_FACTOR × its steps (both variants,
    seeds 0–4; the weight override on the orbital runs only), `tta` / `tta_long` seed 0's
    energy-only at TTA_FACTOR / TTA_LONG_FACTOR ×. Validation every 500 steps (the time-to-accuracy
    curve)."""
    n_train, steps = size_steps
    if kind in ("long", "long_small"):
        plan = [
            (seed, LONG_FACTOR, variant)
            for seed in DECISIVE_SEEDS
            for variant in ("energy_only", "orbital")
        ]
    else:
        plan = [(SEEDS[0], TTA_FACTOR if kind == "tta" else TTA_LONG_FACTOR, "energy_only")]
    runs = [
        {
            "seed": seed,
            "data.n_train": n_train,
            "train.num_steps": steps * factor,
            "config": variant,
            **data,
            **COMMON,
            "train.eval_every": 500,
            "train.checkpoint_every": 500,
            **({"loss.weights.orbital_populations": aux_weight} if variant == "orbital" else {}),
        }
        for seed, factor, variant in plan
    ]
    return sweep_config(f"{dataset}_{kind}", f"runs/learning_curves/{dataset}_{kind}", runs)


def sweep_config(name, sweep_dir, runs):
    """The sweep file's config: runs on top of configs/default.py, one GPU each on SLURM."""
    sweep = ml_collections.ConfigDict()
    sweep.name = name
    sweep.base_config = "../default.py"
    sweep.sweep_dir = sweep_dir
    sweep.runs = runs
    sweep.slurm = ml_collections.ConfigDict(
        dict(
            partition="gpu",
            gpus_per_node=1,
            cpus_per_task=4,
            mem_gb=16,
            timeout_min=120,
            array_parallelism=32,
        )
    )
    return sweep


def experiment(
    dataset, data, sizes_steps, kind="curve", two_sizes=(50, 200), controls=(), aux_weight=100.0
):
    """The sweep of one kind. `aux_weight`: the loss weight every auxiliary target of the controls
    gets: the per-orbital weight the `weights` scan chose for this dataset by validation energy
    MAE (`experiments/learning_curves/results/weights_choice.csv`)."""
    if kind == "curve_chosen":
        kind = f"curve_w{aux_weight:g}"
    if kind.startswith("curve_w"):
        weight = float(kind[len("curve_w") :])
        return learning_curve_sweep(
            f"{dataset}_w{weight:g}",
            data,
            sizes_steps,
            ("orbital",),
            DECISIVE_SEEDS,
            [{"loss.weights.orbital_populations": weight}],
        )
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {KINDS}")
    two = [(n, s) for n, s in sizes_steps if n in two_sizes]
    if kind in ("long", "tta", "tta_long"):
        return long_sweep(dataset, data, sizes_steps[-1], aux_weight, kind)
    if kind == "long_small":
        return long_sweep(dataset, data, two[0], aux_weight, kind)
    if kind == "curve":
        sweep = learning_curve_sweep(dataset, data, sizes_steps, ("energy_only", "orbital"), SEEDS)
        extra_seeds = [s for s in DECISIVE_SEEDS if s not in SEEDS]
        sweep.runs += learning_curve_sweep(
            dataset, data, sizes_steps, ("energy_only",), extra_seeds
        ).runs
        return sweep
    if kind == "weights":
        return learning_curve_sweep(
            f"{dataset}_weights",
            data,
            two,
            ("orbital",),
            (0,),
            [{"loss.weights.orbital_populations": w} for w in SCAN_WEIGHTS],
        )
    if kind == "noforces":
        return learning_curve_sweep(
            f"{dataset}_noforces",
            data,
            sizes_steps,
            ("energy_only", "orbital"),
            SEEDS,
            [{"loss.weights.forces": 0.0}],
        )
    if kind == "head_input":
        return learning_curve_sweep(
            f"{dataset}_head_input",
            data,
            two,
            ("orbital",),
            SEEDS,
            [{"model.orbital_features": "last_layer"}],
        )
    if kind == "noforces_controls":
        return learning_curve_sweep(
            f"{dataset}_noforces_controls",
            data,
            sizes_steps,
            ("orbital_shuffled",),
            SEEDS,
            [{"loss.weights.forces": 0.0}],
        )
    variants = ("orbital_shuffled", "orbital_invariant", "shell", "atomic", *controls)
    if aux_weight == 100.0:  # the configs' own weight
        return learning_curve_sweep(f"{dataset}_controls", data, two, variants, SEEDS)
    sweeps = [
        learning_curve_sweep(
            f"{dataset}_controls_w{aux_weight:g}",
            data,
            two,
            (v,),
            SEEDS,
            [{f"loss.weights.{CONTROL_TARGET[v]}": aux_weight}],
        )
        for v in variants
    ]
    sweeps[0].runs = sorted(
        (r for s in sweeps for r in s.runs),
        key=lambda r: (r["seed"], r["data.n_train"], variants.index(r["config"])),
    )
    return sweeps[0]
