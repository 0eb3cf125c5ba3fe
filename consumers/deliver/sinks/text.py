"""Plain-text pieces every chat sink shows: labels with scores, places, top terms, times; cut to fit limits."""

from __future__ import annotations

from datetime import UTC

from monitor.messages import Alert


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when shortened."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def label_text(a: Alert) -> str:
    c = a.item
    shown = c.labels or sorted(c.scores, key=lambda k: -c.scores[k])[:1]
    return ", ".join(f"{name.replace('_', ' ')} {c.scores.get(name, 0.0):.2f}" for name in shown) or "none"


def places_text(a: Alert, limit: int = 8) -> str:
    parts: list[str] = []
    for p in a.item.places:
        part = f"{p.name} ({p.code})" if p.name and p.name.upper() != p.code.upper() else p.code
        if part not in parts:
            parts.append(part)
    more = f" +{len(parts) - limit} more" if len(parts) > limit else ""
    return (", ".join(parts[:limit]) + more) or "none found"


def top_terms(a: Alert, limit: int = 6) -> str:
    """The features that pushed the matched labels up most, strongest first."""
    c = a.item
    weights: dict[str, float] = {}
    labels: list[str] = list(c.labels) or list(c.explanation)
    for label in labels:
        for x in c.explanation.get(label, []):
            if x.weight > 0:
                weights[x.feature] = max(weights.get(x.feature, 0.0), x.weight)
    return ", ".join(sorted(weights, key=lambda f: -weights[f])[:limit])


def when_text(a: Alert) -> str:
    it = a.item.item
    stamp = it.published.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp} (est.)" if it.published_estimated else stamp


def flags_text(a: Alert) -> str:
    it = a.item.item
    return " · ".join(f for f, on in (("updated story", it.update), ("backlog", it.backfill)) if on)
