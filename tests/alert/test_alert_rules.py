"""The rules file: validated at start-up with file, line and reason (exit 2); rules match what they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumers.alert.fixture_run import run_fixtures
from consumers.alert.rules import load_rules, parse_rules
from consumers.deliver.stage import resolve_sinks
from monitor.settings import ConfigError
from tests.support.alerts import FILE_SINK_RULES, classified

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
sinks:
  out: {type: file}
rules:
  - id: both
    labels: {cross_border_incident: 0.5, election: 0.5}
    match: all
  - id: incidents
    labels: {cross_border_incident: 0.6}
  - id: drones-east
    labels: {cross_border_incident: 0.4}
    include: [drone, "re:\\\\bmissiles?\\\\b"]
    exclude: [exercise]
    countries: [pl, LT]
    languages: [en]
    sources: [Wire]
  - id: switched-off
    enabled: false
    labels: {election: 0.0}
defaults: {sinks: [out]}
"""


def newsmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def settings_file(tmp_path: Path, rules: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(f"alerts:\n  rules_file: {rules}\nkafka:\n  bootstrap: 127.0.0.1:1\n")
    return path


def fired(text: str, **item: object) -> list[str]:
    rules = parse_rules(text, Path("rules.yaml"))
    return [r.id for r, _ in rules.matches(classified(1, **item))]  # type: ignore[arg-type]


def test_rules_match_labels_keywords_countries_languages_and_sources() -> None:
    assert fired(GOOD, incident=0.9, election=0.1) == ["incidents"]
    assert fired(GOOD, incident=0.9, election=0.8) == ["both", "incidents"]
    assert fired(GOOD, incident=0.45, title="Drone crashes in a field", places=("PL",)) == ["drones-east"]
    assert fired(GOOD, incident=0.45, title="Two missiles fall near Vilnius", places=("LT",)) == ["drones-east"]
    assert fired(GOOD, incident=0.45, title="Missileship launched", places=("LT",)) == []  # whole words only
    assert fired(GOOD, incident=0.45, title="Drone exercise near the border", places=("PL",)) == []
    assert fired(GOOD, incident=0.45, title="Drone crashes", places=("DE",)) == []
    assert fired(GOOD, incident=0.45, title="Drone crashes", places=("PL",), lang="pl") == []
    assert fired(GOOD, incident=0.45, title="Drone crashes", places=("PL",), source="Other") == []
    # A new feed's backlog alerts only for rules that ask for it.
    assert fired(GOOD, incident=0.9, backfill=True) == []
    assert fired(
        GOOD.replace("  - id: incidents\n", "  - id: incidents\n    include_backfill: true\n"),
        incident=0.9,
        backfill=True,
    ) == ["incidents"]


LABELLED = (
    FILE_SINK_RULES
    + """\
  - id: incident
    labels: [cross_border_incident]
  - id: both
    labels: [cross_border_incident, election]
    match: all
  - id: floor
    labels: {cross_border_incident: 0.6}
"""
)


def test_a_rule_can_follow_the_models_own_labels() -> None:
    # Labelled by the model at a score far below any hand-set floor: the label is what counts.
    assert fired(LABELLED, incident=0.2, election=0.1, labels=("cross_border_incident",)) == ["incident"]
    assert fired(LABELLED, incident=0.9, election=0.1, labels=()) == ["floor"]
    both = ("cross_border_incident", "election")
    assert fired(LABELLED, incident=0.3, election=0.3, labels=both) == ["incident", "both"]
    rules = parse_rules(LABELLED, Path("rules.yaml"))
    [(_, reasons)] = rules.matches(classified(1, incident=0.2, labels=("cross_border_incident",)))
    assert reasons == ["label cross_border_incident (0.20)"]


def test_keywords_match_whole_words_in_any_script() -> None:
    text = GOOD.replace("include: [drone,", "include: [mayor, drone,")
    assert fired(text, incident=0.45, title="La mayoría vota", places=("PL",)) == []
    assert fired(text, incident=0.45, title="El MAYOR dimite.", places=("PL",)) == ["drones-east"]
    assert fired(text, incident=0.45, title="(Drone) over Łódź", places=("PL",)) == ["drones-east"]


@pytest.mark.timeout(20)
def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    text = GOOD.replace('include: [drone, "re:\\\\bmissiles?\\\\b"]', 'include: ["re:(a+)+$"]')
    assert "(a+)+$" in text
    rules = parse_rules(text, Path("rules.yaml"))
    hostile = classified(1, incident=0.45, title="a" * 100_000 + "b", summary="b", places=("PL",))
    started = time.monotonic()
    assert rules.matches(hostile) == []
    assert time.monotonic() - started < 1.0


def test_reasons_say_why_a_rule_matched() -> None:
    rules = parse_rules(GOOD, Path("rules.yaml"))
    c = classified(1, incident=0.45, title="Drone crashes", places=("PL", "UA"))
    [(rule, reasons)] = rules.matches(c)
    assert reasons == [
        "cross_border_incident 0.45 >= 0.40",
        "keyword drone",
        "country PL",
        "source Wire",
        "language en",
    ]
    assert rule.sinks == ("out",)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rules:\n  - id: a\n    labels: {electon: 0.5}\n", 3, "unknown label 'electon'"),
        ("rules:\n  - id: a\n    labels:\n      election: 1.5\n", 4, "less than or equal to 1"),
        (
            "rules:\n  - id: a\n    labels: {election: 0.5}\n    include:\n      - ok\n      - 're:(open'\n",
            6,
            "bad regular expression",
        ),
        (
            "sinks:\n  out: {type: file}\nrules:\n  - id: a\n    labels: {election: 0.5}\n    sinks: [out, slak]\n",
            6,
            "unknown sink 'slak'",
        ),
        ("rules:\n  - id: a\n    labels: {election: 0.5}\n    colour: red\n", 4, "unknown field 'colour'"),
        ("rules:\n  - id: a\n    labels: {election: 0.5}\n    countries: [UA, XY]\n", 4, "unknown country 'XY'"),
        (
            "sinks:\n  hook:\n    type: webhook\n    url: ftp://example.org/x\n    secret_env: S\n",
            2,
            "unsupported scheme 'ftp'",
        ),
        ("sinks:\n  pager: {type: pager}\n", 2, "does not match any of the expected tags"),
        (
            "rules:\n  - id: a\n    labels: {election: 0.5}\n  - id: a\n    labels: {election: 0.6}\n",
            4,
            "appears twice",
        ),
        ("rules:\n  - id: a\n    labels: {election: 0.5\n", 4, "expected ',' or '}'"),
        ("rules:\n  - id: a\n    labels: [election, electon]\n", 3, "unknown label 'electon'"),
        ("rules:\n  - id: a\n    labels: []\n", 3, "at least 1"),
        (
            "rules:\n  - id: a\n    labels: [election]\n    include:\n      - 're:(\\w+) \\1'\n",
            5,
            "rules use RE2, which runs in linear time",
        ),
        (
            "rules:\n  - id: a\n    labels: [election]\n    exclude: ['re:vote(?!r)']\n",
            4,
            "no backreferences or lookaround",
        ),
        (
            "rules:\n  - id: a\n    labels: [election]\nfixtures:\n  - item: {title: Vote}\n"
            "    item_id: item-1\n    must_fire: [a]\n",
            5,
            "give either item (inline) or item_id",
        ),
        ("rules:\n  - id: a\n    labels: [election]\nfixtures:\n  - item: {title: Vote}\n", 5, "give must_fire"),
        (
            "rules:\n  - id: a\n    labels: [election]\nfixtures:\n  - item: {title: Vote}\n    must_fire: [a, b]\n",
            6,
            "fixtures[0].must_fire[1]: unknown rule 'b'",
        ),
        (
            "rules:\n  - id: a\n    labels: [election]\nfixtures:\n  - must_fire: [a]\n"
            "    item:\n      title: Vote\n      scores: {election: 2}\n",
            8,
            "fixtures[0].item.scores.election: Input should be less than or equal to 1",
        ),
    ],
)
def test_bad_rules_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules(text, Path("conf/rules.yaml"))
    msg = str(err.value)
    assert f"conf/rules.yaml:{line}:" in msg and reason in msg, msg


