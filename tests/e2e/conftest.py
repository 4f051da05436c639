"""The browser fixtures (`phone`, `desktop`: tests/e2e/browser.py) for every
test of this directory, without importing them into each test module."""

from tests.e2e.browser import desktop, phone  # noqa: F401 - fixtures
