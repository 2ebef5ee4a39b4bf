"""The Curve Doctor: diagnosis of training curves, reading history files, the published baseline
rules, and the boiling-water story told from per-layer probes."""
