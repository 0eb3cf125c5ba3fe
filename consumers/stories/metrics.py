"""Prometheus metrics of the story stage: items in and out, dead letters, and the stories open in its window."""

from __future__ import annotations

from prometheus_client import Gauge

from monitor.ops.metrics import StageMetrics

STAGE = StageMetrics("stories")
STAGE.declare("bad_input")
OPEN = Gauge("newsmon_stories_open", "Stories open in the story stage's window (idle for less than stories.window_h).")
