"""The classifier's behaviour on stories it never saw, its command line and its artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from classifiers.model import NewsClassifier
from classifiers.train import choose_threshold
from monitor.messages import LABELS

REPO = Path(__file__).resolve().parents[2]

CANONICAL = (
    "Anti-Putin rebels claim control of Russian border village amid elections",
    "Fighters who crossed from Ukraine say they have seized Gorkovsky in Russia's Belgorod region as Russians "
    "vote in the presidential election.",
)

# Written for this test, not part of the training data: the model must generalize to them.
UNSEEN = [
    (("Artillery from across the frontier hits farms near Kupiansk-Vuzlovyi", "Two tractors burned; the regional "
      "administration blamed Russian guns firing from Belgorod region."), {"cross_border_incident"}),
    (("Jets scrambled after drone strays into Lithuanian airspace from Belarus", "The army said the aircraft "
      "tracked the object for twelve minutes before it crossed back."), {"cross_border_incident"}),
    (("Counting under way after tight mayoral race in Bogotá", "Early returns show the two front-runners "
      "separated by fewer than 20,000 ballots."), {"election"}),
    (("Malawi electoral commission extends voter registration by a week", "Queues at rural centres prompted "
      "the move, the commission chair said."), {"election"}),
    (("Cross-border e-commerce platform raises $40m", "The startup lets shoppers in Kenya buy from retailers "
      "in South Africa."), set()),
    (("Shareholders re-elect board at annual meeting", "Investors backed all nine directors at the mining "
      "company's AGM in Perth."), set()),
    (("Police raid warehouse in Lyon, seize counterfeit perfume", "Officers found 12,000 bottles."), set()),
]  # fmt: skip


# Hard negatives of the round-2 categories and stories in the languages added then; also not in the training data.
UNSEEN_WORLD = [
    (("Kazakhstan and Uzbekistan open rebuilt road crossing at Zhibek Zholy", "The upgraded checkpoint can "
      "process 2,000 lorries a day, the customs committee said at the opening ceremony."), set()),
    (("Ethiopian forces recapture towns in Amhara after weeks of fighting with Fano militia", "Residents said "
      "drone strikes hit a market; the conflict is one of several inside the country."), set()),
    (("French customs officers on strike at Channel ports; queues expected", "Unions want more staff; the "
      "walkout lasts 48 hours."), set()),
    (("Cardinals enter conclave to elect a successor to the pope", "Voting begins on Wednesday afternoon in "
      "the Sistine Chapel."), set()),
    (("Senate votes 53-47 to confirm treasury nominee", "The chamber earlier passed a procedural motion to "
      "limit debate."), set()),
    (("Bundeswehr übt mit polnischen Soldaten an der Oder", "Die Übung dauert zehn Tage; Anwohner müssen mit "
      "Lärm rechnen."), set()),
    (("中越边境口岸进出口货车数量同比增长20%", "统计显示，排队等候时间有所缩短。"), set()),
    (("Spari contro una pattuglia slovena al confine con la Croazia", "Nessun ferito; Lubiana ha convocato "
      "l'ambasciatore croato."), {"cross_border_incident"}),
    (("Białoruski dron naruszył przestrzeń powietrzną nad Podlasiem", "Wojsko poderwało myśliwce; obiekt "
      "spadł w lesie."), {"cross_border_incident"}),
    (("中国海警局の船が与那国島沖の接続水域に入り、一時領海に侵入", "海上保安庁が退去を求めた。"),
     {"cross_border_incident"}),
    (("북한 무인기 군사분계선 넘어 강화도 상공 침범", "군은 경고 사격을 했다고 밝혔다."), {"cross_border_incident"}),
    (("सीमा पार से घुसपैठ की कोशिश नाकाम, दो आतंकी मारे गए", "सेना ने कहा कि कुपवाड़ा में नियंत्रण रेखा पर मुठभेड़ हुई।"),
     {"cross_border_incident"}),
    (("Suriye'den atılan roket Kilis'te bir okulun bahçesine düştü", "Sınır ötesinden gelen saldırıda iki kişi "
      "yaralandı."), {"cross_border_incident"}),
    (("知事選の投票始まる　有権者の関心は物価対策", "即日開票され、深夜に当選者が決まる見通し。"), {"election"}),
    (("지방선거 투표율 오후 3시 기준 45%", "선관위는 개표 결과를 자정께 발표한다."), {"election"}),
    (("Krajské volby: vítězné hnutí ovládlo deset krajů", "Účast byla 33 procent."), {"election"}),
    (("انتخابات شوراهای شهر با مشارکت ۴۰ درصدی برگزار شد", "شمارش آرا تا صبح ادامه داشت."), {"election"}),
]  # fmt: skip


def test_canonical_story_carries_both_labels(model: NewsClassifier) -> None:
    pred = model.predict([CANONICAL], explain=5)[0]
    assert set(pred.labels) == {"cross_border_incident", "election"}, pred.scores
    codes = {p.code for p in pred.places}
    assert {"RU", "UA"} <= codes
    assert pred.explanation["cross_border_incident"], "an incident label must come with its reasons"
    assert any("neighbours" in c.feature or "hostile" in c.feature for c in pred.explanation["cross_border_incident"])


@pytest.mark.parametrize(("item", "expected"), UNSEEN)
def test_unseen_stories(model: NewsClassifier, item: tuple[str, str], expected: set[str]) -> None:
    pred = model.predict([item])[0]
    assert set(pred.labels) == expected, pred.scores


@pytest.mark.parametrize(("item", "expected"), UNSEEN_WORLD)
def test_unseen_hard_negatives_and_stories_in_added_languages(
    model: NewsClassifier, item: tuple[str, str], expected: set[str]
) -> None:
    pred = model.predict([item])[0]
    assert set(pred.labels) == expected, pred.scores


def test_scores_are_probabilities_and_thresholds_are_per_label(model: NewsClassifier) -> None:
    preds = model.predict([CANONICAL, UNSEEN[4][0]])
    for p in preds:
        assert set(p.scores) == set(LABELS)
        assert all(0.0 <= v <= 1.0 for v in p.scores.values())
    assert set(model.thresholds) == set(LABELS)
    assert all(0.05 <= t <= 0.95 for t in model.thresholds.values())


def test_threshold_prefers_recall_on_ties() -> None:
    import numpy as np

    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.3, 0.1])
    # Every threshold in (0.3, 0.6] separates perfectly; the lowest keeps recall safest on new data.
    assert choose_threshold(y, p) == pytest.approx(0.31)


def test_ngram_counts_are_per_row_in_order_of_first_occurrence(monkeypatch: pytest.MonkeyPatch) -> None:
    import random
    from collections import Counter
    from itertools import pairwise

    import numpy as np

    from classifiers import vectorize

    rng = random.Random(5)
    lengths = [rng.randrange(0, 40) for _ in range(60)]
    pool = [0, 1, 7, vectorize.WORD_FEATURES, vectorize.N_FEATURES - 1]
    cols = [rng.choice([*pool, rng.randrange(vectorize.N_FEATURES)]) for _ in range(sum(lengths))]
    starts = np.cumsum([0, *lengths])
    # Counter keeps keys in order of first insertion: the order training saw, which fixes the float sums.
    expected = [list(Counter(cols[a:b]).items()) for a, b in pairwise(starts)]
    # 30 bits cannot hold a (row, column) key and a position for this batch: it is counted in halves, alike.
    for bits in (63, 30):
        monkeypatch.setattr(vectorize, "_PACKED_BITS", bits)
        c = vectorize._counted(np.array(cols, dtype=np.int32), np.array(lengths, dtype=np.int64))
        got = [list(zip(c.indices[a:b].tolist(), c.data[a:b].astype(int).tolist(), strict=True))
               for a, b in pairwise(c.indptr)]  # fmt: skip
        assert got == expected


def newsmon(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120, check=False)  # fmt: skip


def _model_args(model: NewsClassifier) -> list[str]:
    return ["--model", model.version]


@pytest.fixture
def settings_file(models_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"classifier:\n  model_dir: {models_dir}\n")
    return path


def test_classify_file_mode_reports_bad_lines_and_keeps_good_ones(
    model: NewsClassifier, tmp_path: Path, settings_file: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "title": CANONICAL[0], "summary": CANONICAL[1], "lang": "en"}) + "\n"
        + "{not json\n"
        + json.dumps({"title": "no id"}) + "\n"
        + json.dumps({"id": 7, "title": "Voters head to the polls in Ghana", "summary": ""}) + "\n"
    )  # fmt: skip
    out = tmp_path / "out.jsonl"
    proc = newsmon("--settings", str(settings_file), "classify", "--input", str(src), "--output", str(out),
                   *_model_args(model))  # fmt: skip
    assert proc.returncode != 0
    assert "line 2" in proc.stderr and "line 3" in proc.stderr and "missing 'id'" in proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", 7]
    assert set(rows[0]) == {"id", "scores", "labels", "model"}
    assert set(rows[0]["labels"]) == {"cross_border_incident", "election"}
    assert rows[1]["labels"] == ["election"]
    assert rows[0]["model"] == model.version


def test_classify_text_mode_prints_places_and_explanation(model: NewsClassifier, settings_file: Path) -> None:
    proc = newsmon("--settings", str(settings_file), "classify", "--text", "\n".join(CANONICAL), *_model_args(model))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["labels"]) == {"cross_border_incident", "election"}
    assert {"RU", "UA"} <= {p["code"] for p in out["places"]}
    assert out["explanation"]["election"]


def test_eval_reports_per_label_and_language(model: NewsClassifier, tmp_path: Path, settings_file: Path) -> None:
    data = tmp_path / "labeled.jsonl"
    rows = [{"title": t, "summary": s, "labels": sorted(lbl), "lang": "en"} for (t, s), lbl in UNSEEN]
    rows.append({"title": CANONICAL[0], "summary": CANONICAL[1], "labels": list(LABELS), "lang": "xx"})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = newsmon("--settings", str(settings_file), "eval", "--input", str(data), "--json", *_model_args(model))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == len(rows)
    assert set(report["by_lang"]) == {"en", "xx"}
    cbi = report["labels"]["cross_border_incident"]
    assert cbi["support"] == 3 and cbi["tp"] + cbi["fn"] == 3


def test_a_saved_lexicon_keeps_its_own_terms() -> None:
    """A model trained with one lexicon keeps it when the code's lexicon later changes."""
    import pickle

    from classifiers.lexicon import Lexicon

    custom = Lexicon({"hostile": {"en": ("zorblax",)}})
    restored = pickle.loads(pickle.dumps(custom))
    assert [(h.category, h.term) for h in restored.hits("A zorblax attack")] == [("hostile", "zorblax")]
    assert Lexicon().hits("A zorblax attack") != restored.hits("A zorblax attack")
