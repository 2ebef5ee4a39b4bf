"""Exports of a stored run: history CSV and config JSON, TensorBoard event files (through PyTorch's
SummaryWriter) and a standalone PyTorch script that reproduces the run."""
