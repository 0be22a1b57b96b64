"""Fine-tuning: a run that starts from a one-file model instead of random weights.

    python -m orbjax.train --config configs/finetune.py --config.init.model=path/model.orbjax ...

What comes from the file and what is made new (``config.init``):

- **Architecture**: the file's (``config.model`` is overwritten by it, heads excepted: the
  run's ``model.heads`` say which auxiliary heads are trained now).
- **Parameters**: every parameter of the new model whose path and shape the file has is
  loaded; the rest (a head the file lacks) and the paths named in ``init.reinit`` keep their
  fresh initialisation. The new level's energy readout starts from the file's readout of the
  same level if it has one, else from its default level's ("energy_readout"). Paths in
  ``init.freeze`` (prefixes such as "network/embedding" or "network") are not updated.
- **Statistics**: kept from the file: species, average neighbour count, energy scale,
  auxiliary means and scales. Refitted on the new training data: the new level's reference
  energies, by least squares on what the loaded network leaves unexplained (label − the
  network's energy), so that step 0 is the pretrained model shifted by per-element
  constants; a plain fit to the labels would count the network's own composition trend
  twice. An element the model knows but the new data lacks gets no reference energy (NaN):
  the fine-tuned potential refuses it by name.

The data's elements must be a subset of the model's (a one-line error names the others).
An existing checkpoint in the workdir wins over ``init.model``: the run resumes.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import ml_collections
import numpy as np
import optax

from orbjax.model.io import TrainedModel, load_model
from orbjax.model.orbital_mlip import energy_readout_name
from orbjax.model.statistics import Statistics, compute_statistics, element_names
from orbjax.targets import level_energy_targets

# Architecture fields taken from the file (heads stay the run's).
ARCHITECTURE = (
    "channels",
    "l_max",
    "n_layers",
    "cutoff",
    "n_basis",
    "radial_hidden",
    "readout_hidden",
    "orbital_head",
    "orbital_features",
    "charge_neutral",
)


def resolve_model_path(name: str) -> str:
    """A path, or the name of a model shipped with orbjax (``chno-gfn1`` →
    orbjax/pretrained/chno-gfn1.orbjax)."""
    from orbjax import pretrained

    if os.path.exists(name):
        return name
    if name in pretrained.available():
        return str(pretrained.model_path(name))
    raise FileNotFoundError(
        f"init.model={name!r}: no such model file, nor a shipped model (shipped: "
        f"{', '.join(pretrained.available()) or 'none'})"
    )


def init_model(config: ml_collections.ConfigDict) -> TrainedModel | None:
    """The model of ``config.init.model`` (None without one), with ``config.model`` set to its
    architecture (the run's heads kept)."""
    name = config.get("init", {}).get("model", "")
    if not name:
        return None
    trained = load_model(resolve_model_path(name))
    for key in ARCHITECTURE:
        if key in trained.config.model and key in config.model:
            config.model[key] = trained.config.model[key]
    return trained


def check_elements_subset(trained: TrainedModel, graphs, where: str) -> None:
    """The fine-tuning data may only hold elements the model knows."""
    present = {int(z) for g in graphs for z in np.unique(g.nodes["atomic_numbers"])}
    other = sorted(present - set(trained.statistics.species))
    if other:
        raise ValueError(
            f"{where} holds {element_names(other)}, which the model of init.model does not "
            "know (it "
            f"knows {element_names(trained.statistics.species)}); fine-tune on data of those "
            "elements "
            f"only, or train from scratch"
        )


def finetune_statistics(
    trained: TrainedModel, train_graphs, levels, refit_energies=True
) -> Statistics:
    """The file's statistics with the run's levels of theory `levels` (a name, or names with
    the default first). The default level's reference energies are refitted on
    `train_graphs` (NaN for elements they lack); another level the file has keeps the file's
    reference energies (replaying pretraining data: the level is the same), one it lacks is
    refitted on its own labels. A level's energy scale is the file's of the same level, or
    of its default level. `refit_energies`: a bool, or one per level (False: keep the file's)."""
    old = trained.statistics
    levels = (levels,) if isinstance(levels, str) else tuple(levels)
    refit = [refit_energies] * len(levels) if isinstance(refit_energies, bool) else refit_energies
    rows, scales, sources = [], [], []
    for k, (level, energy) in enumerate(zip(levels, level_energy_targets(levels))):
        i = old.level_index(level) if level in old.levels else 0
        scales.append(old.energy_scale[i])
        if refit[k] and (k == 0 or level not in old.levels):
            e0, source = _refit(trained, train_graphs, i, energy, level)
        elif k == 0 or level in old.levels:
            e0, source = np.asarray(old.atomic_energies[i], float), old.e0_source[i]
        else:  # a new level whose energy is not trained: no reference energies
            e0, source = np.zeros(old.n_species), "none"
        rows.append(tuple(float(x) for x in e0))
        sources.append(source if source.endswith("(fine-tuned)") else f"{source} (fine-tuned)")
    return dataclasses.replace(
        old,
        levels=levels,
        atomic_energies=tuple(rows),
        energy_scale=tuple(scales),
        e0_source=tuple(sources),
    )


def _refit(trained: TrainedModel, graphs, file_level: int, energy: str, level: str):
    """Reference energies of one level by least squares on label − the loaded network's
    energy at the file's level index `file_level` (NaN for elements `graphs` lack)."""
    old = trained.statistics
    e0 = np.full(old.n_species, np.nan)
    network = network_energies(trained, graphs, file_level)
    residual = [
        g._replace(
            globals={
                **g.globals,
                "energy": (g.globals[energy] - e).astype(np.float64),
                "energy_mask": g.globals[f"{energy}_mask"],
            }
        )
        for g, e in zip(graphs, network)
    ]
    fitted = compute_statistics(residual, species=old.species, level=level)
    present = {  # elements of the structures that carry this level's energy
        int(z) for g in graphs if g.globals[f"{energy}_mask"][0] for z in g.nodes["atomic_numbers"]
    }
    for j, z in enumerate(old.species):
        if z in present:
            e0[j] = fitted.atomic_energies[0][j]
    return e0, fitted.e0_source[0]


def network_energies(trained: TrainedModel, graphs, level: int, batch_size: int = 16) -> np.ndarray:
    """[n_graphs] eV: the loaded model's energy without its E0s, at level index `level`."""
    from orbjax.data.batching import compute_budgets, pad_batch, plan_batches
    from orbjax.model.predict import predict
    from orbjax.runtime import precision
    from orbjax.training.batches import to_device

    model = trained.model
    budgets = compute_budgets(graphs, batch_size, 1)
    out = np.zeros(len(graphs))
    with precision(model.dtype):
        fn = jax.jit(lambda v, g: predict(model, v, g, level=level)["network_energy"])
        variables = to_device(trained.variables, model.dtype)
        for indices, budget in plan_batches(graphs, batch_size, budgets, shuffle=False):
            batch = to_device(pad_batch([graphs[i] for i in indices], budget), model.dtype)
            out[indices] = np.asarray(fn(variables, batch))[: len(indices)]
    return out


def finetune_params(
    fresh: dict, trained: TrainedModel, levels, reinit=()
) -> tuple[dict, list[str]]:
    """`fresh` ({"params": ...} of the new model) with every parameter the file has (same
    path and shape) loaded from it; returns (params, paths left at their initialisation).
    Each level's energy readout (`levels`: a name, or names with the default first) starts
    from the file's readout of the same level, or from its default level's."""
    source = dict(trained.variables["params"])
    old_levels = trained.statistics.levels
    levels = (levels,) if isinstance(levels, str) else tuple(levels)
    for k, level in enumerate(levels):
        i = old_levels.index(level) if level in old_levels else 0
        source[energy_readout_name(k, level)] = trained.variables["params"][
            energy_readout_name(i, old_levels[i])
        ]
    kept = []

    def take(path, value):
        name = "params/" + _path_name(path)
        node = source
        for p in path[1:]:  # path[0] is "params"
            key = getattr(p, "key", p)
            if not isinstance(node, dict) or key not in node:
                kept.append(name)
                return value
            node = node[key]
        if np.shape(node) != np.shape(value) or any(
            _under(name[len("params/") :], r) for r in reinit
        ):
            kept.append(name)
            return value
        return np.asarray(node, np.asarray(value).dtype)

    params = jax.tree_util.tree_map_with_path(take, jax.device_get(fresh))
    return params, kept


def _under(name: str, prefix: str) -> bool:
    """Whether parameter path `name` is `prefix` or inside it, by whole path components
    ("energy_readout" is not a prefix of "energy_readout_gfn1")."""
    prefix = prefix.rstrip("/")
    return name == prefix or name.startswith(prefix + "/")


def _path_name(path) -> str:
    """'network/embedding/...' of a parameter's tree path (without its leading "params")."""
    return "/".join(str(getattr(p, "key", p)) for p in path[1:])


def frozen_labels(params: dict, freeze) -> dict:
    """ "frozen" / "trained" per parameter: frozen where its path starts with a prefix of
    `freeze`."""

    def label(path, _):
        name = _path_name(path)
        return "frozen" if any(_under(name, prefix) for prefix in freeze) else "trained"

    return jax.tree_util.tree_map_with_path(label, params)


def with_frozen(
    tx: optax.GradientTransformation, params: dict, freeze
) -> optax.GradientTransformation:
    """`tx` for the trained parameters, no update at all for the frozen ones."""
    if not freeze:
        return tx
    labels = frozen_labels(params, tuple(freeze))
    if "frozen" not in jax.tree.leaves(labels):
        raise ValueError(
            f"init.freeze={tuple(freeze)} matches no parameter; prefixes are paths such as "
            "'network/embedding', 'network/interaction_0', 'energy_readout'"
        )
    return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)
