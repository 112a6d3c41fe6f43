"""Training and testing: the sampler, supervision targets, the trainer, checkpoints and evaluation."""
