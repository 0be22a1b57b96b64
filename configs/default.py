"""Default orbjax configuration: a NequIP-size model, energy + forces + GFN1 orbital charges.

Override anything from the command line, e.g.
  python -m orbjax.train --config configs/default.py --workdir runs/x --config.train.num_steps=2000
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.dtype = "float32"  # or "float64" (enabled for this run only, not globally)

    # Data: a labelled orbjax .h5 (python -m orbjax.label) or any readable structure file.
    config.data = ml_collections.ConfigDict()
    config.data.train_path = "data/chno_gfn1.h5"
    config.data.val_path = ""  # empty: split off the training file
    config.data.test_path = ""
    config.data.key_preset = "chno"  # how labels are named in the file: default | chno | comp6
    config.data.key_overrides = ml_collections.ConfigDict()
    config.data.energy_key = "energy"  # the DFT energy; "xtb_energy" trains on xTB
    config.data.forces_key = "forces"
    config.data.split_by = "mol_id"  # molecule-disjoint splits
    config.data.val_fraction = 0.1
    config.data.test_fraction = 0.1
    config.data.n_train = 0  # 0 = all; else a nested subsample (learning curves)
    config.data.split_seed = -1  # ≥ 0: val/test molecules fixed by it; `seed` then draws only n_train
    config.data.extra_tests = ""  # more test sets scored at the end: "name=path,name=path"
    config.data.shuffle_targets = ""  # control: labels permuted among same-element atoms (data/shuffle.py)
    config.data.limit = 0  # 0 = all structures of the file
    config.data.on_error = "skip"  # bad structures: skip and record in skipped_structures.jsonl | raise
    config.data.isolated_atoms_path = ""  # single-atom energies for E0s; empty: least squares

    # Model.
    config.model = ml_collections.ConfigDict()
    config.model.channels = 32
    config.model.l_max = 2
    config.model.n_layers = 2
    config.model.cutoff = 5.0  # Å
    config.model.n_basis = 8
    config.model.radial_hidden = 64
    config.model.readout_hidden = 16
    # Auxiliary heads (`orbjax.targets`): each predicts one charge target in training only;
    # a target with a positive loss weight below needs its head here.
    config.model.heads = ("orbital_populations",)
    config.model.orbital_head = "equivariant"  # or "invariant"
    config.model.orbital_features = "previous_layer"  # or "last_layer" (see ModelConfig)
    config.model.charge_neutral = False

    # Loss weights; a charge target's head is named in model.heads. Each term is an
    # MSE in its own unit (energy per atom eV², forces (eV/Å)², stress (eV/Å³)², charges e²);
    # charge errors are ~0.01–0.05 e, so charge weights of ~100 make the auxiliary term
    # comparable to the force term (with weight 1 it barely moves the shared network).
    config.loss = ml_collections.ConfigDict()
    config.loss.weights = ml_collections.ConfigDict(dict(
        energy=10.0, forces=10.0, stress=0.0, atomic_charges=0.0, dft_charges=0.0,
        spd_populations=0.0, orbital_populations=100.0))

    # Optimizer.
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adam"  # adam | amsgrad
    config.optimizer.learning_rate = 5e-3
    config.optimizer.schedule = "cosine"  # cosine | constant
    config.optimizer.warmup_steps = 100
    config.optimizer.final_lr_fraction = 0.02
    config.optimizer.clip_norm = 10.0
    config.optimizer.weight_decay = 0.0

    # Training loop.
    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 8
    config.train.n_buckets = 2
    config.train.num_steps = 0  # 0: use num_epochs
    config.train.num_epochs = 200
    config.train.log_every = 50
    config.train.eval_every = 500
    config.train.checkpoint_every = 500
    config.train.ema_decay = 0.99
    config.train.nonfinite = "skip"  # skip the update | stop
    config.train.eval_at_start = True  # validation metrics of the untrained model, for reference
    config.train.progress_bar = True

    # Devices and hosts (orbjax/training/parallel.py). train.batch_size is the global batch,
    # split over the devices; the loss and gradient are those of the whole global batch.
    config.parallel = ml_collections.ConfigDict()
    config.parallel.data_parallel = "auto"  # auto: all devices when there are several | true | false
    config.parallel.multihost = "auto"  # auto: jax.distributed when SLURM runs > 1 task | true | false
    return config
