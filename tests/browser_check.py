"""Open every page of a built book in headless Chromium, offline, and list what a reader would see
broken: an image that did not load, LaTeX left raw in the visible text after MathJax ran, a
MathJax error, or an error in the browser console.

Why a browser: a clean ``jupyter-book build -W`` says nothing about what the page shows. Images
that 404, equations typeset by a script that never loaded (a CDN, offline), or a JavaScript error
all build without a warning.

The browser is Debian's ``chromium`` driven through ``chromedriver`` (package ``chromium-driver``)
with selenium; the network is cut (every host name resolves to nothing and every connection goes
to a closed proxy), so a page that needs the internet fails here as it would for an offline
reader. :func:`check_pages` raises :class:`BrowserMissing` when either program is absent: the
caller decides whether that skips (a reader's machine without Chromium) or fails (CI, which
sets ``ELM_REQUIRE_BROWSER_CHECK=1``; see :func:`skip_reason`), as the tests on real samples do.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

#: Debian's packages ``chromium`` and ``chromium-driver``.
CHROMIUM, CHROMEDRIVER = "chromium", "chromedriver"
#: The flags of the issue's reader check, plus the ones that take the network away.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage", "--window-size=1280,1024",
    # offline: no name resolves and every connection goes to a closed port
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
)
REQUIRE_ENV = "ELM_REQUIRE_BROWSER_CHECK"

# text inside these is shown as written on purpose (source code, cell outputs) or is MathJax's own
_NOT_PROSE = ("script, style, noscript, template, pre, code, textarea, kbd, samp, "
              "mjx-container, mjx-assistive-mml, .MathJax")
#: TeX that MathJax would have typeset: ``\(..\)``, ``\[..\]``, ``$$..$$``, ``$x$`` (not "$5 and
#: $6": no space inside the dollars), else a lone delimiter.
RAW_TEX = re.compile(r"\\\(.{0,2000}?\\\)|\\\[.{0,2000}?\\\]|\$\$.{1,2000}?\$\$"
                     r"|\$(?=\S)[^$\n]{1,300}?(?<=\S)\$|\\[()\[\]]|\$\$", re.S)


class BrowserMissing(RuntimeError):
    """``chromium`` or ``chromedriver`` is not installed."""


def find_browser() -> tuple[str, str]:
    """Paths of ``chromium`` and ``chromedriver``; :class:`BrowserMissing` names what is absent."""
    found = {name: shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file()
                                          else None) for name in (CHROMIUM, CHROMEDRIVER)}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BrowserMissing(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
            f"(apt-get install chromium chromium-driver); CI requires them ({REQUIRE_ENV}=1)")
    try:
        import selenium  # noqa: F401
    except ImportError as e:
        raise BrowserMissing("selenium is not installed (pip install -r requirements.txt)") from e
    return found[CHROMIUM], found[CHROMEDRIVER]


def skip_reason() -> str | None:
    """Why the browser check is skipped here, or ``None`` when it runs: it is skipped only when
    the browser is missing and ``ELM_REQUIRE_BROWSER_CHECK=1`` is not set (CI sets it, so there
    a missing browser fails the check)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        return None
    try:
        find_browser()
    except BrowserMissing as e:
        return str(e)
    return None


_REDIRECT = re.compile(
    r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)["']""", re.I)


def redirect_target(page: Path) -> Path | None:
    """The page a redirect stub forwards to (Jupyter Book's root ``index.html`` is one), when
    that page exists in the book; None for a page with content of its own."""
    match = _REDIRECT.search(page.read_text(errors="replace")[:2000])
    if match is None:
        return None
    target = (page.parent / match.group(1).split("#")[0]).resolve()
    return target if target.is_file() else None


def html_pages(html_dir: str | Path) -> list[Path]:
    """Every page of a built book: the ``.html`` files outside Sphinx's ``_static``, ``_sources``,
    ``_images`` (any folder whose name starts with ``_`` or ``.``), except redirect stubs to
    another page of the book (that page is checked itself; a stub to a missing page is kept, and
    fails)."""
    root = Path(html_dir)
    return sorted(p for p in root.rglob("*.html")
                  if not any(part.startswith(("_", "."))
                             for part in p.relative_to(root).parts[:-1])
                  and redirect_target(p) is None)


