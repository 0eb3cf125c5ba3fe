"""Replaying retained topics through a chosen model and rules file in dry run, for backtesting changes."""
