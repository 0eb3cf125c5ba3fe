"""The read-only status page as one server-rendered HTML document: no script, every value escaped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from monitor.ingest.policy import FeedHealth
from monitor.ops.status import AlertRow, FeedRow, Status

# Beyond this the healthy feeds are counted, not listed: a page of a thousand green rows hides the red ones.
MAX_FEED_ROWS = 200
_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}
table{border-collapse:collapse;margin:.4em 0 1.4em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}.failing,.disabled,.down{color:#b00}.silent{color:#a60}.ok{color:#070}
.empty{color:#666;font-style:italic}small{color:#555}"""


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _cell(v: Any) -> str:
    """A cell's content: escaped text, or markup this module built (a `_Markup`)."""
    return v.html if isinstance(v, _Markup) else escape(_text(v))


class _Markup:
    """HTML built here from escaped parts, placed into a cell as it is."""

    def __init__(self, html: str) -> None:
        self.html = html


def table(headers: list[str], rows: Iterable[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{escape(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{escape(title)}</h2>{body}</section>'


def _empty(note: str) -> str:
    return f'<p class="empty">{escape(note)}</p>'


def _classed(cls: str, text: str) -> _Markup:
    return _Markup(f'<span class="{escape(cls)}">{escape(text)}</span>')


def readiness_section(ready: dict[str, Any]) -> str:
    rows = [[name, _classed("ok" if c["ok"] else "down", "ready" if c["ok"] else "not ready"), c["detail"]]
            for name, c in sorted(ready["checks"].items())]  # fmt: skip
    verdict = _classed("ok" if ready["ready"] else "down", "ready" if ready["ready"] else "not ready").html
    return _section(
        "readiness", "Readiness", f"<p>This process is {verdict}.</p>" + table(["check", "state", "detail"], rows)
    )


def feeds_section(feeds: list[FeedRow]) -> str:
    if not feeds:
        return _section("feeds", "Feeds", _empty("No feeds are polled by this process."))
    counts = Counter(f.health for f in feeds)
    summary = ", ".join(f"{counts[h]} {h.value}" for h in FeedHealth if counts[h])
    shown = feeds[:MAX_FEED_ROWS]
    rows = [[f.feed_id, _classed(f.health.value, f.health.value), f.consecutive_errors or "", f.last_error,
             f.last_attempt, f.last_success, f.url] for f in shown]  # fmt: skip
    more = f"<p><small>{len(feeds) - len(shown)} more feeds not listed.</small></p>" if len(feeds) > len(shown) else ""
    headers = ["feed", "health", "errors in a row", "last error", "last attempt", "last success", "url"]
    return _section("feeds", "Feeds", f"<p>{escape(summary)}</p>" + table(headers, rows, "feeds") + more)


def lag_section(status: Status) -> str:
    if not status.lag:
        return _section("lag", "Stage lag", _empty("No partitions measured by this process yet."))
    rows = [[r.stage, r.topic, r.partition, r.lag] for r in status.lag]
    return _section("lag", "Stage lag", table(["stage", "topic", "partition", "records behind"], rows, "lag"))


def _scores(a: AlertRow) -> _Markup:
    parts = [f"{'<b>' if k in a.labels else ''}{escape(k)} {v:.2f}{'</b>' if k in a.labels else ''}"
             for k, v in sorted(a.scores.items(), key=lambda kv: -kv[1])]  # fmt: skip
    return _Markup("<br>".join(parts))


def _explanation(a: AlertRow) -> _Markup:
    lines = [f"{escape(label)}: " + ", ".join(f"{escape(f)} {w:+.2f}" for f, w in xs)
             for label, xs in a.explanation.items() if xs]  # fmt: skip
    return _Markup("<br>".join(lines + [escape(r) for r in a.reasons]))


def _story(a: AlertRow) -> _Markup:
    title = escape(a.title)
    if a.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(a.url)}" rel="noopener noreferrer">{title}</a>'
    return _Markup(f"{title}<br><small>{escape(a.feed_id)} · {escape(a.item_id)}</small>")


def alerts_section(alerts: list[AlertRow]) -> str:
    if not alerts:
        return _section("alerts", "Last alerts", _empty("No alerts raised or delivered by this process yet."))
    rows = [[a.matched_at, a.rule_id, a.mode, _story(a), ", ".join(a.labels), _scores(a), _explanation(a)]
            for a in alerts]  # fmt: skip
    headers = ["matched", "rule", "mode", "story", "labels", "scores", "explanation"]
    return _section("alerts", "Last alerts", table(headers, rows, "alerts"))


def dead_letters_section(counts: list[tuple[str, str, int]]) -> str:
    if not counts:
        return _section("dead-letters", "Dead letters", _empty("Nothing dead-lettered by this process."))
    rows = [list(c) for c in counts]
    return _section("dead-letters", "Dead letters", table(["stage", "reason", "records"], rows, "dead-letters"))


def render(status: Status, title: str = "newsmon") -> str:
    """The page for one snapshot; it refreshes itself every 15 s without a script."""
    body = "".join([readiness_section(status.ready), feeds_section(status.feeds), lag_section(status),
                    alerts_section(status.alerts), dead_letters_section(status.dead_letters)])  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">'
        f'<link rel="icon" href="data:,"><title>{escape(title)} status</title><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)} status</h1><p><small>as of {escape(_text(status.taken_at))} · "
        '<a href="/metrics">metrics</a> · <a href="/readyz">readiness</a></small></p>'
        f"{body}</body></html>"
    )
