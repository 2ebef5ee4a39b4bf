"""Runs: the SQLite store, the worker and its queue, the one lifecycle every entry point calls
(dashboard, CLI train, sweeps, seed groups), sweeps and groups, comparisons and progress lines."""
