"""Headless Chromium for the browser tests: Debian's `chromium` and its
`chromedriver` (installed by `make test`, see the Makefile's `chromium`
target), driven through selenium. Nothing is downloaded: the driver and the
browser are given by path and selenium-manager is told to stay offline.

`phone` (a 412x915 touch screen, for the chat page) and `desktop` (for the
staff console) are fixtures: one fresh browser profile each, so two of
them in one test are two different people. Waits use WebDriverWait, never
sleeps; a wait that times out saves a screenshot and the page source under
tests/artifacts/ to see what the page showed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

# Before selenium is imported: selenium-manager must never fetch a driver or a browser.
os.environ["SE_OFFLINE"] = "true"
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.png import write_small_png

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"  # shown in the README
PHONE = (412, 915)
DESKTOP = (1366, 900)
WAIT_SECONDS = 30.0  # a bot reply goes through the backend, Rasa and the action server
T = TypeVar("T")


def start_chromium(width: int, height: int, mobile: bool = False) -> webdriver.Chrome:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: `make chromium` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--lang=zh-CN",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    if mobile:
        options.add_experimental_option(
            "mobileEmulation",
            {
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": True},
                "userAgent": (
                    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/120.0 Mobile Safari/537.36"
                ),
            },
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    return driver


class Browser:
    """One browser window on one site (`base_url`)."""

    def __init__(self, driver: webdriver.Chrome, name: str) -> None:
        self.driver = driver
        self.name = name
        self.base_url = ""

    # -- navigation and waits ---------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def wait_for(self, condition: Callable[[Any], T], what: str, timeout: float = WAIT_SECONDS) -> T:
        """Wait until `condition(driver)` is truthy; on time-out, save what the
        page showed and fail saying what was awaited. An element missing,
        or gone with the page it was on (a form submitted, a navigation),
        counts as "not yet"."""
        try:
            return WebDriverWait(
                self.driver,
                timeout,
                poll_frequency=0.2,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
            ).until(condition)
        except TimeoutException:
            shot = self.screenshot(f"timeout-{self.name}")
            (ARTIFACTS / f"timeout-{self.name}.html").write_text(self.driver.page_source, encoding="utf-8")
            raise AssertionError(f"{self.name}: timed out after {timeout}s waiting for {what} (see {shot})") from None

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_visible(self, css: str, what: str | None = None) -> WebElement:
        def visible(d: Any) -> Any:
            for e in d.find_elements(By.CSS_SELECTOR, css):
                if e.is_displayed():
                    return e
            return False

        return self.wait_for(visible, what or css)

    def texts(self, css: str) -> list[str]:
        return [e.text for e in self.find_all(css)]

    # -- actions ------------------------------------------------------------------

    def tap(self, element: WebElement) -> None:
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def type_into(self, css: str, text: str) -> None:
        box = self.wait_visible(css)
        box.clear()
        box.send_keys(text)

    # -- checks ---------------------------------------------------------------------

    def alert_open(self) -> bool:
        try:
            self.driver.switch_to.alert  # noqa: B018 - raises when there is none
        except NoAlertPresentException:
            return False
        return True

    def console_errors(self) -> list[str]:
        """The page's JavaScript errors and failed loads so far (a missing
        favicon does not count)."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
        ]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        self.driver.save_screenshot(str(path))
        return path

    def full_page_screenshot(self, name: str, css: str = "body") -> Path:
        """A screenshot as tall as the page (the window grows to fit, then
        returns to its size)."""
        size = self.driver.get_window_size()
        height = int(
            self.driver.execute_script(
                "return Math.max(document.documentElement.scrollHeight, arguments[0].scrollHeight)", self.find(css)
            )
        )
        self.driver.set_window_size(size["width"], max(size["height"], min(height + 120, 4000)))
        try:
            return self.screenshot(name)
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def quit(self) -> None:
        self.driver.quit()


def publish(screenshot: Path) -> Path:
    """With XXH_UPDATE_SCREENSHOTS=1, copy a screenshot to docs/screenshots/
    (the README's pictures), made small (png.py: a palette of 256 colours);
    otherwise it stays in tests/artifacts/ only."""
    if os.environ.get("XXH_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        write_small_png(screenshot, SCREENSHOTS / screenshot.name)
    return screenshot


def _browser(name: str, width: int, height: int, mobile: bool) -> Iterator[Browser]:
    browser = Browser(start_chromium(width, height, mobile), name)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def phone() -> Iterator[Browser]:
    """A phone-sized touch browser (the chat page's user)."""
    yield from _browser("phone", *PHONE, mobile=True)


@pytest.fixture
def desktop() -> Iterator[Browser]:
    """A desktop browser (a support agent or an admin)."""
    yield from _browser("desktop", *DESKTOP, mobile=False)
