"""The browser check itself (tests/browser_check.py), on hand-written pages: a good page passes,
and each kind of breakage a reader would see is reported on the page that has it.

Needs Debian's chromium and chromium-driver (``.ci/run`` installs them); skips only where they
are absent and ``ELM_REQUIRE_BROWSER_CHECK`` is not set.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import browser_check
import matplotlib.pyplot as plt
import numpy as np
import pytest

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{name}</title>{head}</head>
<body>{body}</body></html>"""


def mathjax_script() -> str:
    """The MathJax 3 that the book serves (bundled by sphinx-mathjax-offline), as a script tag."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    assert spec is not None and spec.origin, "sphinx-mathjax-offline is not installed"
    js = Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js"
    assert js.is_file(), js
    return ('<script>window.MathJax = {"options": {"processHtmlClass": "math"}}</script>'
            f'<script defer src="{js.as_uri()}"></script>')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    plt.imsave(root / "pic.png", np.random.default_rng(0).random((8, 8, 3)))
    mathjax = mathjax_script()
    pages = {
        "good.html": (mathjax, '<h1>Good</h1><p>An equation <span class="math">\\(x^2 + '
                      '\\tau_m\\)</span> and a display</p><div class="math">\\[m_t = '
                      '\\lambda m_{t-1}\\]</div><img src="pic.png" alt="pic">'
                      '<pre>label = "$d_m$"  # code shows TeX as written</pre>'
                      '<p>It costs $5 and $6.</p>'
                      '<img loading="lazy" src="pic.png" alt="far below" '
                      'style="margin-top:4000px">'),
        "broken_image.html": ("", '<p>A figure:</p><img src="missing.png" alt="missing">'),
        "raw_dollar.html": (mathjax, "<p>The memory $x$ stays raw: dollarmath was off.</p>"),
        "console_error.html": ("", '<script>console.error("boom from the page")</script><p>ok</p>'),
        "cdn_mathjax.html": ('<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/'
                             'tex-chtml.js"></script>', '<p><span class="math">\\(y\\)</span></p>'),
    }
    for name, (head, body) in pages.items():
        (root / name).write_text(PAGE.format(name=name, head=head, body=body))
    (root / "_static").mkdir()
    (root / "_static" / "not_a_page.html").write_text("<p>$raw$</p>")
    return root


@pytest.fixture(scope="module")
def problems(site) -> dict[str, list[str]]:
    reason = browser_check.skip_reason()
    if reason:
        pytest.skip(reason)
    timings: dict[str, float] = {}
    found = browser_check.check_pages(site, timings=timings)  # BrowserMissing fails here
    assert set(timings) == {p.name for p in site.glob("*.html")}
    by_page: dict[str, list[str]] = {name: [] for name in timings}
    for line in found:
        page, problem = line.split(": ", 1)
        by_page[page].append(problem)
    return by_page


def test_pages_are_found_outside_sphinx_folders(site):
    assert [p.name for p in browser_check.html_pages(site)] == sorted(
        ["good.html", "broken_image.html", "raw_dollar.html", "console_error.html",
         "cdn_mathjax.html"])


def test_a_good_page_with_typeset_math_and_an_image_passes(problems):
    assert problems["good.html"] == []


def test_a_broken_image_is_reported(problems):
    assert "broken image missing.png" in problems["broken_image.html"]


def test_raw_dollar_math_is_reported(problems):
    assert problems["raw_dollar.html"] == ["raw TeX in the text: 'The memory $x$ stays raw: "
                                           "dollarmath was off.'"]


def test_a_console_error_is_reported(problems):
    (line,) = problems["console_error.html"]
    assert line.startswith("console error:") and "boom from the page" in line


def test_a_page_that_needs_the_network_shows_raw_tex_offline(problems):
    found = problems["cdn_mathjax.html"]
    assert "raw TeX in the text: '\\\\(y\\\\)'" in found
    assert any(p.startswith("console error:") and "cdn.jsdelivr.net" in p for p in found)


def test_a_missing_browser_skips_on_a_readers_machine_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_check, "CHROMIUM", "chromium-that-is-not-installed")
    monkeypatch.delenv(browser_check.REQUIRE_ENV, raising=False)
    assert "chromium-that-is-not-installed not found" in (browser_check.skip_reason() or "")
    monkeypatch.setenv(browser_check.REQUIRE_ENV, "1")
    assert browser_check.skip_reason() is None  # CI: no skipping
    with pytest.raises(browser_check.BrowserMissing, match="apt-get install chromium"):
        browser_check.check_pages(tmp_path)


def test_the_book_extension_keeps_one_copy_of_each_inline_script():
    """elmbook.sphinx_pages: Sphinx 7.4 registers an inline script as filename None and again as
    '' (sphinx-thebe's ``const THEBE_JS_URL`` twice is a SyntaxError in every page's console)."""
    from sphinx.builders.html._assets import _JavaScript

    from elmbook.sphinx_pages import one_copy_of_each_script

    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("doctools.js"), _JavaScript(None, body=body),
               _JavaScript("sphinx-thebe.js", **{"async": "async"}), _JavaScript("", body=body),
               _JavaScript("doctools.js"), _JavaScript(None, body="var other = 1")]
    context = {"script_files": scripts}
    one_copy_of_each_script(None, "index", "page.html", context, None)
    assert context["script_files"] is scripts  # the builder's list, edited in place
    assert [(s.filename, s.attributes.get("body")) for s in scripts] == [
        ("doctools.js", None), (None, body), ("sphinx-thebe.js", None), (None, "var other = 1")]


def test_a_redirect_stub_to_a_page_of_the_book_is_not_a_page(tmp_path):
    """Jupyter Book's root index.html only forwards to the first chapter, which is checked."""
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text("<p>the intro</p>")
    stub = '<meta http-equiv="Refresh" content="0; url={}" />'
    (tmp_path / "index.html").write_text(stub.format("book/intro.html"))
    (tmp_path / "lost.html").write_text(stub.format("nowhere.html"))
    assert [p.relative_to(tmp_path).as_posix() for p in browser_check.html_pages(tmp_path)] == [
        "book/intro.html", "lost.html"]
