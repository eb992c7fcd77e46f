"""The book as a reader gets it: no network needed, and the figures drawn by the repository's code.

A local Sphinx extension (``book/_config.yml``: ``sphinx.local_extensions``) with three jobs:

1. **MathJax from the build.** MathJax 3 is taken from the installed package ``django-static-mathjax``
   (a plain copy of MathJax's release files, Apache-2.0, no dependencies; in the ``book`` extra) and
   copied to ``_static/mathjax/``; pages load it from there instead of a CDN.
2. **Progress bars as text.** When the book is executed in an environment with ``ipywidgets``
   (``otter-grader`` brings it), ``tqdm.auto`` bars are Jupyter widgets, which a static page can only
   show by loading require.js and the widgets manager from CDNs. Each tqdm bar is replaced by the
   text of its final state (``seeds: 100%|██████████| 3/3 [00:56<00:00, 18.66s/it]``), and a page
   whose widgets were all bars loads no widget script. Any other widget is left alone, and
   ``tests/test_rendered_book.py`` then reports the off-site scripts it needs.
3. **Figures.** ``book/figures/draw.py`` draws the book's diagrams (SVG) before the pages are read, so
   ``jupyter-book build`` alone produces them; a file is rewritten only when its drawing changed.
"""

from __future__ import annotations

import html
import importlib.resources
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

BOOK = Path(__file__).resolve().parent.parent  # book/

# --- 1. MathJax -----------------------------------------------------------------------------------

MATHJAX_ENTRY = "tex-mml-chtml.js"  # the component Sphinx loads by default, from the CDN
# What the entry file loads later, relative to it: TeX extensions (autoload), CHTML fonts, the menu,
# the accessibility components and the speech rule engine (menu options). The other combined files
# (tex-svg.js, ...) are not needed.
MATHJAX_PARTS = ["input", "output", "ui", "a11y", "sre", "adaptors"]
STATIC_MATHJAX = "mathjax"  # _static/mathjax/


def mathjax_release() -> Path:
    """MathJax's ``es5`` folder as installed by ``django-static-mathjax``."""
    try:
        root = Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError as error:
        raise RuntimeError("MathJax for the offline book comes from the package django-static-mathjax: pip install -e '.[book]'") from error
    es5 = root / "es5"
    if not (es5 / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"{es5 / MATHJAX_ENTRY} not found: is the installed 'mathjax' package django-static-mathjax?")
    return es5


def use_local_mathjax(app: Sphinx, config) -> None:
    config.mathjax_path = f"{STATIC_MATHJAX}/{MATHJAX_ENTRY}"  # relative to _static/


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if app.builder.format != "html":
        return
    es5 = mathjax_release()
    target = Path(app.outdir) / "_static" / STATIC_MATHJAX
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / MATHJAX_ENTRY, target / MATHJAX_ENTRY)
    for part in MATHJAX_PARTS:
        if (es5 / part).is_dir():
            shutil.copytree(es5 / part, target / part, dirs_exist_ok=True)
    licence = es5.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, target / "LICENSE")
    version = json.loads((es5.parent / "package.json").read_text(encoding="utf-8")).get("version", "?")
    logger.info(f"[cmlearn_book] MathJax {version} copied to {target}")


# --- 2. tqdm widgets as text -----------------------------------------------------------------------

WIDGET_VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
BAR_WIDTH = 10


def _html_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value or "")).replace("\u2007", " ")


def tqdm_text(model_id: str, state: dict) -> str | None:
    """The text of a tqdm notebook bar (HBox of HTML, FloatProgress, HTML) at its last state, else None."""
    model = state.get(model_id)
    if not model or model.get("model_name") != "HBoxModel":
        return None
    children = [state.get(str(c).removeprefix("IPY_MODEL_")) for c in model["state"].get("children", [])]
    names = [c.get("model_name") if c else None for c in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (c["state"] for c in children)
    low, high, value = bar.get("min", 0.0), bar.get("max", 0.0), bar.get("value", 0.0)
    filled = round(BAR_WIDTH * (value - low) / (high - low)) if high > low else BAR_WIDTH
    filled = min(max(filled, 0), BAR_WIDTH)
    return f"{_html_text(left.get('value'))}|{'█' * filled}{' ' * (BAR_WIDTH - filled)}|{_html_text(right.get('value'))}".strip()


def widgets_as_text(app: Sphinx, doctree: nodes.document) -> None:
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:
        return
    docname = app.env.docname
    js_files = NbMetadataCollector.get_js_files(app.env, docname)
    if "ipywidgets_state" not in js_files:
        return
    state = json.loads(js_files["ipywidgets_state"][1]["body"]).get("state", {})
    kept = replaced = 0
    for raw in list(doctree.findall(nodes.raw)):
        views = WIDGET_VIEW.findall(raw.astext())
        if not views:
            continue
        texts = [tqdm_text(json.loads(view).get("model_id", ""), state) for view in views]
        if any(text is None for text in texts) or WIDGET_VIEW.sub("", raw.astext()).strip():
            kept += 1
            continue
        text = "\n".join(texts)
        raw.replace_self(nodes.literal_block(text, text, language="none", classes=["output", "text_plain"]))
        replaced += 1
    if not kept:
        for key in [k for k in js_files if k.startswith("ipywidgets")]:
            del js_files[key]
    if replaced:
        logger.verbose(f"[cmlearn_book] {docname}: {replaced} progress-bar widgets shown as text, {kept} widgets kept")


# --- 3. Figures -------------------------------------------------------------------------------------


def load_draw():
    spec = importlib.util.spec_from_file_location("cmlearn_book_figures", BOOK / "figures" / "draw.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def draw_figures(app: Sphinx) -> None:
    draw = load_draw()
    changed = draw.draw_all(BOOK / "figures")
    logger.info(f"[cmlearn_book] figures: {len(draw.FIGURES)} drawn, {len(changed)} changed {sorted(changed) or ''}")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", use_local_mathjax)
    app.connect("builder-inited", draw_figures)
    app.connect("doctree-read", widgets_as_text)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
