"""The ops dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against
the gateway on a real uvicorn whose Duffel and Paystack are answered by respx."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import respx
from playwright.async_api import Browser, Page, async_playwright, expect

from graphql_api.settings import Settings
from tests.support.harness import live_settings
from tests.support.helpers import graphql
from tests.support.live import http_to, serving
from tests.support.saga import PASSENGER, bearer, rates_for_gbp, recorded_offer
from tests.support.world import FakeDuffel, FakePaystack

CHROMIUM = "/usr/bin/chromium"
ADMIN_PASS = "ops-dashboard-test-pass"
CREATE = """
mutation($input: CreateBookingInput!) {
  createBooking(input: $input) { accessToken booking { reference } }
}
"""
PAY = "mutation($ref: ID!) { initializePayment(bookingReference: $ref) { reference } }"
WAIT_MS = 10_000


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return live_settings(make_settings, admin_pass=ADMIN_PASS)


class Outside:
    """The fake airline and payment provider, and the gateway's address."""

    def __init__(self, router: respx.MockRouter, server: str, http: httpx.AsyncClient) -> None:
        self.duffel = FakeDuffel(router, recorded_offer(instant=True))
        self.paystack = FakePaystack(router)
        self.server = server
        self.http = http

    async def book(self, family_name: str) -> tuple[str, str]:
        """A booking with its payment started; (booking reference, payment reference)."""
        passenger = {**PASSENGER, "familyName": family_name}
        variables = {
            "input": {"offerId": self.duffel.offer["data"]["id"], "passengers": [passenger]}
        }
        created = (await graphql(self.http, CREATE, variables)).json()["data"]["createBooking"]
        reference = created["booking"]["reference"]
        started = await graphql(self.http, PAY, {"ref": reference}, bearer(created["accessToken"]))
        return reference, started.json()["data"]["initializePayment"]["reference"]

    async def paystack_pays(self, payment: str, *, amount: int | None = None) -> None:
        """The traveller pays at Paystack (`amount` kobo if not what was asked) and Paystack's
        signed charge.success webhook arrives."""
        if amount is not None:
            self.paystack.transactions[payment].amount = amount
        self.paystack.pay(payment)
        body, signature = self.paystack.charge_success(payment)
        response = await self.http.post(
            "/webhooks/paystack",
            content=body,
            headers={"content-type": "application/json", "x-paystack-signature": signature},
        )
        assert response.status_code == 200


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[Outside]:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        router.get("https://open.er-api.com/v6/latest/GBP").respond(200, json=rates_for_gbp())
        async with serving(settings) as server, http_to(server) as http:
            yield Outside(router, server, http)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install -y chromium)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(browser: Browser, server: str, *, phone: bool = False) -> Page:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 900},
        has_touch=phone,
        is_mobile=phone,
    )
    page = await context.new_page()
    page.on("pageerror", lambda error: pytest.fail(f"the page threw: {error}"))
    await page.goto(f"http://{server}/ops")
    await page.fill("#password", ADMIN_PASS)
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#connection")).to_have_text("live", timeout=WAIT_MS)
    return page


async def test_an_operator_sees_a_payment_live_opens_it_and_acts_on_a_held_payment(
    settings: Settings,
) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        page = await signed_in(browser, outside.server)
        assert "token" not in page.url

        # A payment settled by Paystack's signed webhook appears at once.
        paid, paid_payment = await outside.book("Adeyemi")
        await outside.paystack_pays(paid_payment)
        row = page.locator(f'#live-rows tr[data-payment="{paid_payment}"]').first
        await expect(row).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#live-rows tr", has_text=paid).first).to_contain_text(
            "SUCCESS", timeout=WAIT_MS
        )
        await expect(row.locator("td.channel")).to_have_text("api", timeout=WAIT_MS)

        # Its booking's page tells its story.
        await row.get_by_role("link", name=paid).click()
        await expect(page.locator("#booking-status")).to_have_text("CONFIRMED", timeout=WAIT_MS)
        await expect(page.locator("#passengers")).to_contain_text("Adeyemi")
        await expect(page.locator("#payments")).to_contain_text(paid_payment)
        await expect(page.locator("#orders")).to_contain_text("CONFIRMED")
        await expect(page.locator("#timeline")).to_contain_text("capture.backing")

        # A payment of the wrong amount is held; the operator approves it with a reason.
        held, held_payment = await outside.book("Okafor")
        await outside.paystack_pays(held_payment, amount=1000)
        await expect(
            page.locator(f'#live-rows tr[data-payment="{held_payment}"]').first
        ).to_be_attached(timeout=WAIT_MS)
        await page.click('nav a[data-view="queue"]')
        item = page.locator('#queue-items li[data-kind="HELD_PAYMENT"]', has_text=held)
        await expect(item).to_be_visible(timeout=WAIT_MS)
        await item.locator('button[data-action="approve"]').click()
        confirm = item.get_by_role("button", name="Confirm: Approve payment")
        await confirm.click()
        await expect(item.locator(".error")).to_have_text("Say why.")
        await item.locator("textarea").fill("Traveller paid short by mistake; agreed by phone")
        await confirm.click()
        await expect(page.locator("#notice")).to_contain_text(f"done for {held}", timeout=WAIT_MS)
        await expect(page.locator("#queue-items li", has_text=held)).to_have_count(0)

        await page.goto(f"http://{outside.server}/ops#/booking/{held}")
        await expect(page.locator("#booking-status")).to_have_text("CONFIRMED", timeout=WAIT_MS)
        audit = page.locator("#audit")
        await expect(audit).to_contain_text("approve_held_payment")
        await expect(audit).to_contain_text("Traveller paid short by mistake; agreed by phone")
        await expect(audit).to_contain_text("admin")

        # The token lives in the page's memory only: a reload asks to sign in again.
        await page.reload()
        await expect(page.locator("#sign-in")).to_be_visible()
        stored = await page.evaluate(
            "() => [localStorage.length, sessionStorage.length, document.cookie]"
        )
        assert stored == [0, 0, ""]
        await page.fill("#password", ADMIN_PASS)
        await page.click("#sign-in-form button[type=submit]")
        await expect(page.locator("#booking-status")).to_have_text("CONFIRMED", timeout=WAIT_MS)

        # Health, then signing out.
        await page.click('nav a[data-view="health"]')
        await expect(page.locator('#health-rows tr[data-dependency="paystack"]')).to_contain_text(
            "live", timeout=WAIT_MS
        )
        await expect(page.locator("#reconciler")).to_contain_text("off")
        await page.click("#sign-out")
        await expect(page.locator("#sign-in")).to_be_visible()
        await expect(page.locator("#app")).to_be_hidden()


