"""The training codes the corpus draws curves from: a plain PyTorch loop, Keras' fit and TuneLab's trainer.

Each source module offers `NAME`, `train(config) -> Trained` and `write_csv(trained, path)`; only
generate.py chooses between them, and only by name (keras is imported when its source is asked for)."""
