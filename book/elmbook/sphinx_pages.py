"""A Sphinx extension (listed in ``_config.yml``) that keeps the built pages free of console errors.

Sphinx 7.4, which Jupyter Book 1 uses, adds every inline script registered with
``app.add_js_file(None, body=...)`` twice to each page (once as filename ``None``, once as ``''``
when it prepares writing). For ``sphinx-thebe``'s ``const THEBE_JS_URL = ...`` the second copy is
a ``SyntaxError`` in every page's console, which the book's browser check
(``tests/browser_check.py``) reports. This extension drops the second copy of any script, page by
page, after all other extensions have added theirs.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", script) or "",
            tuple(sorted((k, str(v)) for k, v in attributes.items())))


def one_copy_of_each_script(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` handler: remove repeated scripts from the page's ``script_files``
    (in place: it is the builder's list, restored by Sphinx after each page)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app) -> dict:
    app.connect("html-page-context", one_copy_of_each_script, priority=900)  # after the others
    return {"parallel_read_safe": True, "parallel_write_safe": True}
