"""The replay report as one self-contained HTML page (placeholder until the page is built)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(f"<pre>{json.dumps(report, indent=2)}</pre>", encoding="utf-8")
