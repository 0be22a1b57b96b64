"""Orbax checkpoints: the latest (for resuming) and the best by validation (for use).

Each checkpoint holds the full `TrainState` (params, optimiser, EMA, step, RNG) and a JSON
item with the data position (epoch, batch in epoch), the dataset statistics, the model and
run config, and the shape of every parameter. Orbax writes to a temporary directory and
renames it when complete, so a run killed mid-write leaves the previous checkpoint intact.
Restoring into a model of another shape raises `CheckpointMismatchError` before anything
is loaded.
"""

from __future__ import annotations

import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from orbjax.model.build import CheckpointMismatchError, check_shapes, param_shapes

__all__ = ["Checkpointer", "CheckpointMismatchError", "read_meta", "check_shapes", "param_shapes"]


class Checkpointer:
    def __init__(self, workdir: str, keep: int = 2, async_save: bool = False):
        opts = dict(create=True, enable_async_checkpointing=async_save)
        self.latest = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints", "latest")),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, **opts),
        )
        self.best = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints", "best")),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda m: m["val_loss"], best_mode="min", **opts
            ),
        )

    def save(self, state, meta: dict, val_loss: float | None = None) -> None:
        step = int(state.step)
        meta = {**meta, "param_shapes": param_shapes(state.params), "step": step}
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        if step not in self.latest.all_steps():
            self.latest.save(step, args=args)
        if val_loss is not None and np.isfinite(val_loss) and step not in self.best.all_steps():
            self.best.save(step, args=args, metrics={"val_loss": float(val_loss)})
        self.wait()

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def restore(self, target_state, which: str = "latest", step: int | None = None):
        """Restore into the structure of `target_state`; returns (state, meta)."""
        manager = self.latest if which == "latest" else self.best
        step = (
            manager.latest_step()
            if step is None and which == "latest"
            else (step if step is not None else manager.best_step())
        )
        if step is None:
            raise FileNotFoundError(f"no {which} checkpoint in {manager.directory}")
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        check_shapes(meta["param_shapes"], param_shapes(target_state.params), manager.directory)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_state)
        try:
            restored = manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
            )
        # orbax: the saved tree differs (e.g. another optimizer); nothing loaded
        except ValueError as err:
            raise CheckpointMismatchError(
                f"checkpoint {step} in {manager.directory} does not fit this training state "
                "(parameters "
                "match, so the optimizer or other state differs; was the optimizer config "
                f"changed?): {err}"
            ) from err
        return restored["state"], meta

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def read_meta(workdir: str, which: str = "best") -> tuple[dict, int, str]:
    """The JSON metadata of the best (or latest) checkpoint, without building a model.

    Returns (meta, step, which) where `which` says which checkpoint was found: a run that
    never validated has no best checkpoint and falls back to the latest.
    """
    ckpt = Checkpointer(workdir)
    manager = ckpt.best if which == "best" else ckpt.latest
    step = manager.best_step() if which == "best" else manager.latest_step()
    if step is None:
        manager, step, which = ckpt.latest, ckpt.latest.latest_step(), "latest"
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    ckpt.close()
    return meta, step, which
