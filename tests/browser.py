"""Headless Chromium from Debian's packages (chromium, chromium-driver), driven by Selenium, for tests
of the pages a person looks at. No browser or driver is ever downloaded: without Debian's, the tests
skip, unless DATAENGINE_BROWSER_REQUIRED is set (CI), when they fail."""

from __future__ import annotations

import os
import shutil

import pytest

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)


@pytest.fixture
def chromium(tmp_path):
    """A Selenium driver of headless Chromium, quit after the test."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        message = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("DATAENGINE_BROWSER_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


def wait_for(browser, condition, timeout: float = 60.0):
    """`condition(browser)` once it is truthy, polling; a TimeoutException names what was awaited."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)
