"""Build a model from a run config and its statistics; parameters: init, shapes, checks.

Used by training (a new model), by `model/io.py` (a model rebuilt from a file or a
checkpoint) and by anything else that needs the same objects, without importing training.

Variables of a model are two collections: "params" (trained) and "statistics" (fitted on
the training data, float64 on the host; `Statistics.arrays`). Training keeps only "params"
in its state and adds "statistics" at every call (`with_statistics`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from orbjax.model.orbital_mlip import ModelConfig, OrbitalMLIP
from orbjax.model.statistics import Statistics
from orbjax.targets import TARGETS, auxiliary_targets

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


class CheckpointMismatchError(ValueError):
    """Parameters that do not fit the model they are loaded into; raised before anything is
    loaded."""


def model_config(config: ml_collections.ConfigDict, statistics: Statistics) -> ModelConfig:
    """The model part of a run config, its heads named in `model.heads`, its species and
    levels of theory those of `statistics`.

    Every target with a positive loss weight needs a head (or is a reference target); a
    head without a loss weight is allowed (it is built and scored, but not trained). Configs
    saved before `model.heads` existed had one head per weighted auxiliary target.
    """
    unknown = [t for t in config.loss.weights if t not in TARGETS]
    if unknown:
        raise ValueError(f"loss.weights has unknown targets {unknown}; known: {sorted(TARGETS)}")
    weighted = tuple(
        t for t, w in config.loss.weights.items() if w > 0 and t in auxiliary_targets()
    )
    other_levels = [
        t
        for t, w in config.loss.weights.items()
        if w > 0 and TARGETS[t].of_level and TARGETS[t].of_level not in statistics.levels[1:]
    ]
    if other_levels:
        wanted = ",".join((*statistics.levels, TARGETS[other_levels[0]].of_level))
        raise ValueError(
            f"loss.weights gives {other_levels} a positive weight, but the run trains the levels "
            f"of theory {statistics.levels} (the first is 'energy'/'forces'): add the level with "
            f'--config.data.levels="{wanted}" '
            "or set the weight to 0"
        )
    model = config.model.to_dict()
    heads = tuple(model.get("heads", weighted))
    missing = [t for t in weighted if t not in heads]
    if missing:
        raise ValueError(
            f"loss.weights gives {missing} a positive weight but model.heads {heads} has no head "
            f'for it: add it, e.g. --config.model.heads="{tuple(heads) + tuple(missing)}"'
        )
    model.pop("levels", None)  # the statistics say which levels the model was fitted on
    return ModelConfig(
        **{**model, "heads": heads, "n_species": statistics.n_species, "levels": statistics.levels}
    )


def create_model(config: ml_collections.ConfigDict, statistics: Statistics) -> OrbitalMLIP:
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {config.dtype!r}")
    return OrbitalMLIP(model_config(config, statistics), dtype=DTYPES[config.dtype])


def statistics_variables(model: OrbitalMLIP, statistics: Statistics, dtype=np.float64) -> dict:
    """{"statistics": arrays} for `model` (numpy; float arrays in `dtype`)."""
    arrays = statistics.arrays(model.config.heads)
    return {
        "statistics": {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    }


def with_statistics(params: dict, statistics: dict) -> dict:
    """Model variables from {"params": ...} and {"statistics": ...} (either may hold both)."""
    return {"params": params["params"], "statistics": statistics["statistics"]}


def _init_inputs(n_nodes: int = 1, n_edges: int = 1):
    """Abstract inputs of the model: shapes only (`jax.eval_shape`), nothing is computed."""
    s = jax.ShapeDtypeStruct
    return (
        s((n_edges, 3), jnp.float32),
        s((n_nodes,), jnp.int32),
        s((n_edges,), jnp.int32),
        s((n_edges,), jnp.int32),
        s((n_nodes,), jnp.int32),
        s((1,), jnp.float32),
    )


def init_params(model: OrbitalMLIP, seed: int) -> dict:
    """{"params": ...}: initial parameters (jit: eager e3nn-jax init is slow). They depend
    on the architecture and seed only, not on data (a one-atom input of zeros)."""

    def init(rng):
        inputs = [jnp.zeros(x.shape, x.dtype) for x in _init_inputs()]
        inputs[0] = inputs[0].astype(model.dtype)
        variables = model.init(rng, *inputs, with_heads=True)
        return {"params": variables["params"]}

    return jax.jit(init)(jax.random.PRNGKey(seed))


def init_variables(model: OrbitalMLIP, statistics: Statistics, seed: int) -> dict:
    """{"params": initial parameters, "statistics": float64 arrays}: a fresh model ready to call."""
    return {**init_params(model, seed), **statistics_variables(model, statistics)}


def abstract_params(model: OrbitalMLIP) -> dict:
    """{"params": ShapeDtypeStruct tree} of the model, from `jax.eval_shape` (no graph, no
    FLOPs)."""

    def init(rng, *inputs):
        return {"params": model.init(rng, *inputs, with_heads=True)["params"]}

    return jax.eval_shape(init, jax.random.PRNGKey(0), *_init_inputs())


def param_shapes(params) -> dict[str, list[int]]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(path): list(np.shape(leaf)) for path, leaf in flat}


def check_shapes(saved: dict, current: dict, where) -> None:
    problems = [
        f"{k}: checkpoint {saved.get(k, 'absent')} vs model {current.get(k, 'absent')}"
        for k in sorted(set(saved) | set(current))
        if saved.get(k) != current.get(k)
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; … {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise CheckpointMismatchError(
            f"checkpoint in {where} does not fit this model ({len(problems)} parameter shapes "
            f"differ): {shown}"
        )
