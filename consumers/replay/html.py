"""The replay report as one self-contained HTML page: tables and inline SVG charts, nothing fetched from anywhere."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
th{background:#f3f3f3}.partial{background:#fee;border:1px solid #c00;padding:.5em}svg{margin:.3em 1em 1em 0}
figure{display:inline-block;margin:0}figcaption{font-size:12px;color:#555}"""
_W, _H, _PAD = 360, 160, 24


def _cell(v: Any) -> str:
    if isinstance(v, dict) and "url" in v:
        return f'<a href="{escape(v["url"])}">{escape(str(v["text"]))}</a>'
    return escape("" if v is None else ", ".join(map(str, v)) if isinstance(v, list) else str(v))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """An HTML table; a cell given as {"text", "url"} becomes a link."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def bars(values: list[int], caption: str, ticks: list[str]) -> str:
    """A bar chart as inline SVG, with the first and last tick labelled."""
    top = max(values, default=0) or 1
    width, tall = (_W - 2 * _PAD) / max(len(values), 1), _H - 2 * _PAD
    rects = "".join(
        f'<rect x="{_PAD + i * width:.1f}" y="{_H - _PAD - tall * v / top:.1f}" width="{max(width - 1, 1):.1f}"'
        f' height="{tall * v / top:.1f}" fill="#4a7ab7"><title>{escape(ticks[i])}: {v}</title></rect>'
        for i, v in enumerate(values)
    )
    labels = (
        ""
        if not ticks
        else (
            f'<text x="{_PAD}" y="{_H - 6}" font-size="10">{escape(ticks[0])}</text>'
            f'<text x="{_W - _PAD}" y="{_H - 6}" font-size="10" text-anchor="end">{escape(ticks[-1])}</text>'
        )
    )
    axis = f'<text x="2" y="{_PAD - 6}" font-size="10">max {top}</text>'
    return _figure(f"{rects}{labels}{axis}", caption)


def curve(points: list[tuple[float, float]], caption: str) -> str:
    """A precision-recall curve (recall across, precision up) as inline SVG."""
    span = _W - 2 * _PAD, _H - 2 * _PAD
    xy = " ".join(f"{_PAD + r * span[0]:.1f},{_H - _PAD - p * span[1]:.1f}" for r, p in points)
    frame = f'<rect x="{_PAD}" y="{_PAD}" width="{span[0]}" height="{span[1]}" fill="none" stroke="#999"/>'
    names = (f'<text x="{_W / 2}" y="{_H - 6}" font-size="10" text-anchor="middle">recall</text>'
             f'<text x="4" y="{_H / 2}" font-size="10">precision</text>')  # fmt: skip
    return _figure(f'{frame}<polyline points="{xy}" fill="none" stroke="#c0392b" stroke-width="2"/>{names}', caption)


def _figure(body: str, caption: str) -> str:
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">{body}</svg>'
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _overview(r: dict[str, Any]) -> str:
    q = r["request"]
    rows = [["topic", q["topic"]], ["mode", q["mode"]], ["model", q["model"] or "as recorded"],
            ["rules", q["rules"] or "alerts.rules_file"], ["thresholds", q["thresholds"] or "the model's"],
            ["since", r["run"].get("since")], ["until", r["run"].get("until") or "now"],
            ["records read", r["records_read"]], ["items replayed", r["items"]], ["bad input", r["bad_input"]],
            ["filtered out", r["filtered_out"]], ["alerts", r["alerts"]["total"]]]  # fmt: skip
    warn = '<p class="partial">Interrupted: this report covers only part of the range.</p>' if r["partial"] else ""
    return f"<h1>newsmon replay</h1>{warn}{table(['', ''], rows)}"


def _labels(r: dict[str, Any]) -> str:
    h = r["score_histograms"]
    n = h["bins"]
    ticks = [f"{i / n:.1f}-{(i + 1) / n:.1f}" for i in range(n)]
    charts = "".join(bars(h[label], f"{label} scores", ticks) for label in r["labels"])
    return "<h2>Labels</h2>" + table(["label", "items"], [[k, v] for k, v in r["labels"].items()]) + charts


def _alerts(r: dict[str, Any]) -> str:
    a = r["alerts"]
    out = "<h2>Alerts per rule</h2>" + table(["rule", "alerts"], [[k, v] for k, v in a["by_rule"].items()])
    for rule, hours in a["per_hour"].items():
        out += bars(list(hours.values()), f"{rule}: alerts per hour (hours with alerts)", list(hours))
    return out


def _stories(r: dict[str, Any]) -> str:
    st = r.get("stories")
    if not st:
        return ""
    rows = [["stories", st["stories"]], ["first alerts", st["alerts"]], ["updates", st["updates"]],
            ["held for more outlets", st["held_for_outlets"]]]  # fmt: skip
    per = st["outlets_per_story"]
    return "<h2>Stories</h2>" + table(["", ""], rows) + bars(list(per.values()), "stories by outlets", list(per))


def _examples(title: str, rows: list[dict[str, Any]], extra: list[str]) -> str:
    headers = ["at", "rule", "story", "source", *extra]
    body = [[x["at"], x.get("rule_id", ""), {"text": x["title"], "url": x["url"]}, x["source"],
             *[x[k] for k in extra]] for x in rows]  # fmt: skip
    return f"<h3>{escape(title)}</h3>" + table(headers, body) if rows else ""


def _diff(r: dict[str, Any]) -> str:
    d = r["diff"]
    if d is None:
        return "<h2>Against live</h2><p>No alerts topic to compare with.</p>"
    counts = [[k, d[k]] for k in ("live_alerts", "unchanged", "added", "removed", "label_changes")]
    ex = d["examples"]
    return ("<h2>Against live</h2>" + table(["", ""], counts) + _examples("Added", ex["added"], ["labels"])
            + _examples("Removed", ex["removed"], ["labels"])
            + _examples("Label changes", ex["label_changes"], ["live_labels", "replay_labels"]))  # fmt: skip


def _breakdown(title: str, rows: dict[str, dict[str, int]], labels: list[str]) -> str:
    body = [[k, v.get("items", 0), v.get("alerts", 0), *[v.get(x, 0) for x in labels]] for k, v in rows.items()]
    return f"<h2>{escape(title)}</h2>" + table(["", "items", "alerts", *labels], body)


def _metrics(r: dict[str, Any]) -> str:
    m = r["metrics"]
    if m is None:
        return ""
    rows = [[k, x["precision"], x["recall"], x["f1"], x["support"], x["threshold_for_target"]]
            for k, x in m["labels"].items()]  # fmt: skip
    charts = "".join(curve([(p["recall"], p["precision"]) for p in x["sweep"]], f"{k}: precision against recall")
                     for k, x in m["labels"].items())  # fmt: skip
    head = ["label", "precision", "recall", "F1", "support", f"threshold for precision {m['target_precision']}"]
    return f"<h2>Against {m['labelled_replayed']} labelled items</h2>" + table(head, rows) + charts


def render(report: dict[str, Any]) -> str:
    """The whole page for a report."""
    labels = list(report["labels"])
    parts = [_overview(report), _labels(report), _alerts(report), _stories(report), _diff(report), _metrics(report),
             _breakdown("By source", report["by_source"], labels),
             _breakdown("By language", report["by_language"], labels)]  # fmt: skip
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"/><title>newsmon replay</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")  # fmt: skip


def write_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(render(report), encoding="utf-8")
