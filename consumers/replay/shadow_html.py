"""The shadow comparison as one self-contained HTML page: counts, agreement and examples, nothing fetched."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from consumers.replay.html import bars, table

_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
th{background:#f3f3f3}svg{margin:.3em 1em 1em 0}figure{display:inline-block;margin:0}
figcaption{font-size:12px;color:#555}"""


def _examples(title: str, rows: list[dict[str, Any]]) -> str:
    body = [[x["at"], {"text": x["title"], "url": x["url"]}, x["source"], x["live_rules"], x["shadow_rules"]]
            for x in rows]  # fmt: skip
    return f"<h3>{escape(title)}</h3>" + table(["at", "story", "source", "live rules", "shadow rules"], body)


def render_shadow(r: dict[str, Any]) -> str:
    """The whole page for a comparison."""
    a, lv, sh = r["agreement"], r["live"], r["shadow"]
    overview = [["since", r["range"]["since"]], ["until", r["range"]["until"] or "now"],
                ["live alerts", lv["alerts"]], ["live stories", lv["stories"]], ["shadow alerts", sh["alerts"]],
                ["shadow stories", sh["stories"]], ["stories both sent", a["both"]], ["only live", a["live_only"]],
                ["only shadow", a["shadow_only"]], ["agreement rate", a["rate"]]]  # fmt: skip
    rules = [["live", k, v] for k, v in lv["by_rule"].items()] + [["shadow", k, v] for k, v in sh["by_rule"].items()]
    chart = bars([a["both"], a["live_only"], a["shadow_only"]], "stories by side", ["both", "only live", "only shadow"])
    ex = r["examples"]
    parts = ["<h1>newsmon: shadow beside live</h1>", table(["", ""], overview), chart, "<h2>Alerts per rule</h2>",
             table(["side", "rule", "alerts"], rules), "<h2>Examples</h2>", _examples("Only shadow", ex["shadow_only"]),
             _examples("Only live", ex["live_only"]), _examples("Both", ex["both"])]  # fmt: skip
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"/><title>newsmon shadow comparison</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")  # fmt: skip


def write_shadow_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(render_shadow(report), encoding="utf-8")
