"""Train an orbjax potential: `python -m orbjax.train --config configs/test.py --workdir DIR`.

Reads the data named in the config, fits the dataset statistics on the training split,
and trains with a jit-compiled optax step on a weighted energy + force (+ charge) loss.
Validation metrics go to `metrics.csv` and TensorBoard event files; checkpoints (latest and
best by validation) go to `DIR/checkpoints`. Re-running the same command resumes.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app, flags, logging
from ml_collections import config_flags

from orbjax.data.batching import batch_iterator, compute_budgets, n_batches
from orbjax.model.mlip import ModelConfig, OrbitalMLIP
from orbjax.model.statistics import Statistics, compute_statistics
from orbjax.training.checkpoint import Checkpointer
from orbjax.training.data import DataSplits, load_splits, write_skipped
from orbjax.training import parallel
from orbjax.training.metrics import ErrorAccumulator, format_metrics
from orbjax.training.preemption import DeferredSignals
from orbjax.training.state import TrainState
from orbjax.training.step import make_eval_step, make_train_step

DFT_TARGETS = ("energy", "forces", "stress")


def model_config(config: ml_collections.ConfigDict) -> ModelConfig:
    heads = tuple(t for t, w in config.loss.weights.items() if w > 0 and t not in DFT_TARGETS)
    return ModelConfig(**{**config.model.to_dict(), "heads": heads})


def create_model(config: ml_collections.ConfigDict, statistics: Statistics) -> OrbitalMLIP:
    dtypes = {"float32": jnp.float32, "float64": jnp.float64}
    if config.dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, not {config.dtype!r}")
    return OrbitalMLIP(model_config(config), statistics, dtype=dtypes[config.dtype])


def isolated_atom_energies(data_config) -> dict[int, float] | None:
    """{Z: E} from `data.isolated_atoms_path` (single-atom structures), else None (least squares)."""
    path = data_config.get("isolated_atoms_path")
    if not path:
        return None
    from orbjax.training.data import read
    atoms = [s for s in read(path, data_config) if s.n_atoms == 1 and "energy" in s.labels]
    if not atoms:
        raise ValueError(f"{path}: no single-atom structures with an energy label")
    return {int(s.atomic_numbers[0]): float(s.labels["energy"]) for s in atoms}


def create_optimizer(config: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    opt = config.optimizer
    warmup = min(opt.warmup_steps, max(total_steps // 2, 1))
    if opt.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, opt.learning_rate, warmup, max(total_steps, warmup + 1),
                                                opt.learning_rate * opt.final_lr_fraction)
    elif opt.schedule == "constant":
        lr = optax.linear_schedule(0.0, opt.learning_rate, warmup)
    else:
        raise ValueError(f"unknown schedule {opt.schedule!r} (cosine, constant)")
    if opt.name == "adam":
        base = optax.adamw(lr, weight_decay=opt.weight_decay) if opt.weight_decay else optax.adam(lr)
    elif opt.name == "amsgrad":
        base = optax.amsgrad(lr)
    else:
        raise ValueError(f"unknown optimizer {opt.name!r} (adam, amsgrad)")
    return optax.chain(optax.clip_by_global_norm(opt.clip_norm), base)


def init_params(model: OrbitalMLIP, graph, seed: int):
    """Initialise on one padded batch (jit: eager e3nn-jax init is slow)."""
    from orbjax.model.predict import node_graph_index

    def init(rng):
        vectors = graph.nodes["positions"][graph.senders] - graph.nodes["positions"][graph.receivers] + graph.edges["shifts"]
        node_graph = node_graph_index(graph.n_node, graph.nodes["positions"].shape[0])
        return model.init(rng, vectors.astype(model.dtype), graph.nodes["atomic_numbers"], graph.senders,
                          graph.receivers, node_graph, graph.globals["total_charge"], with_heads=True)

    return jax.jit(init)(jax.random.PRNGKey(seed))


def to_device(graph, dtype):
    """Cast float arrays of a numpy batch to the model dtype and move them to the device."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype) if np.issubdtype(x.dtype, np.floating) else jnp.asarray(x), graph)


def device_batches(par, graphs, config, budgets, dtype, **kwargs):
    """Batches on the device: one padded batch, or (data parallel) one per device, sharded."""
    if par is not None:
        return par.batch_iterator(graphs, config.train.batch_size, budgets, dtype, **kwargs)
    return (to_device(b, dtype) for b in batch_iterator(graphs, config.train.batch_size, budgets, **kwargs))


