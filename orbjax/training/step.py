"""Jit-compiled train and eval steps (factories bind the model, optimiser and weights)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jraph
import optax

from orbjax.model.build import with_statistics
from orbjax.model.predict import predict
from orbjax.targets import TARGETS
from orbjax.training.losses import residuals, total_loss
from orbjax.training.state import TrainState, ema_update


def _other_levels(targets) -> bool:
    """Whether any of `targets` (names, or {name: weight}) is another level's energy/forces."""
    if isinstance(targets, dict):
        targets = [t for t, w in targets.items() if w > 0]
    return any(TARGETS[t].of_level for t in targets)


def _all_finite(tree) -> jnp.ndarray:
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train_step(
    state: TrainState,
    graph: jraph.GraphsTuple,
    *,
    model,
    tx,
    weights,
    ema_decay,
    compute_stress,
    statistics,
    axis_name=None,
):
    """One optimiser step, unjitted (`make_train_step` binds and jits it). With `axis_name`
    it runs per device inside `shard_map` (`training/parallel.py` imports it from here) on
    this device's share of the global batch. `statistics`: {"statistics": arrays}, read by
    the model beside the parameters, never trained."""

    def loss_fn(params):
        predictions = predict(
            model,
            with_statistics(params, statistics),
            graph,
            with_heads=True,
            compute_stress=compute_stress,
            all_levels=_other_levels(weights),
        )
        return total_loss(graph, predictions, weights, axis_name)

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    if axis_name is not None:
        # Sum the devices' shares. The gradient of the replicated params is already summed:
        # shard_map (check_vma) transposes their implicit broadcast into a psum.
        loss, terms = jax.lax.psum((loss, terms), axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        ema_params=ema_update(state.ema_params, params, state.step, ema_decay),
    )
    # A non-finite loss or gradient must never reach the parameters: keep the old state.
    finite = jnp.isfinite(loss) & _all_finite(grads)
    new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, state)
    # The batch is consumed either way: `step` counts batches (so a resumed run stays aligned
    # with the data), `step - n_skipped` counts applied updates.
    new = new.replace(step=state.step + 1, n_skipped=state.n_skipped + (~finite).astype(jnp.int32))
    metrics = {"loss": loss, "finite": finite, **{f"mse_{k}": v for k, v in terms.items()}}
    return new, metrics


def make_train_step(
    model,
    tx,
    weights: dict[str, float],
    ema_decay: float = 0.99,
    compute_stress: bool = False,
    statistics: dict | None = None,
):
    """Returns jit(train_step(state, graph) -> (state, metrics)); the state is donated."""
    fn = functools.partial(
        train_step,
        model=model,
        tx=tx,
        weights=dict(weights),
        ema_decay=ema_decay,
        compute_stress=compute_stress,
        statistics=statistics,
    )
    return jax.jit(fn, donate_argnums=0)


def eval_step(params, graph, *, model, targets, compute_stress, statistics):
    """{target: (Σ|err|, Σerr², n)} of one batch, unjitted (`make_eval_step`, `parallel`)."""
    predictions = predict(
        model,
        with_statistics(params, statistics),
        graph,
        with_heads=True,
        compute_stress=compute_stress,
        all_levels=_other_levels(targets),
    )
    sums = {}
    for target in targets:
        error, mask = residuals(graph, predictions, target)
        sums[target] = (jnp.sum(jnp.abs(error)), jnp.sum(error**2), jnp.sum(mask))
        if target == "energy":  # also per structure (the residual above is per atom)
            per_structure = error * jnp.maximum(graph.n_node, 1)
            sums["energy_per_structure"] = (
                jnp.sum(jnp.abs(per_structure)),
                jnp.sum(per_structure**2),
                jnp.sum(mask),
            )
    return sums


def make_eval_step(
    model, targets: tuple[str, ...], compute_stress: bool = False, statistics: dict | None = None
):
    """Returns jit(eval_step(params, graph) -> {target: (Σ|err|, Σerr², n)})."""
    return jax.jit(
        functools.partial(
            eval_step,
            model=model,
            targets=tuple(targets),
            compute_stress=compute_stress,
            statistics=statistics,
        )
    )