def test_bad_rules_file_stops_the_service_with_exit_2_and_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("sinks:\n  out: {type: file}\nrules:\n  - id: a\n    labels: {election: 2}\n")
    cfg = settings_file(tmp_path, rules)
    for args in (("rules", "check"), ("run", "--stage", "alert"), ("run", "--stage", "deliver")):
        proc = newsmon("--settings", str(cfg), *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert f"{rules}:5: rules[0].labels.election" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_pattern_re2_cannot_run_fails_rules_check_with_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "sinks:\n  out: {type: file}\nrules:\n  - id: a\n    labels: [election]\n    include: ['re:(?<!no )vote']\n"
    )
    proc = newsmon("--settings", str(settings_file(tmp_path, rules)), "rules", "check")
    assert proc.returncode == 2, proc.stderr
    assert f"{rules}:6: rules[0].include[0]: bad regular expression" in proc.stderr, proc.stderr
    assert "lookaround" in proc.stderr and "re2.cc" not in proc.stderr


def test_unsupported_url_scheme_from_the_environment_is_rejected_at_start_up(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("sinks:\n  hook: {type: slack, url_env: HOOK_URL}\nrules: []\n")
    cfg = settings_file(tmp_path, rules)
    proc = newsmon(
        "--settings", str(cfg), "run", "--stage", "deliver", env={"HOOK_URL": "file:///etc/passwd-token-xyz"}
    )
    assert proc.returncode == 2, proc.stderr
    assert "sink 'hook'" in proc.stderr and "unsupported scheme 'file'" in proc.stderr
    assert "token-xyz" not in proc.stderr, "the URL must not be printed"


def test_a_short_signing_secret_stops_the_deliver_stage_at_start_up(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "sinks:\n  hook: {type: webhook, url: 'https://hooks.example.org/in', secret_env: HOOK_SECRET}\nrules: []\n"
    )
    cfg = settings_file(tmp_path, rules)
    proc = newsmon("--settings", str(cfg), "run", "--stage", "deliver", env={"HOOK_SECRET": "short-xyzzy-secret"})
    assert proc.returncode == 2, proc.stderr
    assert "sink 'hook'" in proc.stderr and "at least 32" in proc.stderr and "$HOOK_SECRET" in proc.stderr
    assert "xyzzy" not in proc.stderr, "the secret must not be printed"


def test_default_rules_fall_back_to_stdout_without_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NEWSMON_SLACK_WEBHOOK_URL", "NEWSMON_WEBHOOK_URL", "NEWSMON_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    rules = load_rules(REPO / "config" / "rules.yaml")
    assert {r.id for r in rules.rules} >= {"incident-and-election", "cross-border-incident", "elections"}
    assert rules.fallback_sink == "stdout" and rules.sinks["stdout"].type == "file"
    assert list(resolve_sinks(rules)) == ["stdout"]
    monkeypatch.setenv("NEWSMON_WEBHOOK_URL", "https://hooks.example.org/in/abc")
    with pytest.raises(ConfigError, match="no signing secret"):
        resolve_sinks(rules)
    monkeypatch.setenv("NEWSMON_WEBHOOK_SECRET", "k" * 31)
    with pytest.raises(ConfigError, match="31 bytes; it must have at least 32"):
        resolve_sinks(rules)
    monkeypatch.setenv("NEWSMON_WEBHOOK_SECRET", "k" * 32)
    resolved = resolve_sinks(rules)
    assert set(resolved) == {"stdout", "webhook"}
    assert "abc" not in repr(resolved["webhook"]) and resolved["webhook"].redact("POST /in/abc failed") == (
        "POST *** failed"
    )


def test_rules_test_command_prints_the_rules_each_item_fires(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD)
    items = tmp_path / "items.jsonl"
    items.write_text(
        classified(1, incident=0.9, election=0.8).model_dump_json()
        + "\n"
        + classified(2, incident=0.1).model_dump_json()
        + "\n"
        + "{not json\n"
    )
    proc = newsmon("--settings", str(settings_file(tmp_path, rules)), "rules", "test", "--input", str(items))
    assert proc.returncode == 1, proc.stderr  # one bad line
    assert "item-1  Border incident number 1" in proc.stdout
    assert "  -> both: cross_border_incident 0.90 >= 0.50; election 0.80 >= 0.50 [sinks: out]" in proc.stdout
    assert "  -> incidents:" in proc.stdout
    assert "item-2" in proc.stdout and "  -> no rule" in proc.stdout
    assert f"{items}:3:" in proc.stderr and "2 items, 1 would alert; 1 bad lines" in proc.stderr
    proc = newsmon("--settings", str(settings_file(tmp_path, rules)), "rules", "test", "--json", "--input", str(items))
    first = json.loads(proc.stdout.splitlines()[0])
    assert [r["id"] for r in first["rules"]] == ["both", "incidents"]


FIXTURES = (
    GOOD
    + """\
fixtures:
  - name: drone over Lithuania
    item:
      title: Drone crashes near the border
      scores: {cross_border_incident: 0.7}
      countries: [LT]
      source: Wire
    must_fire: [incidents, drones-east]
    must_not_fire: [both]
  - name: quiet vote
    item:
      title: Calm election day
      scores: {cross_border_incident: 0.2, election: 0.9}
    must_fire: [incidents]
  - item_id: item-7
    must_not_fire: [incidents]
  - item_id: item-8
    must_fire: [both]
"""
)


def test_rules_test_runs_the_fixtures_and_names_each_miss_by_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(FIXTURES)
    items = tmp_path / "items.jsonl"
    items.write_text(classified(7, incident=0.9).model_dump_json() + "\n")
    cfg = str(settings_file(tmp_path, rules))
    done = newsmon("--settings", cfg, "rules", "test", "--items", str(items))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"{rules}:30: quiet vote: rule 'incidents' did not fire (fired: none)",
        f"{rules}:35: item-7: rule 'incidents' fired but must not (cross_border_incident 0.90 >= 0.60)",
        f"{rules}:37: item-8: item 'item-8' is not among the items given with --items",
    ]
    assert "4 fixtures, 1 passed, 3 failed" in done.stderr
    rules.write_text(FIXTURES.split("  - name: quiet vote")[0])
    done = newsmon("--settings", cfg, "rules", "test")
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "1 fixtures, 1 passed, 0 failed" in done.stderr


def test_the_shipped_rules_pass_their_fixtures() -> None:
    rules = load_rules(REPO / "config" / "rules.yaml")
    assert len(rules.fixtures) >= 2
    assert list(run_fixtures(rules, {})) == []
