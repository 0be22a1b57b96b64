"""Training state: everything a run needs to continue, in one pytree."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    # [] int, batches consumed, skipped ones included (updates applied: step - n_skipped)
    step: jnp.ndarray
    params: dict
    opt_state: optax.OptState
    ema_params: dict
    rng: jnp.ndarray  # PRNG key
    n_skipped: jnp.ndarray  # [] int, steps skipped for a non-finite loss or gradient

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation, rng) -> "TrainState":
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            ema_params=jax.tree.map(jnp.copy, params),
            rng=rng,
            n_skipped=jnp.zeros((), jnp.int32),
        )


def ema_update(ema_params, params, step, decay: float):
    """Exponential moving average with the usual warm-up: decay_t = min(decay, (1+t)/(10+t))."""
    step = step.astype(jnp.float32)
    d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
    # e + (1 − d)(p − e): the same average, and exactly e where p == e (frozen parameters)
    return jax.tree.map(lambda e, p: e + (1.0 - d) * (p - e), ema_params, params)
