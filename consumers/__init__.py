"""Stages that consume newsmon topics, one folder each: classify, alert, deliver, stories, and replay (backtesting)."""
