"""Wiring: capture -> decode -> flows (-> analyzers), with the run's counters."""
