"""Settings are validated at start-up: a bad value stops the process with exit code 2 and names the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]


def newsmon(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("content", "line", "key", "reason"),
    [
        ("ingest:\n  concurrency: -3\n", 2, "ingest.concurrency", "greater than or equal to 1"),
        ("log:\n  level: info\nkafka:\n  port: not-a-port\n", 4, "kafka.port", "valid integer"),
        ("kafka:\n  colour: blue\n", 2, "kafka.colour", "unknown field 'colour'"),
        (
            "ingest:\n  min_interval_s: 100\n  max_interval_s: 10\n",
            1,
            "ingest",
            "min_interval_s must not exceed",
        ),
        ("kafka:\n  port: 1\n  port: 2\n", 3, "kafka.port", "key given twice"),
        ("kafka: [1, 2\n", 2, "", "expected ',' or ']'"),
    ],
)
def test_bad_settings_file_exits_2_naming_the_file_line_and_key(
    tmp_path: Path, content: str, line: int, key: str, reason: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(content)
    proc = newsmon("--settings", str(path), "topics")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:{line}: {key}" in proc.stderr and reason in proc.stderr, proc.stderr
    assert "invalid settings file" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_environment_value_exits_2_naming_the_variable(tmp_path: Path) -> None:
    proc = newsmon("topics", env={"NEWSMON_TOPICS_PARTITIONS": "0"})
    assert proc.returncode == 2
    assert "topics.partitions (env NEWSMON_TOPICS_PARTITIONS)" in proc.stderr, proc.stderr


def test_missing_settings_file_is_a_config_error(tmp_path: Path) -> None:
    proc = newsmon("--settings", str(tmp_path / "nope.yaml"), "topics")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_bad_feed_list_exits_2_with_the_entry(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'https://ok.example/rss'}\n  - {url: 'ftp://bad.example/x'}\n")
    proc = newsmon("run", "--feeds", str(feeds), env={"NEWSMON_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert proc.returncode == 2
    assert f"{feeds}:3: feeds[1].url" in proc.stderr and "http" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("feeds:\n  - url: https://a.example/rss\n    interval_s: -1\n", 3, "feeds[0].interval_s: Input should be"),
        ("feeds:\n  - url: https://a.example/rss\n    colour: red\n", 3, "feeds[0].colour: unknown field"),
        (
            "feeds:\n  - url: https://a.example/rss\n\n    tier: blog\n",
            4,
            "feeds[0].tier: Input should be 'wire', 'broadcaster', 'outlet' or 'aggregator'",
        ),
        ("feeds:\n  - url: https://a.example/rss\n    url: https://b.example/rss\n", 3, "key given twice"),
        ("feeds:\n  - {url: https://a.example/rss, id: a}\n  - {url: https://b.example/rss, id: a}\n", 1, "twice"),
        ("- https://a.example/rss\n", 1, "the top level must be a mapping"),
    ],
)
def test_bad_feed_list_names_the_file_and_line(tmp_path: Path, content: str, line: int, reason: str) -> None:
    from monitor.ingest.feeds import load_feeds

    path = tmp_path / "feeds.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_feeds(path)
    assert f"{path}:{line}: " in str(err.value) and reason in str(err.value), str(err.value)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("kafka:\n  port: 9999\ningest:\n  default_interval_s: 120\n")
    monkeypatch.setenv("NEWSMON_KAFKA_PORT", "19092")
    monkeypatch.setenv("NEWSMON_KAFKA_BOOTSTRAP", "kafka.internal:9092")
    s = load_settings(path)
    assert s.kafka.port == 19092
    assert s.kafka.bootstrap_servers == "kafka.internal:9092" and not s.kafka.local
    assert s.ingest.default_interval_s == 120


def test_shipped_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.ingest.feeds import load_feeds

    for k in [k for k in os.environ if k.startswith("NEWSMON_")]:
        monkeypatch.delenv(k)
    s = load_settings(REPO / "config" / "settings.yaml")
    feeds = load_feeds(REPO / s.ingest.feeds_file)
    assert len(feeds) >= 20
    assert {f.lang for f in feeds} >= {"en", "ru"}


def test_config_error_type() -> None:
    with pytest.raises(ConfigError):
        load_settings(Path("/nonexistent/settings.yaml"))
