"""Shared helpers of the fault suite: tiny training configs, bad input, poisoned steps."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from orbjax.config import load_config_module
from orbjax.data.readers import _split_xyz, example_path

ROOT = Path(__file__).resolve().parents[2]
GOOD_XYZ = "2\n\nH 0 0 0\nH 0 0 0.74\n"

# Frames that no reader may accept, and the words the error must contain.
BAD_FRAMES = {
    "unknown-symbol": ("2\n\nXx 0 0 0\nH 0 0 1\n", "unknown element symbol 'Xx'"),
    "Z=0": ("2\n\nX 0 0 0\nH 0 0 1\n", "unknown element Z=0"),
    "Z<0": (
        "2\nProperties=species:S:1:pos:R:3:Z:I:1\nH 0 0 0 -1\nH 0 0 1 1\n",
        "unknown element Z=-1",
    ),
    "nan": ("2\n\nH 0 0 0\nH 0 nan 1\n", "non-finite (NaN/inf) position at atom 1"),
    "inf": ("2\n\nH 0 0 0\nH 0 0 inf\n", "non-finite (NaN/inf) position at atom 1"),
    "overlap": ("2\n\nH 0 0 0\nH 0 0 0.05\n", "overlapping"),
    "empty": ("0\nenergy=1.0\n", "empty structure"),
    "charge": ("2\ncharge=3\nH 0 0 0\nH 0 0 0.74\n", "removes more electrons"),
    "multiplicity": ("2\nmultiplicity=4\nH 0 0 0\nH 0 0 0.74\n", "needs 3 unpaired electrons"),
    "multiplicity<1": ("2\nmultiplicity=0\nH 0 0 0\nH 0 0 0.74\n", "not a positive integer"),
    "zero-volume": (
        '2\nLattice="3 0 0 6 0 0 0 0 3" pbc="T T T"\nH 0 0 0\nH 0 0 1\n',
        "zero volume",
    ),
    "malformed": ("2\n\nH 0 0 0\nH 0 0\n", "malformed frame"),
    "truncated": ("3\n\nH 0 0 0\nH 0 0 1\n", "truncated"),
}


def example_frames() -> list[str]:
    """The bundled example (39 CHNO molecules, ωB97X) as extxyz text, one string per frame."""
    return ["".join(lines) for _, lines, _ in _split_xyz(example_path())]


def tiny_config(train_path, num_steps: int = 8, **train):
    """configs/test.py made smaller still: one bucket, l_max 0, 12 structures, few steps."""
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path = str(train_path)
    config.data.limit = 12
    config.model.l_max = 0
    config.train.n_buckets = 1
    config.train.num_steps = num_steps
    config.train.eval_every = num_steps
    config.train.checkpoint_every = 2
    config.train.log_every = 1
    config.train.eval_at_start = False
    for key, value in train.items():
        config.train[key] = value
    return config


class PoisonedStep:
    """Wraps the real jitted train step; on the listed calls the batch gets a NaN position,
    as a corrupted batch or an overflow would give, so the loss and gradients are NaN.

    Records host copies of the parameters before and after every call.
    """

    def __init__(self, step, poison_calls):
        self.step, self.poison_calls, self.calls = step, set(poison_calls), 0
        self.params_before, self.params_after, self.finite = [], [], []

    def __call__(self, state, batch):
        self.calls += 1
        if self.calls in self.poison_calls:
            nodes = dict(batch.nodes)
            nodes["positions"] = nodes["positions"].at[0, 0].set(jnp.nan)
            batch = batch._replace(nodes=nodes)
        self.params_before.append(jax.device_get(state.params))  # before donation
        state, metrics = self.step(state, batch)
        self.params_after.append(jax.device_get(state.params))
        self.finite.append(bool(metrics["finite"]))
        return state, metrics

    def _cache_size(self):
        return self.step._cache_size()


def poison(monkeypatch, calls) -> list[PoisonedStep]:
    """Make the one-device step factory build `PoisonedStep`s; returns the list they are appended
    to."""
    from orbjax.training import step as step_lib

    made, real = [], step_lib.make_train_step

    @functools.wraps(real)
    def factory(*args, **kwargs):
        made.append(PoisonedStep(real(*args, **kwargs), calls))
        return made[-1]

    monkeypatch.setattr(step_lib, "make_train_step", factory)
    return made


def raw_checkpoint(workdir, step: int | None = None, which: str = "latest") -> tuple[int, dict]:
    """(step, TrainState as a plain dict of numpy arrays) of a checkpoint, read without a model."""
    import orbax.checkpoint as ocp

    manager = ocp.CheckpointManager(Path(workdir).resolve() / "checkpoints" / which)
    step = manager.latest_step() if step is None else step
    state = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))[
        "state"
    ]
    manager.close()
    return step, jax.tree.map(np.asarray, state)


def leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb)
    )


def waters(n: int, seed: int = 0):
    """`n` slightly distorted water molecules with made-up DFT labels (to check they are kept)."""
    from orbjax.data.structures import Structure

    rng = np.random.default_rng(seed)
    base = np.array([[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]])
    return [
        Structure(
            [8, 1, 1],
            base + rng.normal(scale=0.03, size=(3, 3)),
            name=f"w{i}",
            mol_id="water",
            labels={"energy": np.asarray(-2000.0 - i), "forces": rng.normal(size=(3, 3))},
        )
        for i in range(n)
    ]
