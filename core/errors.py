"""Errors meant for users: each names the field (or input) at fault and what is allowed."""
from __future__ import annotations


class UserError(Exception):
    """Base of every error a person can fix by changing their input."""


class ConfigError(UserError, ValueError):
    """A setting has a value that is not allowed."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DataUnavailableError(UserError):
    """A data set is not on disk and cannot be downloaded now."""

    def __init__(self, dataset: str, message: str):
        self.dataset = dataset
        self.message = message
        super().__init__(f"dataset {dataset}: {message}")
