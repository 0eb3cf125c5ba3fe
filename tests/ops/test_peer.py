"""A child process's readiness, metrics and feeds joined to the parent's answers (pure functions; the whole path runs
in tests/ops/test_operations.py, where `newsmon run` polls in a child process)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from monitor.ingest.policy import FeedHealth
from monitor.ops.peer import OpsPeer, merge_metrics, merge_readiness, row_from_dict, row_to_dict
from monitor.ops.status import FeedRow

PEER = OpsPeer("ingest", "http://127.0.0.1:1")


def check(ok: bool, detail: str = "") -> dict[str, object]:
    return {"ok": ok, "detail": detail, "since": 1.0}


def test_a_child_that_does_not_answer_makes_the_service_unready() -> None:
    own = {"ready": True, "checks": {"service": check(True)}}
    merged = merge_readiness(own, PEER, None)
    assert merged["ready"] is False
    assert merged["checks"]["ingest.process"]["ok"] is False


def test_the_childs_checks_join_and_a_failing_one_wins_over_the_parents() -> None:
    own = {"ready": True, "checks": {"service": check(True), "kafka": check(True, "up")}}
    theirs = {"ready": False, "checks": {"kafka": check(False, "no broker"), "ingest.registry": check(True, "2 feeds")}}
    merged = merge_readiness(own, PEER, theirs)
    assert merged["ready"] is False
    assert set(merged["checks"]) == {"service", "kafka", "ingest.registry"}
    assert merged["checks"]["kafka"]["detail"] == "ingest process: no broker"
    theirs["checks"]["kafka"] = check(True, "up")
    assert merge_readiness(own, PEER, theirs)["ready"] is True


OWN = b"""# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 10.0
# HELP newsmon_stage_items_in_total Items read.
# TYPE newsmon_stage_items_in_total counter
newsmon_stage_items_in_total{stage="classify"} 5.0
newsmon_stage_items_in_total{stage="ingest"} 0.0
"""
THEIRS = """# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 99.0
# HELP newsmon_stage_items_in_total Items read.
# TYPE newsmon_stage_items_in_total counter
newsmon_stage_items_in_total{stage="ingest"} 7.0
# HELP newsmon_polls_total Polls.
# TYPE newsmon_polls_total counter
newsmon_polls_total{outcome="fetched"} 3.0
"""


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = list(text_string_to_metric_families(text.decode()))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "a family is exported twice"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_metrics_join_into_one_family_each_counts_add_up_and_the_parents_process_figures_stay() -> None:
    got = samples(merge_metrics(OWN, THEIRS))
    assert got[("process_open_fds", ())] == 10.0
    assert got[("newsmon_stage_items_in_total", (("stage", "classify"),))] == 5.0
    assert got[("newsmon_stage_items_in_total", (("stage", "ingest"),))] == 7.0
    assert got[("newsmon_polls_total", (("outcome", "fetched"),))] == 3.0


def test_a_silent_child_leaves_the_parents_metrics_as_they_are() -> None:
    assert merge_metrics(OWN, "") == OWN


def test_feed_rows_cross_as_json_unchanged() -> None:
    row = FeedRow("wire", "http://x/f", FeedHealth.FAILING, 3, "503", datetime(2026, 1, 2, tzinfo=UTC), None)
    assert row_from_dict(row_to_dict(row)) == row