def evaluate(eval_step, params, graphs, config, budgets, dtype, par=None) -> dict[str, float]:
    acc = ErrorAccumulator()
    for batch in device_batches(par, graphs, config, budgets, dtype, shuffle=False):
        acc.add(jax.device_get(eval_step(params, batch)))
    return acc.compute()


def validation_loss(metrics: dict, weights) -> float:
    """Model selection on the DFT targets only (charges are auxiliary)."""
    scale = {"energy": 1e-3, "forces": 1e-3, "stress": 1e-3}  # metrics are in meV → back to eV
    return float(sum(weights.get(t, 0.0) * (metrics.get(f"{t}_rmse", 0.0) * scale[t]) ** 2 for t in DFT_TARGETS))


class MetricsLog:
    """CSV + TensorBoard; only process 0 writes."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.csv")
        self.enabled = jax.process_index() == 0
        self.tb = None
        if self.enabled:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, metrics: dict) -> None:
        if not self.enabled:
            return
        new = not os.path.exists(self.path)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["step", "split", "metric", "value"])
            for k, v in metrics.items():
                w.writerow([step, split, k, f"{float(v):.8g}"])
                self.tb.add_scalar(f"{split}/{k}", float(v), step)
        self.tb.flush()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """The one loop owner: data → statistics → model → steps → loop with eval/checkpoints.

    SIGTERM and SIGUSR2 (scheduler time limits, preemption, submitit's requeue) take effect at
    the next step boundary, after a checkpoint of that step (`training/preemption.py`).
    """
    parallel.initialize_distributed(config)  # multi-host runs only; before any device use
    precision = jax.enable_x64(True) if config.dtype == "float64" else contextlib.nullcontext()
    with precision, DeferredSignals() as stop_signals:
        final = _train_and_evaluate(config, workdir, stop_signals)
    if jax.process_index() == 0:  # the best checkpoint as one shareable file: WORKDIR/model.orbjax
        from orbjax.export import export_finished_run
        export_finished_run(workdir)
    return final


@dataclasses.dataclass
class Run:
    """Everything the loop uses besides the training state; built once per run."""
    config: ml_collections.ConfigDict
    data: DataSplits
    budgets: list  # padding budgets (one compiled step per budget)
    dtype: object
    par: object  # parallel.DataParallel, or None on one device
    train_step: object  # (state, batch) -> (state, metrics)
    eval_step: object  # (params, batch) -> error sums
    ckpt: Checkpointer
    log: "MetricsLog"
    meta: dict  # saved with every checkpoint: statistics, config, parameter count
    stop_signals: DeferredSignals | None = None

    @property
    def weights(self) -> dict:
        return dict(self.config.loss.weights)


def create_steps(config, model, tx, par=None):
    """The jitted train and eval steps (data parallel when `par` is set)."""
    weights = dict(config.loss.weights)
    compute_stress = weights.get("stress", 0.0) > 0
    train_step = (par.train_step if par else make_train_step)(model, tx, weights, config.train.ema_decay, compute_stress)
    eval_step = (par.eval_step if par else make_eval_step)(
        model, tuple(t for t, w in weights.items() if w > 0) + ("forces",), compute_stress)
    return train_step, eval_step


def _train_and_evaluate(config, workdir, stop_signals: DeferredSignals):
    os.makedirs(workdir, exist_ok=True)
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    data = load_splits(config.data, config.model.cutoff, config.seed)
    if jax.process_index() == 0:
        write_skipped(os.path.join(workdir, "skipped_structures.jsonl"), data.skipped)
    ckpt = Checkpointer(workdir)
    resumed_meta = None
    if ckpt.latest_step() is not None:
        from orbjax.training.checkpoint import read_meta
        resumed_meta, _, _ = read_meta(workdir, "latest")
        statistics = Statistics.from_json(resumed_meta["statistics"])
    else:
        statistics = compute_statistics(data.train, isolated_atom_energies=isolated_atom_energies(config.data))
    save_run_files(workdir, config, statistics)
    model = create_model(config, statistics)
    par = parallel.from_config(config)  # None: one device; else the batch is split over all devices
    budgets = (par.compute_budgets if par else compute_budgets)(
        data.train + data.val, config.train.batch_size, config.train.n_buckets, seed=config.seed)
    steps_per_epoch = (par.n_batches if par else n_batches)(data.train, config.train.batch_size, budgets, config.seed, 0)
    total_steps = config.train.num_steps or config.train.num_epochs * steps_per_epoch
    tx = create_optimizer(config, total_steps)
    example = to_device(next(batch_iterator(data.train[:1], 1, budgets, shuffle=False)), dtype)
    state = TrainState.create(init_params(model, example, config.seed), tx, jax.random.PRNGKey(config.seed))
    if par is not None:
        state = par.replicate(state)  # before restoring, so the checkpoint is read into this layout
    epoch, batch_in_epoch = 0, 0
    if resumed_meta is not None:
        state, meta = ckpt.restore(state)
        epoch, batch_in_epoch = meta["epoch"], meta["batch_in_epoch"]
        _say(f"resumed from step {int(state.step)} (epoch {epoch}, batch {batch_in_epoch})")
    n_params = sum(x.size for x in jax.tree.leaves(state.params))
    _say(f"model: {n_params} parameters; {len(data.train)} train / {len(data.val)} val graphs; "
         f"{total_steps} steps; padding budgets {budgets}" + (f"; data parallel over {par.n_devices} devices" if par else ""))
    run = Run(config, data, budgets, dtype, par, *create_steps(config, model, tx, par), ckpt, MetricsLog(workdir),
              dict(statistics=statistics.to_json(), config=config.to_json(), n_params=int(n_params)), stop_signals)
    state, final = _loop(run, state, epoch, batch_in_epoch, total_steps)
    ckpt.close()
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
            json.dump(final, f, indent=1)
    return final


def _loop(run: Run, state, epoch: int, batch_in_epoch: int, total_steps: int):
    from tqdm import tqdm

    config, final = run.config, {}
    step = int(state.step)
    progress = tqdm(total=total_steps, initial=step, desc="train", disable=not config.train.progress_bar)
    if step == 0 and config.train.eval_at_start:
        progress.write("step 0: " + format_metrics(_validate(run, state, step)))
    t0 = time.perf_counter()
    while step < total_steps:
        batches = device_batches(run.par, run.data.train, config, run.budgets, run.dtype, seed=config.seed,
                                 epoch=epoch, skip_batches=batch_in_epoch)
        for batch in batches:
            state, metrics = run.train_step(state, batch)
            step, batch_in_epoch = step + 1, batch_in_epoch + 1
            progress.update(1)
            if not bool(metrics["finite"]):
                _handle_nonfinite(config, step, state, run.ckpt)
            last = step >= total_steps
            if step % config.train.log_every == 0 or last:
                train_metrics = {k: float(v) for k, v in jax.device_get(metrics).items() if k != "finite"}
                train_metrics["steps_per_s"] = config.train.log_every / max(time.perf_counter() - t0, 1e-9)
                train_metrics["xla_compilations"] = run.train_step._cache_size()
                run.log.write(step, "train", train_metrics)
                t0 = time.perf_counter()
            position = {"epoch": epoch, "batch_in_epoch": batch_in_epoch}
            if step % config.train.eval_every == 0 or last:
                final = _validate(run, state, step)
                progress.write(f"step {step}: " + format_metrics(final))
                run.ckpt.save(state, {**run.meta, **position}, final["val_loss"])
            elif step % config.train.checkpoint_every == 0:
                run.ckpt.save(state, {**run.meta, **position})
            if _stop_requested(run.stop_signals, step, config) and not last:
                run.ckpt.save(state, {**run.meta, **position})
                progress.write(f"step {step}: stop signal {run.stop_signals.pending}; checkpoint saved")
                run.stop_signals.deliver()  # requeue / terminate here; returns if the old handler does
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
            metrics = evaluate(run.eval_step, params, graphs, run.config, run.budgets, run.dtype, run.par)
            run.log.write(selected, name, metrics)
            out.update({f"{name}_{k}": v for k, v in metrics.items()})
    return out


def _stop_requested(stop_signals, step: int, config) -> bool:
    """Asked after every step; with several processes only every `log_every` steps (collective)."""
    if stop_signals is None or (jax.process_count() > 1 and step % config.train.log_every):
        return False
    return stop_signals.requested()


def _validate(run: Run, state, step: int) -> dict:
    val = evaluate(run.eval_step, state.ema_params, run.data.val, run.config, run.budgets, run.dtype, run.par)
    val["val_loss"] = validation_loss(val, run.weights)
    val["xla_compilations_eval"] = run.eval_step._cache_size()
    run.log.write(step, "val", val)
    return val


def _handle_nonfinite(config, step, state, ckpt):
    msg = (f"step {step}: non-finite loss or gradient; the update was not applied "
           f"({int(state.n_skipped)} skipped so far)")
    if config.train.nonfinite == "stop":
        ckpt.wait()
        raise FloatingPointError(msg + "; stopping (train.nonfinite='stop'); the last checkpoint is intact")
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


FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the resolved config.")
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
    final = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    print(json.dumps(final, indent=1))


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
