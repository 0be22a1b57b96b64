"""Data-parallel training over every device of every host, with `jax.sharding`.

A mesh with one axis, "data", holds all devices (of all processes). Parameters, optimiser
state and EMA are replicated; each global batch of `train.batch_size` graphs is split into
one sub-batch per device, all padded to the *same* budget, stacked along a leading device
axis and sharded along it. The step runs under `jax.shard_map`: each device predicts its
own graphs, and per-target label counts are summed over the mesh before dividing, so the
loss is the mean over the global batch and the gradient equals the one-device gradient on
the same graphs (a per-device mean averaged over devices would weight atoms unequally).

Multi-host: `initialize_distributed` calls `jax.distributed.initialize()` (it reads the
SLURM environment itself) when SLURM runs more than one task. Every process loads the
dataset (the statistics and the batch plan must be identical everywhere) but pads and
transfers only its own devices' sub-batches. Orbax saves collectively (all processes
call it, process 0 writes replicated arrays); logs and run files come from process 0.
"""

from __future__ import annotations

import functools
import os
from typing import Iterator, Sequence

import jax
import jraph
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from orbjax.data.batching import (
    PaddingBudget,
    batch_iterator,
    compute_budgets,
    n_batches,
    pad_batch,
    plan_device_batches,
)
from orbjax.training import step as step_lib
from orbjax.training.batches import to_device

AXIS = "data"


def initialize_distributed(config) -> bool:
    """Start `jax.distributed` for multi-host runs; returns whether it is running.

    `config.parallel.multihost`: "auto" starts it when SLURM runs more than one task
    (`SLURM_NTASKS` > 1), "true" always (JAX detects SLURM, Open MPI and cloud TPU
    environments), "false" never. Must run before anything touches a JAX device.
    """
    mode = _mode(config, "multihost")
    if jax.distributed.is_initialized():
        return True
    if mode == "auto":
        mode = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    if mode:
        jax.distributed.initialize()
    return bool(mode)


def from_config(config) -> "SingleDevice | DataParallel":
    """`DataParallel` over all devices if `config.parallel.data_parallel` asks for it, else
    `SingleDevice`; the loop uses either through the same methods.

    "auto" (default): when there is more than one device; "true": always (even on one
    device); "false": never (the plain single-device step).
    """
    mode = _mode(config, "data_parallel")
    if mode == "auto":
        mode = jax.device_count() > 1
    return DataParallel() if mode else SingleDevice()


def _mode(config, key: str):
    """config.parallel.<key> as "auto", True or False (strings from the command line too)."""
    value = config.get("parallel", {}).get(key, "auto")
    words = {
        "auto": "auto",
        "true": True,
        "on": True,
        "1": True,
        "false": False,
        "off": False,
        "0": False,
    }
    if str(value).lower() not in words:
        raise ValueError(f"parallel.{key} must be auto, true or false, not {value!r}")
    return words[str(value).lower()]


class SingleDevice:
    """Batches, steps and state placement on the default device: what `DataParallel` does
    on many, with the same methods, so the training loop has one code path."""

    n_devices = 1
    description = ""

    def compute_budgets(
        self, graphs, batch_size: int, n_buckets: int = 2, seed: int = 0
    ) -> list[PaddingBudget]:
        return compute_budgets(graphs, batch_size, n_buckets, seed=seed)

    def n_batches(self, graphs, batch_size, budgets, seed=0, epoch=0, shuffle=True) -> int:
        return n_batches(graphs, batch_size, budgets, seed, epoch, shuffle)

    def batch_iterator(
        self,
        graphs,
        batch_size: int,
        budgets,
        dtype,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        skip_batches: int = 0,
    ) -> Iterator[jraph.GraphsTuple]:
        """Padded batches on the device, floats in `dtype` (`batching.batch_iterator`)."""
        for batch in batch_iterator(
            graphs, batch_size, budgets, seed, epoch, shuffle, skip_batches
        ):
            yield to_device(batch, dtype)

    def replicate(self, tree):
        return tree

    def train_step(
        self,
        model,
        tx,
        weights: dict[str, float],
        ema_decay: float = 0.99,
        compute_stress: bool = False,
        statistics: dict | None = None,
    ):
        return step_lib.make_train_step(model, tx, weights, ema_decay, compute_stress, statistics)

    def eval_step(
        self,
        model,
        targets: tuple[str, ...],
        compute_stress: bool = False,
        statistics: dict | None = None,
    ):
        return step_lib.make_eval_step(model, targets, compute_stress, statistics)


