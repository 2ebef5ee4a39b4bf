"""Tests of core/export/."""
