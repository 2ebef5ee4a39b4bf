"""Tests of core/catalog/."""
