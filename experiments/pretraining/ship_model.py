"""Ship a pretraining run's model with orbjax: model file, validation structures, card.

    python -m experiments.pretraining.ship_model runs/pretrain/chno_gfn1_v0 --name chno-gfn1

Writes into `orbjax/pretrained/`:
- `<name>.orbjax`: the run's best-by-validation model file;
- `<name>-validation.h5`: the run's validation structures (molecules not trained on), compact;
- `<name>.json`: the model's errors on them against their GFN1 labels (energy meV/atom,
  forces meV/Å, per-orbital populations me), recomputed here through the installed loader,
  with the run's data, steps and CPU time;
- `<name>.md`: the model card, rendered from that JSON.
tests/test_pretrained.py recomputes the errors from the shipped files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from experiments.common.runs import Run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "orbjax" / "pretrained"


def validation_errors(model_path, structures) -> dict:
    """MAE of the model on `structures` (GFN1 labels), the way `evaluate` computes them."""
    from orbjax.evaluation import compute_metrics, predict_structures
    from orbjax.model.io import load_model_file

    trained = load_model_file(model_path)
    metrics, counts = compute_metrics(predict_structures(trained, structures))
    keys = ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse", "orbital_populations_mae")
    return {k: float(metrics[k]) for k in keys if k in metrics} | {"n_structures": len(structures)}


def main(argv=None) -> None:
    from orbjax.data.dataset import write_dataset
    from orbjax.model.io import load_model_file
    from orbjax.training.data import split_structures

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdir")
    p.add_argument("--name", default="chno-gfn1")
    p.add_argument(
        "--extra-what",
        default=EXTRA_WHAT,
        help="what the run's data.extra_train_path frames are, for the card",
    )
    args = p.parse_args(argv)
    workdir = Path(args.workdir)
    trained = load_model_file(workdir / "model.orbjax")
    splits = split_structures(trained.config.data, trained.config.seed)
    # the pool's own training split, without the training-only extra frames
    pool_config = trained.config.data.copy_and_resolve_references()
    pool_config.extra_train_path = ""
    pool_train = split_structures(pool_config, trained.config.seed).train
    SHIPPED.mkdir(exist_ok=True)
    model = SHIPPED / f"{args.name}.orbjax"
    shutil.copyfile(workdir / "model.orbjax", model)
    validation = SHIPPED / f"{args.name}-validation.h5"
    write_dataset(
        validation,
        [s.replace(labels={k: v for k, v in s.labels.items() if k in KEEP}) for s in splits.val],
        {"method": "GFN1-xTB", "what": f"validation molecules of the {args.name} pretraining run"},
        compact=True,
    )
    from orbjax.data.dataset import read_dataset

    errors = validation_errors(model, read_dataset(validation)[0])
    run = Run(workdir, {"config_path": "configs/pretrain_gfn1.py", "overrides": {}})
    cpu = max(
        float(r["value"])
        for r in run.metric_rows()
        if r["split"] == "time" and r["metric"] == "process_cpu_s"
    )
    s = trained.statistics
    card = {
        "name": args.name,
        "level": s.levels[0],
        "elements": [_symbol(z) for z in s.species],
        "step": trained.step,
        "train_structures": len(pool_train),
        "train_molecules": len({x.mol_id for x in pool_train}),
        "extra_train": {
            "path": str(trained.config.data.get("extra_train_path") or ""),
            "structures": len(splits.train) - len(pool_train),
            "what": args.extra_what if len(splits.train) > len(pool_train) else "",
        },
        "validation": errors,
        "training_cpu_hours": cpu / 3600,
        "data": str(trained.config.data.train_path),
        "architecture": {
            k: trained.config.model[k]
            for k in ("channels", "l_max", "n_layers", "cutoff", "orbital_head")
        },
        "heads": list(trained.model.config.heads),
        "n_params": int(sum(v.size for v in _leaves(trained.variables["params"]))),
    }
    (SHIPPED / f"{args.name}.json").write_text(json.dumps(card, indent=1) + "\n")
    (SHIPPED / f"{args.name}.md").write_text(render(card))
    print(json.dumps(card, indent=1))


EXTRA_WHAT = (
    "acetylacetone (GFN1 Langevin MD at 300/500/700/900 K started from the 400 training "
    "frames of the acac DFT set, 25 frames 20 fs apart)"
)
KEEP = ("xtb_energy", "xtb_forces", "xtb_orbital_populations", "xtb_orbital_shell", "xtb_charges")


def _leaves(tree):
    return [x for v in tree.values() for x in (_leaves(v) if isinstance(v, dict) else [v])]


def _symbol(z):
    from ase.data import chemical_symbols

    return chemical_symbols[z]


def render(card: dict) -> str:
    v = card["validation"]
    a = card["architecture"]
    orbital_text = (
        f", per-orbital populations {v['orbital_populations_mae']:.1f} me"
        if "orbital_populations_mae" in v
        else ""
    )
    return f"""# {card["name"]}: a GFN1-xTB-pretrained CHNO potential (model card)

**What it is for**: a starting point for fine-tuning on your own DFT energies and forces of
molecules made of {", ".join(card["elements"])} (`configs/finetune.py`,
`--config.init.model={card["name"]}`). It is **not** a DFT potential: it predicts GFN1-xTB
energies and forces (level of theory `{card["level"]}`), and GFN1-xTB is itself ~10–50 meV/atom
away from a hybrid DFT functional on small organic molecules.

**Data**: {card["train_structures"]:,} GFN1-xTB-labelled frames of \
{card["train_molecules"]:,} molecules
(`python -m orbjax.sample` on `pretrain_pool.txt`: RDKit ETKDG + MMFF, Langevin MD at
300/500/800 K, 5 frames 20 fs apart after 20 fs; energies, forces and per-orbital Mulliken
populations). Molecules disjoint from every DFT set of orbjax's experiments.{_extra_text(card)}

**Training**: `configs/pretrain_gfn1.py` (energy + forces + per-orbital populations, weight 100,
equivariant orbital head), the best-by-validation checkpoint at step {card["step"]:,}
({card["training_cpu_hours"]:.2f} CPU-hours of training in all);
architecture: {a["channels"]} channels, l ≤ {a["l_max"]}, {a["n_layers"]} layers, \
cutoff {a["cutoff"]} Å,
{card["n_params"]:,} parameters; heads {", ".join(card["heads"]) or "none"}.

**GFN1 validation errors** on {v["n_structures"]} frames of molecules it never saw
(`{card["name"]}-validation.h5`, shipped beside it; tests/test_pretrained.py recomputes them):
energy {v["energy_mae"]:.2f} meV/atom (RMSE {v["energy_rmse"]:.2f}), \
forces {v["forces_mae"]:.1f} meV/Å
(RMSE {v["forces_rmse"]:.1f}){orbital_text}.

**Limits**: elements {", ".join(card["elements"])} only (anything else is refused by name); neutral,
closed-shell molecules of 3–8 heavy atoms near room-to-800 K geometries; no periodic systems.
Numbers: `{card["name"]}.json` (written by `python -m experiments.pretraining.ship_model`).
"""


def _extra_text(card: dict) -> str:
    extra = card.get("extra_train") or {}
    if not extra.get("structures"):
        return ""
    return f"""
Trained also on {extra["structures"]:,} frames of {extra["what"]}."""


if __name__ == "__main__":
    main()