async def test_bookings_are_filtered_and_searched_on_a_phone_with_touch_sized_controls(
    settings: Settings,
) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        first, _ = await outside.book("Adeyemi")
        second, _ = await outside.book("Okafor")
        page = await signed_in(browser, outside.server, phone=True)
        await page.click('nav a[data-view="bookings"]')
        await expect(page.locator("#booking-rows tr")).to_have_count(2, timeout=WAIT_MS)
        await page.fill('#booking-filters input[name="search"]', second)
        await page.click("#booking-filters button[type=submit]")
        await expect(page.locator("#booking-rows tr")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#booking-rows")).to_contain_text(second)
        await page.select_option('#booking-filters select[name="channel"]', "whatsapp")
        await page.fill('#booking-filters input[name="search"]', "")
        await page.click("#booking-filters button[type=submit]")
        await expect(page.locator("#booking-rows tr")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.locator("#bookings-total")).to_have_text("0 bookings")
        assert first != second

        small = await page.evaluate(
            """() => [...document.querySelectorAll('button, select, input, nav a')]
                 .filter((e) => e.offsetParent !== null)
                 .map((e) => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
                 .filter(([, height]) => height < 44)"""
        )
        assert small == []
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390


async def test_an_invalid_token_returns_to_the_sign_in(settings: Settings) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        page = await signed_in(browser, outside.server)
        # The gateway restarts with another signing key: the token in the page is no longer good.
        await page.route(
            "**/graphql",
            lambda route: route.fulfill(
                status=200,
                content_type="application/json",
                body='{"errors":[{"message":"expired","extensions":{"code":"UNAUTHENTICATED"}}]}',
            ),
        )
        await page.click('nav a[data-view="queue"]')
        await expect(page.locator("#sign-in")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#sign-in-error")).to_contain_text("sign in again")


async def test_a_wrong_password_is_refused_on_the_page(settings: Settings) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"http://{outside.server}/ops")
        await page.fill("#password", "not-the-password")
        await page.click("#sign-in-form button[type=submit]")
        await expect(page.locator("#sign-in-error")).not_to_be_empty(timeout=WAIT_MS)
        await expect(page.locator("#app")).to_be_hidden()


async def test_the_page_sends_a_strict_policy_and_loads_only_from_the_gateway(
    settings: Settings,
) -> None:
    async with gateway(settings) as outside:
        page = await outside.http.get("/ops")
        script = await outside.http.get("/ops/assets/ops.js")
        style = await outside.http.get("/ops/assets/ops.css")
        missing = await outside.http.get("/ops/assets/secrets.py")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404
    html = page.text
    # Nothing inline: no <style>, no inline handlers, and scripts only by src.
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert re.findall(r"<script[^>]*>\s*</script>", html) == [
        '<script src="/ops/assets/ops.js" defer></script>'
    ]
    for text in (html, script.text, style.text):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
    assert re.findall(r'(?:src|href)="([^"#]+)"', html) == [
        "/ops/assets/icon.svg",
        "/ops/assets/ops.css",
        "/ops/assets/ops.js",
    ]


async def test_the_browser_loads_nothing_from_elsewhere_and_reports_no_policy_violation(
    settings: Settings,
) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        await page.goto(f"http://{outside.server}/ops")
        await expect(page.locator("#password")).to_be_focused(timeout=WAIT_MS)

    origin = f"http://{outside.server}/"
    assert requested and all(url.startswith(origin) for url in requested), requested
    assert problems == []


async def test_the_travellers_emails_written_by_the_sandbox_are_listed_with_their_notifications(
    settings: Settings,
) -> None:
    async with gateway(settings) as outside, chromium() as browser:
        page = await signed_in(browser, outside.server)
        reference, payment = await outside.book("Eze")
        await outside.paystack_pays(payment)
        await page.click('.tabs a[data-view="emails"]')
        confirmation = page.locator("#email-rows tr", has_text=reference).first
        for _ in range(20):  # the dispatcher writes it within moments of the confirmation
            if await confirmation.count():
                break
            await page.click("#emails-refresh")
            await page.wait_for_timeout(250)
        await expect(confirmation).to_contain_text("tunde@example.com", timeout=WAIT_MS)
        await expect(confirmation).to_contain_text(".eml")

        # From the email to its booking, where the notification's outcome is shown.
        await confirmation.get_by_role("link").click()
        await expect(page.locator("#booking-status")).to_have_text("CONFIRMED", timeout=WAIT_MS)
        notifications = page.locator("#notifications")
        await expect(notifications).to_contain_text("CONFIRMATION", timeout=WAIT_MS)
        await expect(notifications).to_contain_text("EMAIL")
        await expect(notifications).to_contain_text("SENT")
