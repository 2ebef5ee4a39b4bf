"""Tests of core/runs/."""
