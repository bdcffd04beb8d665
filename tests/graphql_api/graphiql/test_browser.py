"""GraphiQL in a real browser (Debian's Chromium, driven by Playwright) with every request to
anywhere but the gateway refused: it renders, its docs load the schema, a query runs over HTTP
and a subscription over WebSocket."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _open(browser: Browser, server: str) -> tuple[Page, list[str]]:
    """GraphiQL at `server` with the internet cut off; returns the page and what it tried
    to reach elsewhere, and collects its console errors."""
    page = await browser.new_page()
    elsewhere: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(f"http://{server}/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_gateway)
    await page.goto(f"http://{server}/graphql")
    await page.wait_for_selector(EDITOR, timeout=20_000)
    return page, elsewhere


async def _run(page: Page, query: str, expected: str) -> Any:
    # Typed as a person would, so GraphiQL sees the document (and its operation) change.
    await page.click(EDITOR)
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(query)
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        "text => document.querySelector('" + RESPONSE + "').CodeMirror.getValue().includes(text)",
        arg=expected,
        timeout=20_000,
    )
    return await page.evaluate(
        "() => document.querySelector('" + RESPONSE + "').CodeMirror.getValue()"
    )


async def test_graphiql_works_with_no_internet(browser: Browser, live_server: str) -> None:
    page, elsewhere = await _open(browser, live_server)
    # The docs explorer fetched the schema by introspection at the default limits.
    await page.click('[aria-label="Show Documentation Explorer"]')
    await page.wait_for_selector(".graphiql-doc-explorer-root-type", timeout=20_000)
    docs = await page.inner_text(".graphiql-doc-explorer")
    assert "Query" in docs
    assert "Error fetching schema" not in await page.content()

    answer = await _run(page, '{ exchangeRate(base: "USD", quote: "NGN") { base rate } }', '"rate"')
    assert '"base": "USD"' in answer

    streamed = await _run(
        page,
        'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { quote rate } }',
        '"quote": "NGN"',
    )
    assert "exchangeRateUpdates" in streamed
    assert elsewhere == []
