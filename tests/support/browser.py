"""Load a local page in headless Chromium (Debian's `chromium`) and hand back what it rendered and complained of."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import ConsoleMessage, Error, Request, async_playwright

from tests.support.environment import need

# Debian names the browser `chromium`; other systems may call it differently.
_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    return next((p for name in _NAMES if (p := shutil.which(name))), None)


def need_chromium() -> str:
    """The browser's path; the calling test is skipped without one locally and fails in CI."""
    path = chromium_path()
    need(path is not None, "headless Chromium is not installed (Debian package chromium; `make system-deps`)")
    assert path is not None
    return path


@dataclass
class Rendered:
    """A page as the browser left it: its DOM, what went wrong on it, and what a script measured in it."""

    dom: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    measured: Any = None


def _local(url: str, allowed: tuple[str, ...]) -> bool:
    return url.startswith(("data:", "about:", *allowed))


async def render(url: str, *, measure: str = "null", allowed: tuple[str, ...] = ()) -> Rendered:
    """Open `url` (http(s):// or file://) and return its DOM after load, console errors, uncaught exceptions and
    failed requests as `errors`, every request outside `url`'s origin and `allowed` as `requests` (they are blocked),
    and the value of the JavaScript expression `measure` evaluated in the page."""
    origin = url if url.startswith("file:") else "/".join(url.split("/")[:3]) + "/"
    out = Rendered(dom="")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=need_chromium())
        try:
            page = await browser.new_page()
            page.on("console", _on_console(out.errors))
            page.on("pageerror", lambda exc: out.errors.append(f"uncaught: {exc}"))
            page.on("requestfailed", _on_failed(out.errors))
            await page.route("**/*", _blocking(out.requests, (origin, *allowed)))
            response = await page.goto(url, wait_until="load")
            if response is not None and not response.ok:
                out.errors.append(f"{url}: HTTP {response.status}")
            out.dom = await page.content()
            out.measured = await page.evaluate(measure)
        finally:
            await browser.close()
    return out


def _on_console(errors: list[str]) -> Callable[[ConsoleMessage], None]:
    def note(msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning", "assert"):
            errors.append(f"console {msg.type}: {msg.text}")

    return note


def _on_failed(errors: list[str]) -> Callable[[Request], None]:
    def note(req: Request) -> None:
        errors.append(f"request failed: {req.url} ({req.failure})")

    return note


def _blocking(outside: list[str], allowed: tuple[str, ...]) -> Callable[[Any], Any]:
    async def route(r: Any) -> None:
        if _local(r.request.url, allowed):
            await r.continue_()
        else:
            # Recorded, then refused: a page that needs the network to render fails its test, never waits on it.
            outside.append(r.request.url)
            try:
                await r.abort("blockedbyclient")
            except Error:
                pass

    return route
