"""Walk an XML document's prolog to its first element, in linear time: the root's name and the DOCTYPE."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What can end a part of a DTD's internal subset that may itself contain "]>": literals, comments and PIs.
_SUBSET_PART = re.compile(rb"[\"'\]]|<!--|<\?")
_SUBSET_CLOSE = re.compile(rb"\s*>")
_FIRST_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


@dataclass(frozen=True)
class Prolog:
    root: str  # the first element's local name; "" when the data ends (or a construct never ends) before one
    doctype: bytes  # the DOCTYPE declaration with its internal subset, to the end of the data if it never ends


def xml_prolog(data: bytes) -> Prolog:
    """Walk past XML declarations, PIs, comments and the DOCTYPE to the first element, in time linear in the data.

    Each construct is skipped with one search for its end; one that never ends stops the walk there.
    """
    pos, doctype = 0, b""
    while (pos := data.find(b"<", pos)) >= 0:
        if data.startswith(b"<?", pos):
            end = _after(data, b"?>", pos + 2)
        elif data.startswith(b"<!--", pos):
            end = _after(data, b"-->", pos + 4)
        elif data[pos : pos + 9].upper() == b"<!DOCTYPE":
            end = _doctype_end(data, pos + 9)
            doctype = data[pos : end if end >= 0 else len(data)]
        elif m := _FIRST_TAG.match(data, pos):
            return Prolog(m.group(1).decode("ascii", errors="replace"), doctype)
        else:
            end = pos + 1
        if end < 0:
            break
        pos = end
    return Prolog("", doctype)


def _after(data: bytes, closer: bytes, start: int) -> int:
    end = data.find(closer, start)
    return end + len(closer) if end >= 0 else -1


def _doctype_end(data: bytes, pos: int) -> int:
    """Where a DOCTYPE declaration ends (-1: never): at its first ">", or past the "]>" closing its internal subset."""
    gt, bracket = data.find(b">", pos), data.find(b"[", pos)
    if bracket < 0 or 0 <= gt < bracket:
        return gt + 1 if gt >= 0 else -1
    pos = bracket + 1
    while m := _SUBSET_PART.search(data, pos):
        part = m.group()
        if part == b"]":
            close = _SUBSET_CLOSE.match(data, m.end())
            if close:
                return close.end()
            pos = m.end()
            continue
        pos = _after(data, b"-->" if part == b"<!--" else b"?>" if part == b"<?" else part, m.end())
        if pos < 0:
            return -1
    return -1
