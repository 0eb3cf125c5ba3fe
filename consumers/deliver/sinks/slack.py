"""Slack incoming webhooks: one Block Kit message per alert or digest, built with slack_sdk's block models.

slack_sdk checks each block's own limits when it is serialized; the message-wide ones (50 blocks, a text fallback
for notifications, a total size under the point where Slack answers `msg_blocks_too_long`) are kept here.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from consumers.deliver.sinks.text import cut, flags_text, label_text, places_text, top_terms, when_text
from monitor.messages import Alert

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
CONTEXT_ELEMENTS = 10
# The notification text; Slack advises under 4,000 characters, and escaping may grow it up to fivefold.
FALLBACK_CHARS = 500
# Slack rejects messages whose blocks together run past roughly 13,000 characters; stay well below.
MAX_PAYLOAD_CHARS = 12000
TITLE_CHARS = 300
SUMMARY_CHARS = 600


def _esc(text: str) -> str:
    """Escape the three characters mrkdwn gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    """`<url|label>` for a usable http(s) link, else the label alone (label already escaped)."""
    if not url.startswith(("http://", "https://")) or len(url) > 1000:
        return label
    safe = url.replace(" ", "%20").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|{label}>"


def _headline(a: Alert, limit: int = TITLE_CHARS) -> str:
    it = a.item.item
    return _link(it.url, _esc(cut(it.title or it.url or it.id, limit)))


def _md(text: str, limit: int) -> MarkdownTextObject:
    # Pieces are cut before escaping; entities can still expand them, so the whole text is bounded again.
    return MarkdownTextObject(text=text if len(text) <= limit else text[: limit - 1] + "…")


def _single(a: Alert) -> list[Block]:
    it = a.item.item
    meta = " · ".join(
        x
        for x in (
            _esc(cut(it.source or it.feed_id, 200)),
            when_text(a),
            f"rule *{_esc(cut(a.rule_name or a.rule_id, 200))}*",
            _esc(flags_text(a)),
        )
        if x
    )
    blocks: list[Block] = [
        SectionBlock(text=_md(f"*{_headline(a)}*", SECTION_TEXT)),
        ContextBlock(elements=[_md(meta, SECTION_TEXT)]),
        SectionBlock(
            fields=[
                _md(f"*Labels*\n{_esc(label_text(a))}", FIELD_TEXT),
                _md(f"*Places*\n{_esc(places_text(a))}", FIELD_TEXT),
            ]
        ),
    ]
    why = "*Why* " + _esc(cut("; ".join(a.reasons), 1200))
    if terms := top_terms(a):
        why += "\n*Top terms* " + _esc(cut(terms, 600))
    blocks.append(SectionBlock(text=_md(why, SECTION_TEXT)))
    if it.summary:
        blocks.append(SectionBlock(text=_md(_esc(cut(it.summary, SUMMARY_CHARS)), SECTION_TEXT)))
    return blocks


def _digest_line(a: Alert) -> SectionBlock:
    it = a.item.item
    meta = " · ".join(
        x
        for x in (
            _esc(cut(it.source or it.feed_id, 80)),
            when_text(a),
            _esc(label_text(a)),
            _esc(cut(places_text(a, 4), 200)),
        )
        if x
    )
    return SectionBlock(text=_md(f"*{_headline(a, 200)}*\n{meta}", SECTION_TEXT))


def _size(blocks: list[dict[str, Any]]) -> int:
    return len(json.dumps(blocks, ensure_ascii=False))


def _update(a: Alert) -> list[Block]:
    """A story's update, short: an incoming webhook can neither thread nor edit, so it is a message of its own."""
    meta = " · ".join(x for x in (f"update of rule *{_esc(cut(a.rule_name or a.rule_id, 200))}*",
                                  _esc(flags_text(a)), when_text(a)) if x)  # fmt: skip
    return [SectionBlock(text=_md(f"*{_headline(a)}*", SECTION_TEXT)), ContextBlock(elements=[_md(meta, SECTION_TEXT)])]


def render_slack(alerts: list[Alert]) -> dict[str, Any]:
    """The JSON body for a Slack incoming webhook: one alert in full, a story's update in short, or a digest
    listing as many as fit."""
    if len(alerts) == 1 and alerts[0].kind == "update":
        a = alerts[0]
        text = _esc(cut(f"Update: {a.item.item.title} ({flags_text(a)})", FALLBACK_CHARS))
        blocks = [b.to_dict() for b in _update(a)]
        return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
    if len(alerts) == 1:
        a = alerts[0]
        blocks = [b.to_dict() for b in _single(a)]
        text = _esc(cut(f"{a.rule_name or a.rule_id}: {a.item.item.title}", FALLBACK_CHARS))
        return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
    rules = sorted({a.rule_name or a.rule_id for a in alerts})
    head = f"*{len(alerts)} alerts* · " + _esc(cut(", ".join(rules), 500))
    out = [SectionBlock(text=_md(head, SECTION_TEXT)).to_dict()]
    reserve = 400  # room for the closing "and N more" line
    shown = 0
    for a in alerts:
        block = _digest_line(a).to_dict()
        if len(out) + 2 > MAX_BLOCKS or _size([*out, block]) + reserve > MAX_PAYLOAD_CHARS:
            break
        out.append(block)
        shown += 1
    if shown < len(alerts):
        rest = len(alerts) - shown
        out.append(
            ContextBlock(
                elements=[_md(f"…and {rest} more {'alert' if rest == 1 else 'alerts'}", SECTION_TEXT)]
            ).to_dict()
        )
    text = _esc(cut(f"{len(alerts)} alerts: " + ", ".join(rules), FALLBACK_CHARS))
    return {"text": text, "blocks": out, "unfurl_links": False, "unfurl_media": False}