# Runs in the page once it has loaded: waits for MathJax's first typeset and for every image
# (lazy ones made eager), then reports. Returns {mathjax, images, text, merrors}.
_INSPECT = r"""
const done = arguments[arguments.length - 1];
const timeoutMs = arguments[0];
const NOT_PROSE = arguments[1];
const withTimeout = (p, what) => Promise.race(
  [p, new Promise(r => setTimeout(() => r(what), timeoutMs))]);
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function run() {
  const t0 = Date.now();
  while (!(document.readyState === 'complete' && document.body) && Date.now() - t0 < timeoutMs)
    await sleep(50);
  let mathjax = 'absent';
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    mathjax = await withTimeout(
      MathJax.startup.promise.then(() => 'typeset', e => 'failed: ' + e), 'timed out');
  }
  const imgs = Array.from(document.images);
  imgs.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await withTimeout(Promise.all(imgs.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); }))), null);
  const images = imgs.filter(img => !img.complete || img.naturalWidth === 0)
                     .map(img => img.getAttribute('src') || '(no src)');
  const text = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const t = node.nodeValue;
    if (!/[$\\]/.test(t)) continue;
    const el = node.parentElement;
    if (!el || el.closest(NOT_PROSE)) continue;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) continue;
    text.push(t);
  }
  const merrors = Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                       .map(e => e.getAttribute('data-mjx-error') || e.textContent);
  return {mathjax, images, text, merrors, url: document.URL};
}
run().then(done, e => done({error: `${e} (${document.URL}, ${document.readyState})`}));
"""


def _driver(chromium: str, chromedriver: str, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # explicit paths: selenium's driver manager must not look for (or download) a browser
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def _snippet(text: str, match: re.Match, width: int = 40) -> str:
    a, b = max(0, match.start() - width), min(len(text), match.end() + width)
    return " ".join(text[a:b].split())


def check_pages(html_dir: str | Path, pages: Iterable[str | Path] | None = None, *,
                timeout: float = 30.0, timings: dict[str, float] | None = None) -> list[str]:
    """Open each page (default: :func:`html_pages` of ``html_dir``) as ``file://`` in one headless,
    offline Chromium with a fresh profile and return the problems found, one line each, prefixed
    with the page's path relative to ``html_dir``: an image with ``naturalWidth`` 0, raw TeX in the
    visible prose (outside code and cell outputs) after MathJax finished, a MathJax error or
    time-out, a console message of level SEVERE (failed loads, uncaught exceptions). An empty list
    means every page is clean. ``timings``, if given, receives the seconds spent on each page.
    Raises :class:`BrowserMissing` when the browser is not installed."""
    root = Path(html_dir).resolve()
    chromium, chromedriver = find_browser()
    pages = html_pages(root) if pages is None else [root / p for p in pages]
    if not pages:
        return [f"{root}: no HTML pages"]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="elm-chromium-") as profile:
        driver = _driver(chromium, chromedriver, profile)
        try:
            driver.set_page_load_timeout(timeout)
            driver.set_script_timeout(2 * timeout + 5)
            for page in pages:
                start = time.perf_counter()
                name = page.relative_to(root).as_posix() if page.is_relative_to(root) else str(page)
                problems.extend(f"{name}: {p}" for p in _check_page(driver, page, timeout))
                if timings is not None:
                    timings[name] = time.perf_counter() - start
        finally:
            driver.quit()
    return problems


def _check_page(driver, page: Path, timeout: float) -> list[str]:
    from selenium.common.exceptions import WebDriverException

    if not page.is_file():
        return ["page not found"]
    for _ in (1, 2):  # a second try, from a fresh load, if the inspection itself failed
        driver.get_log("browser")  # drop anything left from the previous page or try
        try:
            driver.get(page.as_uri())
            found = driver.execute_async_script(_INSPECT, int(timeout * 1000), _NOT_PROSE)
        except WebDriverException as e:
            found = {"error": e.msg or str(e)}
        if "error" not in found:
            break
    problems = []
    if "error" in found:
        problems.append(f"could not be inspected: {found['error']}")
        found = {"mathjax": "?", "images": [], "text": [], "merrors": []}
    elif found["url"].split("#")[0].split("?")[0] != page.as_uri():
        problems.append(f"the page went on to {found['url']}")
    if found["mathjax"] not in ("absent", "typeset"):
        problems.append(f"MathJax {found['mathjax']}")
    problems += [f"broken image {src}" for src in found["images"]]
    problems += [f"MathJax error: {' '.join(m.split())[:120]}" for m in found["merrors"]]
    for text in found["text"]:
        problems += [f"raw TeX in the text: {_snippet(text, m)!r}" for m in RAW_TEX.finditer(text)]
    problems += [f"console error: {entry['message']}" for entry in driver.get_log("browser")
                 if entry.get("level") == "SEVERE"]
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python tests/browser_check.py _build/html [page.html ...]``: print the problems."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(main.__doc__)
        return 2
    timings: dict[str, float] = {}
    problems = check_pages(args[0], args[1:] or None, timings=timings)
    print("\n".join(problems) or "no problems")
    if timings:
        print(f"{len(timings)} pages, {sum(timings.values()):.1f} s "
              f"({max(timings.values()):.1f} s the slowest)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
