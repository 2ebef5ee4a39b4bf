"""Tests of core/doctor/."""