class DataParallel:
    """Mesh, batch sharding and sharded train/eval steps for data parallelism."""

    def __init__(self, devices: Sequence | None = None):
        self.mesh = Mesh(np.array(devices if devices is not None else jax.devices()), (AXIS,))
        self.devices = list(self.mesh.devices.flat)
        self.n_devices = len(self.devices)
        # Positions of this process's devices in the mesh: the sub-batches it builds.
        self.local = [
            i for i, d in enumerate(self.devices) if d.process_index == jax.process_index()
        ]
        self.batch_sharding = NamedSharding(self.mesh, P(AXIS))
        self.replicated = NamedSharding(self.mesh, P())
        self.description = f"; data parallel over {self.n_devices} devices"

    # --- batches -----------------------------------------------------------------------

    def device_batch_size(self, batch_size: int) -> int:
        """Graphs per device for a global batch of `batch_size` (padding budgets use this)."""
        return -(-batch_size // self.n_devices)

    def compute_budgets(
        self, graphs, batch_size: int, n_buckets: int = 2, seed: int = 0
    ) -> list[PaddingBudget]:
        return compute_budgets(graphs, self.device_batch_size(batch_size), n_buckets, seed=seed)

    def plan(
        self, graphs, batch_size: int, budgets, seed: int = 0, epoch: int = 0, shuffle: bool = True
    ) -> list[tuple[list[np.ndarray], PaddingBudget]]:
        """Per step: one index array per device and the budget all of them are padded to;
        the global batches are those of the single-device plan of the same (seed, epoch)."""
        return plan_device_batches(
            graphs, batch_size, budgets, self.n_devices, seed, epoch, shuffle
        )

    def n_batches(self, graphs, batch_size, budgets, seed=0, epoch=0, shuffle=True) -> int:
        return len(self.plan(graphs, batch_size, budgets, seed, epoch, shuffle))

    def batch_iterator(
        self,
        graphs,
        batch_size: int,
        budgets,
        dtype,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        skip_batches: int = 0,
    ) -> Iterator[jraph.GraphsTuple]:
        """Global batches, arrays [n_devices, ...] sharded over the mesh; floats in `dtype`.

        Like `batching.batch_iterator`, a pure function of (seed, epoch), so a resumed run
        skipping `skip_batches` sees the same remaining batches.
        """
        empty = jax.tree.map(lambda x: x[:0], graphs[0])  # for devices left without a graph
        for pieces, budget in self.plan(graphs, batch_size, budgets, seed, epoch, shuffle)[
            skip_batches:
        ]:
            local = [
                pad_batch([graphs[i] for i in pieces[d]] or [empty], budget) for d in self.local
            ]
            yield self.shard(local, dtype)

    def shard(self, local_batches: Sequence[jraph.GraphsTuple], dtype) -> jraph.GraphsTuple:
        """Stack this process's padded sub-batches into global arrays sharded over "data"."""

        def put(*xs):
            x = np.stack(xs)  # [n_local, ...]
            if np.issubdtype(x.dtype, np.floating):
                x = x.astype(dtype)
            shards = [
                jax.device_put(x[j : j + 1], self.devices[d]) for j, d in enumerate(self.local)
            ]
            return jax.make_array_from_single_device_arrays(
                (self.n_devices, *x.shape[1:]), self.batch_sharding, shards
            )

        return jax.tree.map(put, *local_batches)

    def replicate(self, tree):
        """Every leaf replicated on every device of the mesh (all processes pass the same
        values)."""

        def put(x):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, self.replicated, lambda index: x[index])

        return jax.tree.map(put, tree)

    # --- steps -------------------------------------------------------------------------

    def train_step(
        self,
        model,
        tx,
        weights: dict[str, float],
        ema_decay: float = 0.99,
        compute_stress: bool = False,
        statistics: dict | None = None,
    ):
        """jit(train_step(state, global_batch) -> (state, metrics)); the state is donated."""
        fn = functools.partial(
            step_lib.train_step,
            model=model,
            tx=tx,
            weights=dict(weights),
            ema_decay=ema_decay,
            compute_stress=compute_stress,
            statistics=statistics,
            axis_name=AXIS,
        )
        sharded = jax.shard_map(
            lambda state, graph: fn(state, _own(graph)),
            mesh=self.mesh,
            in_specs=(P(), P(AXIS)),
            out_specs=(P(), P()),
            check_vma=True,
        )
        return jax.jit(sharded, donate_argnums=0)

    def eval_step(
        self,
        model,
        targets: tuple[str, ...],
        compute_stress: bool = False,
        statistics: dict | None = None,
    ):
        """jit(eval_step(params, global_batch) -> {target: (Σ|err|, Σerr², n)}) over all devices."""
        fn = functools.partial(
            step_lib.eval_step,
            model=model,
            targets=tuple(targets),
            compute_stress=compute_stress,
            statistics=statistics,
        )
        sharded = jax.shard_map(
            lambda params, graph: jax.lax.psum(fn(params, _own(graph)), AXIS),
            mesh=self.mesh,
            in_specs=(P(), P(AXIS)),
            out_specs=P(),
            check_vma=True,
        )
        return jax.jit(sharded)


def _own(graph):
    """This device's sub-batch: drop the leading device axis (size 1 inside shard_map)."""
    return jax.tree.map(lambda x: x[0], graph)
