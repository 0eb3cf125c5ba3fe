"""The shadow side's judging without a broker: shadow rules on live scores, live rules on the shadow model's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from classifiers.model import NewsClassifier
from consumers.alert.rules import parse_rules
from consumers.classify.scoring import classify_items
from consumers.shadow.stage import Recorded, ShadowJudge
from monitor.messages import RawItem, encode
from monitor.settings import ClassifierSettings, ConfigError
from monitor.shell.runner import build_stages
from tests.conftest import make_settings
from tests.support.alerts import FILE_SINK_RULES, classified

RULES = (
    FILE_SINK_RULES
    + """\
  - id: incidents
    labels: [cross_border_incident]
  - id: any-election
    shadow: true
    labels: {election: 0.5}
"""
)


def record(topic: str, value: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, None, value, None, 0, len(value), ())


def raw(i: int, title: str) -> RawItem:
    now = datetime.now(UTC)
    return RawItem(id=f"raw-{i}", feed_id="f", feed_url="https://wire.example/rss", source="Wire", title=title,
                   published=now, fetched_at=now, content_hash=f"{i:016x}", lang="en")  # fmt: skip


def test_shadow_rules_see_live_scores_and_the_shadow_model_feeds_the_live_rules(
    model: NewsClassifier, tmp_path: Path
) -> None:
    s = make_settings("127.0.0.1:1", tmp_path)
    rules = parse_rules(RULES, tmp_path / "rules.yaml")
    items = [raw(1, "Russian drone crashes in Polish territory after crossing the border"),
             raw(2, "Polls close in Georgia's parliamentary election"),
             raw(3, "Football club signs a new striker before the derby")]  # fmt: skip
    scored = classify_items(model, items, explain=0)
    live = [classified(1, incident=0.9, election=0.7), classified(2, incident=0.9, election=0.1)]
    records = [record(s.topics.raw, encode(it), i) for i, it in enumerate(items)]
    records += [record(s.topics.classified, encode(c), i) for i, c in enumerate(live)]
    found = ShadowJudge(s, rules, model)(records)
    by_model = [(a.rule_id, a.item.item.id) for a in found if a.kind == "model"]
    assert by_model == [("incidents", c.item.id) for c in scored if "cross_border_incident" in c.labels]
    assert ("incidents", "raw-1") in by_model
    assert all(a.item.model == model.version for a in found if a.kind == "model")
    assert [(a.rule_id, a.item.item.id) for a in found if a.kind == "rule"] == [("any-election", "item-1")]
    # Without a shadow model, news.raw records are not judged at all.
    assert {a.kind for a in ShadowJudge(s, rules, None)(records)} == {"rule"}


def test_the_shadow_side_records_a_story_and_rule_once_per_window() -> None:
    recorded = Recorded(3600)
    at = datetime.now(UTC)
    assert recorded.first("e1", at) and not recorded.first("e1", at + timedelta(minutes=59))
    assert recorded.first("e1", at + timedelta(hours=1)) and recorded.first("e2", at)
    assert recorded.expire(at + timedelta(hours=1, minutes=30)) == 1  # e2's window closed, e1's runs on
    assert not recorded.first("e1", at + timedelta(hours=1, minutes=31)) and recorded.first("e2", at)


def test_an_unknown_shadow_model_stops_start_up_with_a_clear_error(models_dir: Path, tmp_path: Path) -> None:
    s = make_settings("127.0.0.1:1", tmp_path)
    cs = ClassifierSettings(model_dir=models_dir, shadow_model="v0-nope")
    with pytest.raises(ConfigError, match=r"classifier\.shadow_model v0-nope"):
        build_stages(s.model_copy(update={"classifier": cs}), [], ["shadow"])
    assert set(build_stages(s, [], ["shadow"])) == {"shadow"}
