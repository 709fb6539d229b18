"""Helpers of the browser tests: a static HTTP server on 127.0.0.1 in a thread, and
headless Debian Chromium through Playwright (no browser download)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(browser: Any, dialogs: list[str]) -> Iterator[Any]:
    """A new page whose dialogs (alert, confirm, ...) are dismissed and recorded in
    ``dialogs``: a test of hostile names asserts the list stays empty."""
    page = browser.new_page()

    def seen(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", seen)
    try:
        yield page
    finally:
        page.close()


def wait_ready(page: Any) -> None:
    """Wait until the page's charts have drawn (its ``WASTEROUTE_READY`` promise)."""
    page.wait_for_function("window.WASTEROUTE_READY !== undefined")
    page.evaluate("window.WASTEROUTE_READY.then(() => true)")


def open_ready(page: Any, url: str) -> None:
    """Open ``url`` and wait until its charts have drawn."""
    page.goto(url)
    wait_ready(page)
