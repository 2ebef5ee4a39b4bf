"""Tests of core/bench/."""
