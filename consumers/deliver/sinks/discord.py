"""Discord webhooks: one embed per alert (up to ten in a digest), within Discord's embed limits."""

from __future__ import annotations

from typing import Any

from consumers.deliver.sinks.text import cut, flags_text, label_text, places_text, top_terms
from monitor.messages import Alert

# Discord's documented limits: title 256, description 4096, field name 256 / value 1024, footer 2048,
# 10 embeds per message and 6000 characters across all of them, content 2000.
TITLE = 256
DESCRIPTION = 4096
FIELD_VALUE = 1024
FOOTER = 2048
MAX_EMBEDS = 10
EMBEDS_TOTAL = 6000
CONTENT = 2000
_COLOR = {"cross_border_incident": 0xC0392B, "election": 0x2E86C1}


def _embed_chars(e: dict[str, Any]) -> int:
    n = len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))
    return n + sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))


def _embed(a: Alert, full: bool) -> dict[str, Any]:
    it = a.item.item
    e: dict[str, Any] = {
        "title": cut(it.title or it.id, TITLE),
        "footer": {
            "text": cut(
                " · ".join(x for x in (it.source or it.feed_id, a.rule_name or a.rule_id, flags_text(a)) if x), 300
            )
        },
        "timestamp": a.item.model_dump(mode="json")["item"]["published"],
        "color": _COLOR.get(a.item.labels[0] if a.item.labels else "", 0x7F8C8D),
    }
    if it.url.startswith(("http://", "https://")) and len(it.url) <= 2000:
        e["url"] = it.url
    fields = [
        {"name": "Labels", "value": cut(label_text(a), 200), "inline": True},
        {"name": "Places", "value": cut(places_text(a), 300), "inline": True},
    ]
    if full:
        fields.append({"name": "Why", "value": cut("; ".join(a.reasons), 500), "inline": False})
        if terms := top_terms(a):
            fields.append({"name": "Top terms", "value": cut(terms, 300), "inline": False})
        if it.summary:
            e["description"] = cut(it.summary, 700)
    e["fields"] = fields
    return e


def render_discord(alerts: list[Alert]) -> dict[str, Any]:
    """The JSON body for a Discord webhook; mentions are disabled so a story can never ping anyone."""
    body: dict[str, Any] = {"username": "newsmon", "allowed_mentions": {"parse": []}}
    if len(alerts) == 1:
        body["embeds"] = [_embed(alerts[0], full=True)]
        return body
    embeds: list[dict[str, Any]] = []
    total = 0
    for a in alerts:
        e = _embed(a, full=False)
        if len(embeds) == MAX_EMBEDS or total + _embed_chars(e) > EMBEDS_TOTAL:
            break
        embeds.append(e)
        total += _embed_chars(e)
    rules = ", ".join(sorted({a.rule_name or a.rule_id for a in alerts}))
    rest = len(alerts) - len(embeds)
    more = f" (showing {len(embeds)}; {rest} more)" if rest else ""
    body["content"] = cut(f"**{len(alerts)} alerts** · {rules}{more}", CONTENT)
    body["embeds"] = embeds
    return body
