"""Microsoft Teams incoming webhooks (and Workflows webhooks): an Adaptive Card per alert or digest, under 28 KB."""

from __future__ import annotations

import json
from typing import Any

from consumers.deliver.sinks.text import cut, flags_text, label_text, places_text, top_terms, when_text
from monitor.messages import Alert

# Teams refuses messages over 28 KB; keep a margin for the envelope and escaping.
MAX_BYTES = 24 * 1024


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _title(a: Alert, limit: int) -> dict[str, Any]:
    it = a.item.item
    title = cut(it.title or it.id, limit).replace("[", "(").replace("]", ")")
    # Adaptive Card text supports Markdown links.
    text = f"[{title}]({it.url})" if it.url.startswith(("http://", "https://")) and len(it.url) <= 2000 else title
    return _text(text, weight="Bolder", size="Medium")


def _meta(a: Alert) -> str:
    it = a.item.item
    return cut(
        " · ".join(x for x in (it.source or it.feed_id, when_text(a), a.rule_name or a.rule_id, flags_text(a)) if x),
        400,
    )


def _card(body: list[dict[str, Any]], url: str = "") -> dict[str, Any]:
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if url.startswith(("http://", "https://")) and len(url) <= 2000:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open story", "url": url}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def render_teams(alerts: list[Alert]) -> dict[str, Any]:
    """The JSON body for a Teams webhook: the alert in full, or a digest with as many stories as fit."""
    if len(alerts) == 1:
        a = alerts[0]
        facts = [
            {"title": "Labels", "value": cut(label_text(a), 300)},
            {"title": "Places", "value": cut(places_text(a), 500)},
            {"title": "Why", "value": cut("; ".join(a.reasons), 800)},
        ]
        if terms := top_terms(a):
            facts.append({"title": "Top terms", "value": cut(terms, 300)})
        body = [_title(a, 300), _text(_meta(a), isSubtle=True, spacing="None"), {"type": "FactSet", "facts": facts}]
        if a.item.item.summary:
            body.append(_text(cut(a.item.item.summary, 1500)))
        return _card(body, a.item.item.url)
    rules = ", ".join(sorted({a.rule_name or a.rule_id for a in alerts}))
    body = [_text(cut(f"{len(alerts)} alerts · {rules}", 500), weight="Bolder", size="Large")]
    shown = 0
    for a in alerts:
        item = {
            "type": "Container",
            "separator": True,
            "items": [_title(a, 200), _text(cut(f"{_meta(a)} · {label_text(a)}", 600), isSubtle=True)],
        }
        if _size(_card([*body, item])) + 200 > MAX_BYTES:
            break
        body.append(item)
        shown += 1
    if shown < len(alerts):
        body.append(_text(f"…and {len(alerts) - shown} more", isSubtle=True))
    return _card(body)
