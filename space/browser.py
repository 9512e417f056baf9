"""Drive the running Space in headless Chromium (the browser tests and `python -m space.screenshot`).

Chromium is Debian's (`apt-get install chromium`), driven by Playwright's Python package with
`executable_path=` that binary, so Playwright never downloads a browser of its own. The app runs in a
subprocess (`python -m space.app`) on 127.0.0.1 and a free port, bounded in time, and is stopped after.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")


def find_chromium() -> str | None:
    """$DNALM_CHROMIUM, else Debian's chromium on PATH."""
    env = os.environ.get("DNALM_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name) or (name if Path(name).is_file() and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(results: str | Path, *args: str, startup_timeout: float = 120.0, env: dict | None = None):
    """`python -m space.app --results <results> <args>` on 127.0.0.1:<free port>; yields the URL.

    Fails (RuntimeError with the app's output) if the server does not answer within `startup_timeout`
    seconds; the process (and its group) is terminated on exit, killed if it does not stop in 10 s."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "space.app",
        "--results",
        str(results),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode} before serving:\n{proc.stdout.read()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on {url} within {startup_timeout:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


@contextmanager
def chromium_browser(executable: str | None = None):
    """A headless Chromium (Debian's binary) under Playwright; yields the Browser."""
    from playwright.sync_api import sync_playwright

    executable = executable or find_chromium()
    if executable is None:
        raise RuntimeError("no chromium found: apt-get install -y chromium (or set DNALM_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


# ------------------------------------------------------------------------------------- page helpers

TABLE = "#leaderboard"


def wait_for_table(page, timeout_ms: int = 60_000) -> None:
    """Wait until the table shows rows and the page's load event (the board's current state) has landed."""
    page.wait_for_selector("#board-loaded", state="attached", timeout=timeout_ms)
    page.wait_for_selector(f"{TABLE} .virtual-row", timeout=timeout_ms)


def row_count(page, table: str = TABLE) -> int:
    """Body rows of a gr.Dataframe, from its grid's aria-rowcount (header row included there)."""
    return int(page.get_attribute(f"{table} [role=grid]", "aria-rowcount")) - 1


def headers(page, table: str = TABLE) -> list[str]:
    return [h.strip() for h in page.locator(f"{table} thead th").all_inner_texts()]


def column_texts(page, col: int, table: str = TABLE) -> list[str]:
    """The shown text of column `col`, top to bottom (rows in their on-screen order), once every row is drawn."""
    page.wait_for_function(
        """(table) => { const g = document.querySelector(`${table} [role=grid]`);
              return g && document.querySelectorAll(`${table} .virtual-row`).length"""
        """ == Number(g.getAttribute('aria-rowcount')) - 1; }""",
        arg=table,
    )
    return page.evaluate(
        """([table, col]) => Array.from(document.querySelectorAll(`${table} .virtual-row`))
              .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
              .map(r => { const c = r.querySelector(`[data-col="${col}"]`); return c ? c.innerText.trim() : null; })""",
        [table, col],
    )


def sort_column(page, col: int, direction: str = "descending", table: str = TABLE, clear: bool = True) -> None:
    """Open the header menu of column `col` (the ⋮ that shows on hover) and pick Sort ascending/descending.
    With `clear`, first *Clear sort*: otherwise the table keeps the earlier sort as the primary key."""
    header = page.locator(f'{table} [data-testid="header-{col}"]')

    def pick(item: str):
        header.hover()
        header.locator('button[aria-label="Open cell menu"]').click()
        page.locator(f'.cell-menu [role=menuitem]:has-text("{item}")').click()

    if clear and page.locator(f"{table} .sort-indicator").count():
        pick("Clear sort")
        page.locator(f"{table} .sort-indicator").first.wait_for(state="detached")
    pick(f"Sort {direction}")
    header.locator(f'.sort-indicator[aria-label="Sorted {direction}"]').wait_for()


def upload(page, path: str | Path, selector: str = "#submit-file") -> str:
    """Choose `path` in the submission form's <input type=file> (what the file dialog does), wait for the
    verdict and return it; then clear the form for the next file."""
    page.get_by_role("tab", name="Submit a run").click()
    page.locator(f"{selector} input[type=file]").set_input_files(str(path))
    page.wait_for_function("() => /Added|Refused/.test(document.querySelector('#submit-msg').innerText)")
    text = page.inner_text("#submit-msg").strip()
    page.locator(f"{selector} button[aria-label='Clear']").click()
    page.wait_for_function("() => document.querySelector('#submit-msg').innerText.trim() === ''")
    return text
