"""Default orbjax configuration: a NequIP-size model, energy + forces + GFN1 orbital charges.

Override anything from the command line, e.g.
  python -m orbjax.train --config configs/default.py --workdir runs/x --config.train.num_steps=2000
Every field ends with a comment saying what it does: `python -m orbjax.train --config
configs/default.py --help_config` prints them with the values.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # initialisation, batch order, n_train subsample (subsample_seed < 0), split (split_seed < 0)
    config.seed = 0
    config.dtype = "float32"  # float32 | float64 (enabled for this run only, not globally)

    # Data: a labelled orbjax .h5 (python -m orbjax.label) or any readable structure file.
    config.data = ml_collections.ConfigDict()
    # structures to train on (extxyz, ASE db, ANI or orbjax HDF5)
    config.data.train_path = "data/chno_gfn1.h5"
    config.data.val_path = ""  # validation file; empty: split off the training file
    config.data.test_path = ""  # test file (with val_path); empty: split off the training file
    config.data.key_preset = "chno"  # how labels are named in the file: default | chno | comp6
    # label → file key, e.g. key_overrides.energy=E_dft
    config.data.key_overrides = ml_collections.ConfigDict()
    config.data.energy_key = "energy"  # the DFT energy; "xtb_energy" trains on xTB
    config.data.forces_key = "forces"  # the forces label; "xtb_forces" trains on xTB
    # Levels of theory trained at once (multi-fidelity), e.g. "dft,gfn1": one energy readout
    # each on one trunk; the first is the default ("energy"/"forces", from energy_key), the
    # others train as energy_<level>/forces_<level> (weight them in loss.weights).
    config.data.levels = ""
    # More training structures, e.g. GFN1-labelled frames (python -m orbjax.sample) beside a
    # DFT file: training only, never validated or tested on.
    config.data.extra_train_path = ""
    config.data.extra_train_n = 0  # > 0: a random subset of extra_train_path of this size
    # train_path structures repeated in each epoch: sets their share of every batch
    config.data.train_repeat = 1
    # mol_id: molecule-disjoint splits (one molecule: falls back to structure) | structure
    config.data.split_by = "mol_id"
    config.data.val_fraction = 0.1  # share of the training file held out for validation
    config.data.test_fraction = 0.1  # share of the training file held out for the test
    config.data.n_train = 0  # 0 = all; else a nested subsample (learning curves)
    # ≥ 0: val/test molecules fixed by it; `seed` then draws only n_train
    config.data.split_seed = -1
    # ≥ 0: draws the n_train subsample (committees sharing data); -1: `seed`
    config.data.subsample_seed = -1
    # file of structure indices of train_path to train on (active learning); empty: all
    config.data.train_indices = ""
    config.data.extra_tests = ""  # more test sets scored at the end: "name=path,name=path"
    # control: labels permuted among same-element atoms (data/shuffle.py)
    config.data.shuffle_targets = ""
    config.data.limit = 0  # 0 = all structures of the file; else only the first N
    # bad structures: skip and record in skipped_structures.jsonl | raise
    config.data.on_error = "skip"
    config.data.isolated_atoms_path = ""  # single-atom energies for E0s; empty: least squares

    # Model.
    config.model = ml_collections.ConfigDict()
    config.model.channels = 32  # channels per irrep of the atom features (width of the network)
    config.model.l_max = 2  # highest angular momentum of the equivariant features
    config.model.n_layers = 2  # message-passing layers
    config.model.cutoff = 5.0  # Å: neighbour radius of each layer
    config.model.n_basis = 8  # radial basis functions of an edge length
    config.model.radial_hidden = 64  # hidden units of the radial MLP
    config.model.readout_hidden = 16  # hidden units of the energy readout
    # Auxiliary heads (`orbjax.targets`): each predicts one auxiliary target in training only;
    # a target with a positive loss weight below needs its head here.
    config.model.heads = ("orbital_populations",)  # auxiliary targets predicted in training only
    # orbital head: equivariant s/p/d blocks | invariant (scalars only)
    config.model.orbital_head = "equivariant"
    # what the orbital head reads: previous_layer (cheaper) | last_layer
    config.model.orbital_features = "previous_layer"
    # shift predicted atomic charges so they sum to the total charge
    config.model.charge_neutral = False

    # Loss weights; an auxiliary target's head is named in model.heads. Each term is an
    # MSE in its own unit (energy per atom eV², forces (eV/Å)², stress (eV/Å³)², charges e²);
    # charge errors are ~0.01–0.05 e, so charge weights of ~100 make the auxiliary term
    # comparable to the force term (with weight 1 it barely moves the shared network).
    # A weight > 0 needs labels in the training split (checked before the first step).
    config.loss = ml_collections.ConfigDict()
    config.loss.weights = ml_collections.ConfigDict()
    config.loss.weights.energy = 10.0  # per-atom energy; 0: forces only, energies left untrained
    config.loss.weights.forces = 10.0  # force components
    config.loss.weights.stress = 0.0  # stress components (periodic data with a stress label)
    config.loss.weights.atomic_charges = 0.0  # GFN1-xTB Mulliken charges (head atomic_charges)
    config.loss.weights.dft_charges = 0.0  # DFT charges from the data file (head dft_charges)
    # GFN1-xTB s/p/d shell populations (head spd_populations)
    config.loss.weights.spd_populations = 0.0
    # GFN1-xTB per-orbital populations (head orbital_populations)
    config.loss.weights.orbital_populations = 100.0
    # Other levels of theory (with data.levels, `targets.LEVEL_KEYS`): energy per atom and
    # force components of that level's labels.
    config.loss.weights.energy_gfn1 = 0.0  # GFN1-xTB energy (xtb_energy) of data.levels
    config.loss.weights.forces_gfn1 = 0.0  # GFN1-xTB forces (xtb_forces) of data.levels
    config.loss.weights.energy_dft = 0.0  # DFT energy, when DFT is not the default level
    config.loss.weights.forces_dft = 0.0  # DFT forces, when DFT is not the default level

    # Optimizer.
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "adam"  # adam | amsgrad
    config.optimizer.learning_rate = 5e-3  # peak learning rate, after the warm-up
    config.optimizer.schedule = "cosine"  # cosine | constant
    config.optimizer.warmup_steps = 100  # linear warm-up from 0
    config.optimizer.final_lr_fraction = 0.02  # cosine: final / peak learning rate
    config.optimizer.clip_norm = 10.0  # gradients clipped to this global norm
    config.optimizer.weight_decay = 0.0  # > 0: AdamW with this decoupled weight decay

    # Training loop.
    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 8  # structures per step (the global batch over all devices)
    config.train.n_buckets = 2  # padding sizes, one XLA compilation each (fewer: faster start)
    config.train.num_steps = 0  # training steps; 0: use num_epochs
    config.train.num_epochs = 200  # passes over the training split (when num_steps is 0)
    config.train.log_every = 50  # steps between training-loss rows in metrics.csv
    config.train.eval_every = 500  # steps between validations (and best-checkpoint updates)
    # steps between checkpoints (a rerun resumes from the latest)
    config.train.checkpoint_every = 500
    # exponential moving average of the weights (validated and exported)
    config.train.ema_decay = 0.99
    config.train.nonfinite = "skip"  # skip the update | stop
    config.train.eval_at_start = True  # validation metrics of the untrained model, for reference
    config.train.progress_bar = True  # tqdm progress bar on stderr

    # Devices and hosts (orbjax/training/parallel.py). train.batch_size is the global batch,
    # split over the devices; the loss and gradient are those of the whole global batch.
    config.parallel = ml_collections.ConfigDict()
    # auto: all devices when there are several | true | false
    config.parallel.data_parallel = "auto"
    # auto: jax.distributed when SLURM runs > 1 task | true | false
    config.parallel.multihost = "auto"

    # Start from a trained model instead of random weights (orbjax/training/finetune.py).
    config.init = ml_collections.ConfigDict()
    # model file or shipped name (chno-gfn1) to fine-tune; its architecture is used
    config.init.model = ""
    config.init.freeze = ()  # parameter path prefixes not updated, e.g. ("network/embedding",)
    # parameter path prefixes left at a fresh initialisation, e.g. ("energy_readout",)
    config.init.reinit = ()
    return config
