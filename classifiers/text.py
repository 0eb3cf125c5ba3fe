"""The one text the model scores for an item, built alike for training, the Kafka stage and file mode."""

from __future__ import annotations

_CUT = "…"


def model_text(title: str, summary: str, title_derived: bool = False) -> str:
    """The text the model reads: the title leads with a full stop, unless it only repeats the summary's start.

    Normalization gives an untitled entry the start of its summary as its title (`title_derived`); reading that
    text twice would weigh its words double, so the summary alone is scored, with or without the flag.
    """
    title, summary = title.strip(), summary.strip()
    if summary and (title_derived or repeats_summary(title, summary)):
        return summary
    if title and title[-1] not in ".!?…":
        title += "."
    return f"{title} {summary}".strip()


def repeats_summary(title: str, summary: str) -> bool:
    """Whether the title is the summary's first words, whole or cut with an ellipsis, whitespace aside."""
    cut = title.endswith(_CUT)
    head = title[: -len(_CUT)].rstrip() if cut else title
    if not head or head[0] != summary[:1]:
        return False
    if not summary.startswith(head):
        head, summary = " ".join(head.split()), " ".join(summary.split())
        if not summary.startswith(head):
            return False
    # "Russia" is not the start of "Russian troops…": a whole title must end where a word of the summary ends.
    rest = summary[len(head) : len(head) + 1]
    return cut or not rest.isalnum()
