"""The rendered page in headless Chromium, served by ``python -m leaderboard serve``.

Needs Debian's ``chromium`` and ``chromium-driver``; when they are missing and we run as root
with apt-get, the test installs them (``apt-get update && apt-get install -y chromium
chromium-driver``), otherwise it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from lb_helpers import HERE

pytestmark = pytest.mark.browser

REPO = HERE.parents[1]
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
#: the ranking the fixtures are built to have (greedy > uniform random > anti-greedy)
EXPECTED_RANKING = ["greedy-explorer", "RandomAgent", "anti-greedy"]


def _chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing Debian's packages when possible."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary and driver:
        return binary, driver
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.skip("headless Chromium is not installed and cannot be installed here "
                    "(needs root and apt-get): apt-get install chromium chromium-driver")
    proc = subprocess.run(
        ["sh", "-c", "apt-get update && apt-get install -y chromium chromium-driver"],
        capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if proc.returncode != 0 or not (binary and driver):
        pytest.skip(f"installing chromium/chromium-driver with apt-get failed: {proc.stderr[-500:]}")
    return binary, driver


@pytest.fixture
def served_page(ranked_db, tmp_path):
    """``python -m leaderboard serve --port 0`` on the ranked database; yields its URL."""
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leaderboard", "serve", "--db", str(ranked_db),
             "--dir", str(tmp_path / "site"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, f"serve printed {line!r} (exit code {proc.poll()}): {log.read_text()}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    pytest.importorskip("selenium", reason="selenium drives Chromium (pip install selenium)")
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _agents(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "table.ranking tbody tr")
    return [row.get_attribute("data-agent") for row in rows]


def _click_header(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    (header,) = [h for h in driver.find_elements(By.CSS_SELECTOR, "table.ranking thead th")
                 if h.text.strip() == text]
    header.click()


def test_page_in_headless_chromium(served_page, browser):
    browser.get(served_page)
    assert browser.title == "krazy_gym leaderboard"

    # the submitted agents, in the right order
    assert _agents(browser) == EXPECTED_RANKING

    # clicking headers re-sorts (text, then numbers both ways, then back to the rank)
    _click_header(browser, "Agent")
    assert _agents(browser) == sorted(EXPECTED_RANKING, key=str.lower)
    _click_header(browser, "Agent")
    assert _agents(browser) == sorted(EXPECTED_RANKING, key=str.lower, reverse=True)
    _click_header(browser, "IQM")  # best first on the first click
    assert _agents(browser) == EXPECTED_RANKING
    _click_header(browser, "IQM")
    assert _agents(browser) == EXPECTED_RANKING[::-1]
    _click_header(browser, "Rank")
    assert _agents(browser) == EXPECTED_RANKING

    # every plot loaded (no broken images)
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert len(images) == 3
    for src, complete, width in images:
        assert complete and width > 0, src

    # no console errors (failed requests, JS exceptions)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
