"""A labelled corpus of training curves from three independent training codes, for measuring the Curve Doctor."""
