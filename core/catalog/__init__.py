"""The catalog: every choice a person makes (data sets, models, activations, initializers, optimizers,
schedules), one registry each, and the one map from a RunConfig field to its registry."""
