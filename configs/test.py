"""A tiny configuration for tests and CI: seconds on a laptop CPU."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.data.train_path = "orbjax/examples/chno_example.extxyz"
    config.data.val_fraction = 0.2
    config.data.test_fraction = 0.0
    config.model.channels = 8
    config.model.l_max = 2
    config.model.n_layers = 1
    config.model.n_basis = 6
    config.model.radial_hidden = 16
    config.model.readout_hidden = 8
    config.loss.weights.orbital_populations = 0.0
    config.model.heads = ()
    config.optimizer.learning_rate = 1e-2
    config.optimizer.warmup_steps = 5
    config.train.batch_size = 4
    config.train.num_steps = 40
    config.train.log_every = 10
    config.train.eval_every = 20
    config.train.checkpoint_every = 10
    config.train.progress_bar = False
    return config
