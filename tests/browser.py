"""Headless Chromium (Debian's package) for tests that look at pages."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (apt-get install chromium)")


def _run(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def dump_dom(url: str) -> str:
    """Return the page's DOM after Chromium has loaded it."""
    return _run(url, "--dump-dom").stdout


def screenshot(url: str, path: Path, size: tuple[int, int] = (1200, 1600)) -> Path:
    """Save a PNG screenshot of the page."""
    _run(url, f"--screenshot={path}", f"--window-size={size[0]},{size[1]}")
    return path


def webdriver_chromium(size: tuple[int, int]) -> Any:
    """Headless Chromium driven by Selenium (skips where either is missing)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = "/usr/bin/chromedriver"
    if not Path(driver_path).exists():
        pytest.skip("chromedriver is not installed (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
