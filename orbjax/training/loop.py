"""The training loop: data → statistics → model → steps → steps with evaluation and checkpoints.

`train_and_evaluate` is what `python -m orbjax.train`, sweeps and the quick start call.
Re-running it on the same workdir resumes from the latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from orbjax.model.build import create_model, init_params, statistics_variables
from orbjax.model.statistics import Statistics
from orbjax.runtime import precision
from orbjax.targets import level_energy_targets
from orbjax.training import finetune, parallel
from orbjax.training.checkpoint import Checkpointer
from orbjax.training.data import DataSplits, level_names, load_splits, write_skipped
from orbjax.training.export import export_finished_run
from orbjax.training.factories import create_optimizer, create_steps
from orbjax.training.label_check import fit_statistics, report_and_check
from orbjax.training.metrics import format_metrics
from orbjax.training.metrics_log import MetricsLog, write_units
from orbjax.training.preemption import DeferredSignals
from orbjax.training.state import TrainState
from orbjax.training.validation import evaluate, validation_loss


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """The one loop owner: data → statistics → model → steps → loop with eval/checkpoints.

    SIGTERM and SIGUSR2 (scheduler time limits, preemption, submitit's requeue) take effect at
    the next step boundary, after a checkpoint of that step (`training/preemption.py`).
    """
    parallel.initialize_distributed(config)  # multi-host runs only; before any device use
    with precision(config.dtype), DeferredSignals() as stop_signals:
        final = _train_and_evaluate(config, workdir, stop_signals)
    # The best checkpoint as one shareable file, WORKDIR/model.orbjax. Every process calls it:
    # in a multi-host run orbax reads checkpoints collectively (process 0 alone would wait for
    # the others until the shutdown barrier timed out); only process 0 writes the file.
    export_finished_run(workdir)
    return final


@dataclasses.dataclass
class TrainingClock:
    """CPU and wall seconds the run has cost, carried across resumes in the checkpoints.

    Counted from the start of `train_and_evaluate` (data loading, statistics, compilation,
    training, validation and checkpoints; not the interpreter's start and imports):
    `process_cpu_s` from `time.process_time()` (every thread of the process: what a
    core-hour budget pays), `wall_s` from `time.perf_counter()`. A resumed attempt adds what
    the earlier ones had spent up to the checkpoint it resumed from (the work after that
    checkpoint was lost and is not counted). `complete` is 0 when the run resumed from a
    checkpoint written before orbjax kept this clock: its times then miss the earlier work.
    Logged as split "time" at every validation, so that validation error can be plotted
    against training cost (time to accuracy). JAX's persistent compilation cache
    (`JAX_COMPILATION_CACHE_DIR`) can make compilation nearly free; empty it to count it.
    """

    cpu_offset: float = 0.0  # s, spent by earlier attempts
    wall_offset: float = 0.0  # s
    complete: bool = True
    cpu_start: float = dataclasses.field(default_factory=time.process_time)
    wall_start: float = dataclasses.field(default_factory=time.perf_counter)

    def resumed_from(self, meta: dict) -> None:
        """Carry on from a checkpoint's meta (keeps this attempt's start)."""
        self.cpu_offset, self.wall_offset = (
            float(meta.get("process_cpu_s", 0.0)),
            float(meta.get("wall_s", 0.0)),
        )
        self.complete = "process_cpu_s" in meta and bool(meta.get("clock_complete", True))

    def elapsed(self) -> dict[str, float]:
        return {
            "process_cpu_s": self.cpu_offset + time.process_time() - self.cpu_start,
            "wall_s": self.wall_offset + time.perf_counter() - self.wall_start,
            "clock_complete": float(self.complete),
        }


@dataclasses.dataclass
class Run:
    """Everything the loop uses besides the training state; built once per run."""

    config: ml_collections.ConfigDict
    data: DataSplits
    budgets: list  # padding budgets (one compiled step per budget)
    dtype: object
    devices: object  # parallel.SingleDevice or parallel.DataParallel
    train_step: object  # (state, batch) -> (state, metrics)
    eval_step: object  # (params, batch) -> error sums
    ckpt: Checkpointer
    log: MetricsLog
    meta: dict  # saved with every checkpoint: statistics, config, parameter count
    stop_signals: DeferredSignals | None = None
    # cost so far (time to accuracy)
    clock: TrainingClock = dataclasses.field(default_factory=TrainingClock)

    @property
    def weights(self) -> dict:
        return dict(self.config.loss.weights)


def _train_and_evaluate(config, workdir, stop_signals: DeferredSignals):
    clock = TrainingClock()
    os.makedirs(workdir, exist_ok=True)
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    # fine-tuning: config.model becomes the file's architecture
    start_from = finetune.init_model(config)
    data = load_splits(config.data, config.model.cutoff, config.seed)
    # label counts; a weighted target without labels is an error
    report_and_check(config, data, _say)
    if jax.process_index() == 0:
        write_skipped(os.path.join(workdir, "skipped_structures.jsonl"), data.skipped)
    ckpt = Checkpointer(workdir)
    resumed_meta = None
    if ckpt.latest_step() is not None:
        from orbjax.training.checkpoint import read_meta

        resumed_meta, _, _ = read_meta(workdir, "latest")
        statistics = Statistics.from_json(resumed_meta["statistics"])
    elif start_from is not None:
        finetune.check_elements_subset(
            start_from, data.train + data.val + data.test, config.data.train_path
        )
        levels = level_names(config.data)
        weights = config.loss.weights
        statistics = finetune.finetune_statistics(
            start_from,
            data.train,
            levels,
            refit_energies=[weights.get(name, 0.0) > 0 for name in level_energy_targets(levels)],
        )
    else:
        # E0s not fitted when the energy weight is 0
        statistics = fit_statistics(config, data.train)
    save_run_files(workdir, config, statistics)
    model = create_model(config, statistics)
    devices = parallel.from_config(config)  # one device, or the batch split over all devices
    budgets = devices.compute_budgets(
        data.train + data.val, config.train.batch_size, config.train.n_buckets, seed=config.seed
    )
    steps_per_epoch = devices.n_batches(
        data.train, config.train.batch_size, budgets, config.seed, 0
    )
    total_steps = config.train.num_steps or config.train.num_epochs * steps_per_epoch
    params = init_params(model, config.seed)
    if start_from is not None and resumed_meta is None:
        params, fresh = finetune.finetune_params(
            params, start_from, statistics.levels, config.init.reinit
        )
        _say(
            f"fine-tuning from {config.init.model} (step {start_from.step}): "
            f"{'all parameters loaded' if not fresh else 'initialised anew: ' + ', '.join(fresh)}"
            + (f"; frozen: {', '.join(config.init.freeze)}" if config.init.freeze else "")
        )
    tx = create_optimizer(config, total_steps)
    if start_from is not None:
        tx = finetune.with_frozen(tx, params, config.init.freeze)
    state = TrainState.create(params, tx, jax.random.PRNGKey(config.seed))
    state = devices.replicate(state)  # before restoring, so the checkpoint is read into this layout
    epoch, batch_in_epoch = 0, 0
    if resumed_meta is not None:
        state, meta = ckpt.restore(state)
        epoch, batch_in_epoch = meta["epoch"], meta["batch_in_epoch"]
        clock.resumed_from(meta)
        _say(f"resumed from step {int(state.step)} (epoch {epoch}, batch {batch_in_epoch})")
    n_params = sum(x.size for x in jax.tree.leaves(state.params))
    _say(
        f"model: {n_params} parameters; {len(data.train)} train / {len(data.val)} val graphs; "
        f"{total_steps} steps; padding budgets {budgets}{devices.description}"
    )
    # numpy constants of the compiled steps (replicated device arrays could not enter shard_map's
    # body)
    stats = statistics_variables(model, statistics, np.dtype(dtype))
    run = Run(
        config,
        data,
        budgets,
        dtype,
        devices,
        *create_steps(config, model, tx, devices, stats),
        ckpt,
        MetricsLog(workdir),
        dict(statistics=statistics.to_json(), config=config.to_json(), n_params=int(n_params)),
        stop_signals,
        clock,
    )
    state, final = _loop(run, state, epoch, batch_in_epoch, total_steps)
    ckpt.close()
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
            json.dump(final, f, indent=1)
        write_units(os.path.join(workdir, "final_metrics_units.json"), final)
    return final


def _loop(run: Run, state, epoch: int, batch_in_epoch: int, total_steps: int):
    from tqdm import tqdm

    config, final = run.config, {}
    step = int(state.step)
    progress = tqdm(
        total=total_steps, initial=step, desc="train", disable=not config.train.progress_bar
    )
    if step == 0 and config.train.eval_at_start:
        progress.write("step 0 validation: " + format_metrics(_validate(run, state, step)))
    t0 = time.perf_counter()
    while step < total_steps:
        batches = run.devices.batch_iterator(
            run.data.train,
            config.train.batch_size,
            run.budgets,
            run.dtype,
            seed=config.seed,
            epoch=epoch,
            skip_batches=batch_in_epoch,
        )
        for batch in batches:
            state, metrics = run.train_step(state, batch)
            step, batch_in_epoch = step + 1, batch_in_epoch + 1
            progress.update(1)
            if not bool(metrics["finite"]):
                _handle_nonfinite(config, step, state, run.ckpt)
            last = step >= total_steps
            if step % config.train.log_every == 0 or last:
                train_metrics = {
                    k: float(v) for k, v in jax.device_get(metrics).items() if k != "finite"
                }
                train_metrics["steps_per_s"] = config.train.log_every / max(
                    time.perf_counter() - t0, 1e-9
                )
                train_metrics["xla_compilations"] = run.train_step._cache_size()
                run.log.write(step, "train", train_metrics)
                t0 = time.perf_counter()
            if step % config.train.eval_every == 0 or last:
                final = _validate(run, state, step)
                progress.write(f"step {step} validation: " + format_metrics(final))
                run.ckpt.save(
                    state, _checkpoint_meta(run, epoch, batch_in_epoch), final["val_loss"]
                )
            elif step % config.train.checkpoint_every == 0:
                run.ckpt.save(state, _checkpoint_meta(run, epoch, batch_in_epoch))
            if _stop_requested(run.stop_signals, step, config) and not last:
                run.ckpt.save(state, _checkpoint_meta(run, epoch, batch_in_epoch))
                progress.write(
                    f"step {step}: stop signal {run.stop_signals.pending}; checkpoint saved"
                )
                # requeue / terminate here; returns if the old handler does
                run.stop_signals.deliver()
            if last:
                break
        else:
            epoch, batch_in_epoch = epoch + 1, 0
    progress.close()
    final.update(_score_tests(run, state, step))
    return state, final


def _score_tests(run: Run, state, step: int) -> dict:
    """Test metrics of the best-by-validation checkpoint (the model a user loads), with its step.

    `test_*` for `data.test_path` (or the split), `<name>_*` for each of `data.extra_tests`.
    """
    tests = {"test": run.data.test, **run.data.extra_tests}
    if not any(tests.values()):
        return {}
    try:
        best, meta = run.ckpt.restore(state, "best")
        params, selected = best.ema_params, int(meta["step"])
    except FileNotFoundError:  # never validated with a finite loss: the last step is all there is
        params, selected = state.ema_params, step
    out = {"selected_step": selected}
    for name, graphs in tests.items():
        if graphs:
            metrics = evaluate(
                run.eval_step, params, graphs, run.config, run.budgets, run.dtype, run.devices
            )
            run.log.write(selected, name, metrics)
            out.update({f"{name}_{k}": v for k, v in metrics.items()})
    return out


def _checkpoint_meta(run: Run, epoch: int, batch_in_epoch: int) -> dict:
    """What a checkpoint records beside the state: the run's meta, where in the data it is,
    and the cost so far (read at saving, so the validation before it is counted)."""
    return {**run.meta, "epoch": epoch, "batch_in_epoch": batch_in_epoch, **run.clock.elapsed()}


def _stop_requested(stop_signals, step: int, config) -> bool:
    """Asked after every step; with several processes only every `log_every` steps (collective)."""
    if stop_signals is None or (jax.process_count() > 1 and step % config.train.log_every):
        return False
    return stop_signals.requested()


def _validate(run: Run, state, step: int) -> dict:
    val = evaluate(
        run.eval_step,
        state.ema_params,
        run.data.val,
        run.config,
        run.budgets,
        run.dtype,
        run.devices,
    )
    val["val_loss"] = validation_loss(val, run.weights)
    val["xla_compilations_eval"] = run.eval_step._cache_size()
    run.log.write(step, "val", val)
    run.log.write(step, "time", run.clock.elapsed())
    return val


def _handle_nonfinite(config, step, state, ckpt):
    msg = (
        f"step {step}: non-finite loss or gradient; the update was not applied "
        f"({int(state.n_skipped)} skipped so far)"
    )
    if config.train.nonfinite == "stop":
        ckpt.wait()
        raise FloatingPointError(
            msg + "; stopping (train.nonfinite='stop'); the last checkpoint is intact"
        )
    logging.warning(msg)


def _say(message: str) -> None:
    if jax.process_index() == 0:
        print(message, flush=True)


def save_run_files(workdir, config, statistics) -> None:
    if jax.process_index() != 0:
        return
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=1))
    with open(os.path.join(workdir, "statistics.json"), "w") as f:
        f.write(statistics.to_json())
