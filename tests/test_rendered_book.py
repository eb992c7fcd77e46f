"""What a reader of the rendered book sees: the HTML pages of ``_build/html``, checked page by page.

Runs after ``make book`` (``.ci/run`` calls it then); skipped when the book has not been rendered. Set
``CMLEARN_BOOK_HTML`` to check another rendered copy. For every page:

- no error, traceback, stderr or warning output in the cells' outputs;
- no role or directive left unrendered (``{glue:text}`key```, ``{cite}``, ``:::{figure}``, ...);
- every ``<img>`` resolves to a file of the build and has alt text (a figure's or a page's image needs
  real alt text; a plot that a code cell prints may carry Sphinx's placeholder, its file name);
- every internal link resolves, and so does its ``#anchor`` (an id in the target page);
- nothing is loaded from another site: ``<script src>``, ``<link href>``, ``<iframe>``, media and images
  point into the build (the Colab badge image is the one exception), and the theme's CSS imports nothing;
- every chapter has a Colab launch link of the form ``book/_config.yml`` configures, and a download link
  to its ``.ipynb``;
- every figure of ``book/figures/draw.py`` is on its page, with alt text and a caption.

Each failure names the page and the offending element.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("CMLEARN_BOOK_HTML", ROOT / "_build" / "html")).resolve()

if not (BUILD / "index.html").is_file():
    pytest.skip(
        f"no rendered book at {BUILD} (run `make book` first; .ci/run runs this test after it, "
        "or set CMLEARN_BOOK_HTML to a rendered copy)",
        allow_module_level=True,
    )

SKIP_FOLDERS = {"_static", "_sources", "_images", "_downloads"}
PAGES = sorted(
    p.relative_to(BUILD).as_posix() for p in BUILD.rglob("*.html") if not SKIP_FOLDERS & set(p.relative_to(BUILD).parts)
)
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# The only thing a page may load from another site: the Colab badge on the assignment pages.
ALLOWED_OFFSITE_IMAGES = {"https://colab.research.google.com/assets/colab-badge.svg"}
OFFSITE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host
# Void elements never get an end tag; everything else closes what it opened.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ROLE = re.compile(r"\{[a-z][\w:.-]*\}`[^`\n]*`?")
DIRECTIVE = re.compile(r"(?:^|\n)\s*(?:`{3,}|:{3,})\{[a-z][\w:.-]*\}")
WARNING = re.compile(r"\b(?:[A-Z]\w*Warning|Warning|Traceback \(most recent call last\))\b:?")
ERROR_OUTPUT_CLASSES = {"stderr", "traceback", "error"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.classes = set(attrs.get("class", "").split())
        self.text: list[str] = []  # the text inside, with that of the children

    def has_ancestor(self, predicate) -> Element | None:
        node = self
        while node is not None:
            if predicate(node):
                return node
            node = node.parent
        return None

    def describe(self) -> str:
        shown = {k: v for k, v in self.attrs.items() if k in ("id", "class", "src", "href", "alt", "rel")}
        body = " ".join(f'{k}="{v[:90]}"' for k, v in shown.items())
        return f"<{self.tag} {body}>".replace(" >", ">")


class Page(HTMLParser):
    """The parts of one page the checks need: elements with attributes, ids, text outside code."""

    def __init__(self, path: str, html: str | None = None):
        super().__init__(convert_charrefs=True)
        self.path = path
        self.elements: list[Element] = []
        self.ids: set[str] = set()
        self.prose: list[tuple[str, Element | None]] = []  # text outside <pre>, <code>, <script>, <style>
        self.stack: list[Element] = []
        self.feed((BUILD / path).read_text(encoding="utf-8") if html is None else html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1] if self.stack else None)
        self.elements.append(element)
        if "id" in element.attrs:
            self.ids.add(element.attrs["id"])
        if tag == "a" and "name" in element.attrs:
            self.ids.add(element.attrs["name"])
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):  # tolerate unclosed elements
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        for element in self.stack:
            element.text.append(data)
        if not any(e.tag in ("pre", "code", "script", "style", "kbd", "samp") for e in self.stack):
            self.prose.append((data, self.stack[-1] if self.stack else None))

    def find(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        return [e for e in self.elements if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)]


@cache
def page(path: str) -> Page:
    return Page(path)


def text(element: Element) -> str:
    return " ".join("".join(element.text).split())


def resolve(page_path: str, url: str) -> tuple[Path, str]:
    """The file a relative URL of ``page_path`` points to, and its fragment."""
    parts = urlsplit(url)
    target = (BUILD / page_path).parent / unquote(parts.path) if parts.path else BUILD / page_path
    target = target.resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def report(path: str, problems: list[str], what: str) -> None:
    assert not problems, f"{path}: {len(problems)} {what}:\n  " + "\n  ".join(problems[:25]) + (
        f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
    )


def test_pages_were_found():
    assert "book/intro.html" in PAGES, f"book/intro.html not among the {len(PAGES)} pages of {BUILD}"
    missing = [c for c in CHAPTERS if f"notebooks/{c}.html" not in PAGES]
    assert not missing, f"chapters without a page in {BUILD}: {missing}"


def output_problems(path: str, pg: Page) -> list[str]:
    problems = []
    for element in pg.elements:
        if "output" not in element.classes:
            continue
        if element.classes & ERROR_OUTPUT_CLASSES:
            problems.append(f"{element.describe()}: {text(element)[:200]!r}")
        elif element.has_ancestor(lambda e: "cell_output" in e.classes) and (match := WARNING.search(text(element))):
            start = max(match.start() - 80, 0)
            problems.append(f"{element.describe()}: {text(element)[start:match.end() + 120]!r}")
    return problems


def unrendered_problems(path: str, pg: Page) -> list[str]:
    problems = []
    for data, parent in pg.prose:
        for pattern in (ROLE, DIRECTIVE):
            for match in pattern.finditer(data):
                where = parent.describe() if parent is not None else "page"
                problems.append(f"{where}: {match.group(0).strip()!r} in {' '.join(data.split())[:160]!r}")
    return problems


def image_problems(path: str, pg: Page) -> list[str]:
    problems = []
    for img in pg.find("img"):
        src, alt = img.attrs.get("src", ""), img.attrs.get("alt", "").strip()
        if not alt:
            problems.append(f"{img.describe()}: no alt text")
        if src in ALLOWED_OFFSITE_IMAGES or src.startswith("data:"):
            continue
        if OFFSITE.match(src):
            continue  # reported by test_nothing_is_loaded_from_another_site
        target, _ = resolve(path, src)
        if not target.is_file():
            problems.append(f"{img.describe()}: {target} does not exist")
        in_output = img.has_ancestor(lambda e: "cell_output" in e.classes)
        if alt and not in_output and Path(unquote(alt)).name == Path(unquote(src)).name:
            problems.append(f"{img.describe()}: the alt text is only the file name (write what the picture shows)")
    return problems


def link_problems(path: str, pg: Page) -> list[str]:
    problems = []
    for a in pg.find("a"):
        href = a.attrs.get("href", "")
        if not href or href == "#" or OFFSITE.match(href) or re.match(r"^(?:mailto|tel|javascript|data):", href, re.I):
            continue
        if href.startswith("#"):
            if unquote(href[1:]) not in pg.ids:
                problems.append(f"{a.describe()} ({text(a)[:60]!r}): no id {unquote(href[1:])!r} on this page")
            continue
        target, fragment = resolve(path, href)
        if not target.is_file():
            problems.append(f"{a.describe()} ({text(a)[:60]!r}): {target.relative_to(BUILD) if BUILD in target.parents else target} does not exist")
        elif fragment and target.suffix == ".html" and fragment not in page(target.relative_to(BUILD).as_posix()).ids:
            problems.append(f"{a.describe()} ({text(a)[:60]!r}): no id {fragment!r} in {target.relative_to(BUILD)}")
    return problems


def offsite_problems(path: str, pg: Page) -> list[str]:
    problems = []
    for element in pg.elements:
        for attr in ("src", "href", "data", "poster", "srcset"):
            url = element.attrs.get(attr, "")
            if not url:
                continue
            loads = element.tag in ("script", "img", "iframe", "embed", "object", "source", "video", "audio", "track") or (
                element.tag == "link" and element.attrs.get("rel", "").lower() not in ("canonical", "alternate")
            )
            if not loads:
                continue
            if OFFSITE.match(url) and url not in ALLOWED_OFFSITE_IMAGES:
                problems.append(f"{element.describe()}: loads {url}")
            elif not OFFSITE.match(url) and element.tag in ("script", "link") and not url.startswith("data:"):
                target, _ = resolve(path, url.split("?")[0])
                if not target.is_file():
                    problems.append(f"{element.describe()}: {url} is not in the build")
    for element in pg.find("style"):
        for url in re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^'\")\s]+)", "".join(element.text)):
            problems.append(f"<style>: loads {url}")
    return problems


@pytest.mark.parametrize("path", PAGES)
def test_no_error_stderr_or_warning_output(path: str):
    report(path, output_problems(path, page(path)), "error, stderr or warning outputs")


@pytest.mark.parametrize("path", PAGES)
def test_no_unrendered_role_or_directive(path: str):
    report(path, unrendered_problems(path, page(path)), "unrendered roles or directives")


@pytest.mark.parametrize("path", PAGES)
def test_images_resolve_and_have_alt_text(path: str):
    report(path, image_problems(path, page(path)), "images that do not resolve or lack alt text")


@pytest.mark.parametrize("path", PAGES)
def test_internal_links_and_anchors_resolve(path: str):
    report(path, link_problems(path, page(path)), "broken internal links")


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_loaded_from_another_site(path: str):
    report(path, offsite_problems(path, page(path)), "resources from another site or missing from the build")


BAD_PAGE = """<html><head>
<script src="https://cdn.example.org/x.js"></script><link rel="stylesheet" href="//fonts.example.org/f.css">
<script src="../_static/no-such-file.js"></script></head><body id="top">
<p>As {glue:text}`acc:.1%` shows, and {cite:p}`x`.</p>
<div class="cell_output docutils container">
<div class="output stderr highlight-myst-ansi notranslate"><pre>oops</pre></div>
<div class="output stream highlight-myst-ansi notranslate"><pre>/x.py:3: UserWarning: careful</pre></div>
<div class="output traceback highlight-ipythontb notranslate"><pre>Traceback (most recent call last):</pre></div>
</div>
<img src="../_images/no-such.png" alt="a plot"><img src="../_static/images/logo_colab.png" alt="">
<a href="#top">ok</a><a href="#nowhere">bad anchor</a><a href="no-such-page.html">bad page</a>
<a href="https://example.org/">external, fine</a>
<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open in Colab">
</body></html>"""


def test_the_checks_can_fail():
    path = "notebooks/x.html"
    bad = Page(path, BAD_PAGE)
    assert len(output_problems(path, bad)) == 3, output_problems(path, bad)
    assert [p.split(": ", 1)[1][:15] for p in unrendered_problems(path, bad)] == ["'{glue:text}`ac", "'{cite:p}`x`' i"]
    images = image_problems(path, bad)
    assert any("no-such.png" in p and "does not exist" in p for p in images) and any("no alt text" in p for p in images), images
    links = link_problems(path, bad)
    assert len(links) == 2 and any("'nowhere'" in p for p in links) and any("no-such-page.html" in p for p in links), links
    offsite = offsite_problems(path, bad)
    assert len(offsite) == 3 and not any("colab-badge" in p for p in offsite), offsite


def test_static_css_imports_nothing_from_another_site():
    problems = []
    for css in sorted((BUILD / "_static").rglob("*.css")):
        content = css.read_text(encoding="utf-8", errors="replace")
        for url in re.findall(r"(?:url\(\s*['\"]?|@import\s+(?:url\(\s*)?['\"]?)((?:https?:)?//[^'\")\s]+)", content):
            problems.append(f"{css.relative_to(BUILD)}: {url}")
    assert not problems, "style sheets that load from another site:\n  " + "\n  ".join(problems)


def colab_link(chapter: str) -> str:
    """The Colab URL sphinx-book-theme makes for a chapter, from book/_config.yml."""
    import yaml

    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text(encoding="utf-8"))
    repository = config["repository"]
    github = re.sub(r"^https://github\.com/", "", repository["url"]).removesuffix(".git").strip("/")
    prefix = (repository.get("path_to_book") or "").strip("/")
    path = f"{prefix}/notebooks/{chapter}.ipynb" if prefix else f"notebooks/{chapter}.ipynb"
    return f"{config['launch_buttons']['colab_url'].rstrip('/')}/github/{github}/blob/{repository['branch']}/{path}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_a_colab_launch_link_and_the_ipynb_download(chapter: str):
    path = f"notebooks/{chapter}.html"
    assert path in PAGES, f"{path}: no such page in {BUILD}"
    hrefs = [a.attrs.get("href", "") for a in page(path).find("a")]
    expected = colab_link(chapter)
    assert expected in hrefs, f"{path}: no Colab launch link {expected}; Colab links found: {[h for h in hrefs if 'colab' in h]}"
    downloads = [h for h in hrefs if h.endswith(f"_sources/notebooks/{chapter}.ipynb")]
    assert downloads, f"{path}: the download button offers no .ipynb (no link to _sources/notebooks/{chapter}.ipynb)"
    assert resolve(path, downloads[0])[0].is_file(), f"{path}: {downloads[0]} is not in the build"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_section_headings_carry_one_number(chapter: str):
    # The chapter's title is numbered by the TOC ("11. ..."); its sections number themselves ("## 1. ..."), so the
    # TOC must not add "11.2." in front of them as well.
    path = f"notebooks/{chapter}.html"
    in_sections = (span.has_ancestor(lambda node: node.tag in ("h2", "h3", "h4")) for span in page(path).find(cls="section-number"))
    twice = [text(heading) for heading in in_sections if heading is not None]
    report(path, twice, "section headings numbered by the TOC as well as by the chapter")


@cache
def book_figures():
    spec = importlib.util.spec_from_file_location("book_figures_for_test", ROOT / "book" / "figures" / "draw.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.FIGURES


@pytest.mark.parametrize("name", list(book_figures()))
def test_every_figure_is_on_its_page(name: str):
    figure = book_figures()[name]
    path = f"{figure.page}.html"
    assert path in PAGES, f"{path}: no such page in {BUILD} (figure {name})"
    images = [img for img in page(path).find("img") if Path(unquote(img.attrs.get("src", ""))).name == f"{name}.svg"]
    assert images, f"{path}: figure {name} ({name}.svg) is not on the page; insert it (book/figures/place.py, or by hand in .md pages)"
    img = images[0]
    assert img.attrs.get("alt", "").strip() and img.attrs["alt"] != img.attrs.get("src"), f"{path}: {img.describe()} has no alt text"
    assert resolve(path, img.attrs["src"])[0].is_file(), f"{path}: {img.describe()}: the SVG is not in the build"
    container = img.has_ancestor(lambda e: e.tag == "figure")
    captions = [e for e in page(path).find("figcaption") if container is not None and e.has_ancestor(lambda x: x is container)]
    assert captions and text(captions[0]), f"{path}: figure {name} has no caption"
