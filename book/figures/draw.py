"""The book's diagrams, drawn with matplotlib as SVG: one function per figure, one registry.

Run at build time by ``book/_ext/cmlearn_book.py`` (so ``jupyter-book build`` alone makes them) and
by hand to look at them::

    python book/figures/draw.py               # write the SVGs into book/figures/ (not committed)
    python book/figures/draw.py --png /tmp/f  # also PNG previews

Each figure is placed on its page by a ``{figure}`` directive with the alt text and caption of
:data:`FIGURES` (notebooks: ``python book/figures/place.py``; ``book/intro.md`` by hand), and
``tests/test_rendered_book.py`` checks that every one is on its page. The fusion gallery has one
panel per fusion of ``cmlearn.fusion.registry.FUSION_REGISTRY``: a new fusion needs a panel here.

Every figure sits on a white rounded card (transparent around it), so it reads the same in the
theme's light and dark modes; text is drawn as paths, so no font is needed to show it.
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

HERE = Path(__file__).resolve().parent

# One colour per modality (seaborn's "deep" palette, as in the book's plots) and per part of the model.
IMAGE, TEXT, AUDIO, VIDEO = "#4C72B0", "#DD8452", "#55A868", "#8172B3"
SHARED, FUSE, HEAD = "#2A9DB5", "#B8A13A", "#C44E52"
INK, MUTED, LINE = "#1F2328", "#57606A", "#8C959F"
CARD_EDGE = "#D0D7DE"

RC = {
    "svg.fonttype": "path",  # glyphs as paths: the same picture on every machine, offline
    "svg.hashsalt": "cmlearn-book",  # stable ids: an unchanged drawing gives an unchanged file
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "mathtext.fontset": "dejavusans",
    "text.color": INK,
}


@dataclass(frozen=True)
class BookFigure:
    """One diagram: how to draw it, the page that shows it, and what the reader is told about it."""

    draw: Callable[[], Figure]
    page: str  # the page's path without suffix, as in book/_toc.yml
    after: str | None  # notebooks: the id of the cell the figure's cell follows (book/figures/place.py)
    alt: str
    caption: str

    def path(self, name: str) -> Path:
        return HERE / f"{name}.svg"


# --- drawing helpers (coordinates in inches: x to the right, y up) --------------------------------


def tint(color: str, amount: float = 0.85) -> tuple[float, float, float]:
    """``color`` mixed with white: 0 gives the colour, 1 white."""
    r, g, b = matplotlib.colors.to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


# The page's text column is about 700 px wide at a desktop width (sphinx-book-theme); an SVG wider than that
# is scaled down, and its text with it. Figures are laid out in "units" and printed at SCALE inches per
# unit (an SVG ~760 px wide), so that 9-pt text still shows at about 11 px.
COLUMN_PX = 700
SCALE = 0.75


def canvas(width: float, height: float, scale: float = SCALE):
    """A figure of ``width`` × ``height`` units (``scale`` inches each) on a white rounded card; axes in units."""
    fig = Figure(figsize=(width * scale, height * scale))
    fig.patch.set_alpha(0.0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    ax.add_patch(FancyBboxPatch((0.03, 0.03), width - 0.06, height - 0.06, boxstyle="round,pad=0,rounding_size=0.2",
                                facecolor="white", edgecolor=CARD_EDGE, linewidth=1.0, zorder=0))
    return fig, ax


def box(ax, x, y, w, h, text="", color=LINE, fill=0.86, size=11, weight="normal", text_color=INK, radius=0.1, lw=1.4, z=2, **kw):
    """A rounded box centred at (x, y), tinted with ``color``, with centred text."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=f"round,pad=0,rounding_size={radius}",
                                facecolor=tint(color, fill), edgecolor=color, linewidth=lw, zorder=z))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=size, fontweight=weight, color=text_color, zorder=z + 1,
                linespacing=1.35, **kw)


def arrow(ax, start, end, color=LINE, lw=1.5, style="-|>", z=1, rad=0.0, dashed=False, shrink=2.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=13, color=color, linewidth=lw, zorder=z,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=shrink, shrinkB=shrink,
                                 linestyle=(0, (4, 3)) if dashed else "-"))


def label(ax, x, y, text, size=10, color=MUTED, ha="center", va="center", **kw):
    ax.text(x, y, text, ha=ha, va=va, fontsize=size, color=color, zorder=5, **kw)


def vector(ax, x, y, n, color, cell=0.16, fill=0.35, z=3):
    """A feature vector: ``n`` cells in a row centred at (x, y)."""
    left = x - n * cell / 2
    for i in range(n):
        ax.add_patch(Rectangle((left + i * cell, y - cell / 2), cell, cell, facecolor=tint(color, fill), edgecolor=color,
                               linewidth=0.9, zorder=z))
    return left, left + n * cell


def tokens(ax, x, y, n, color, gap=0.22, r=0.075, z=3):
    """A token sequence: ``n`` dots centred at (x, y); returns their centres."""
    xs = [x + (i - (n - 1) / 2) * gap for i in range(n)]
    for xi in xs:
        ax.add_patch(Circle((xi, y), r, facecolor=tint(color, 0.3), edgecolor=color, linewidth=0.9, zorder=z))
    return [(xi, y) for xi in xs]


def image_icon(ax, x, y, size=0.6, z=3):
    """A tiny scene: a red circle and a blue square on a pale ground."""
    ax.add_patch(FancyBboxPatch((x - size / 2, y - size / 2), size, size, boxstyle="round,pad=0,rounding_size=0.05",
                                facecolor="#F4F1EA", edgecolor=IMAGE, linewidth=1.2, zorder=z))
    ax.add_patch(Circle((x - size * 0.18, y + size * 0.08), size * 0.16, facecolor="#D1495B", edgecolor="none", zorder=z + 1))
    ax.add_patch(Rectangle((x + size * 0.04, y - size * 0.3), size * 0.28, size * 0.28, facecolor="#3D7DCA", edgecolor="none",
                           zorder=z + 1))


def wave_icon(ax, x, y, width=0.7, height=0.34, color=AUDIO, z=3):
    t = np.linspace(0, 1, 200)
    envelope = np.sin(np.pi * t) ** 0.7
    ax.plot(x - width / 2 + width * t, y + height / 2 * envelope * np.sin(2 * np.pi * 7 * t), color=color, lw=1.4, zorder=z,
            solid_capstyle="round")


def film_icon(ax, x, y, frames=3, size=0.26, color=VIDEO, z=3):
    left = x - frames * size / 2
    for i in range(frames):
        ax.add_patch(Rectangle((left + i * size, y - size / 2), size * 0.9, size, facecolor=tint(color, 0.75), edgecolor=color,
                               linewidth=1.0, zorder=z))
        ax.add_patch(Circle((left + i * size + size * 0.45, y - size * 0.12 + i * size * 0.12), size * 0.14, facecolor=color,
                            edgecolor="none", zorder=z + 1))


def text_icon(ax, x, y, text="“a red circle left of\na blue square”", size=8.5, color=TEXT, z=3):
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color=INK, style="italic", zorder=z + 1, linespacing=1.2,
            bbox={"boxstyle": "round,pad=0.3,rounding_size=0.15", "facecolor": tint(color, 0.88), "edgecolor": color, "lw": 1.1})


# --- (a) the four-part model of §3.1 with the formulas of §3.2 ---------------------------------------


def draw_framework() -> Figure:
    fig, ax = canvas(12.0, 5.4)
    top, row_img, row_txt = 4.85, 3.3, 1.8
    mid = (row_img + row_txt) / 2
    columns = {"extract": 2.95, "shared": 5.6, "fuse": 7.95, "head": 10.3}
    headers = [
        ("extract", "1  extractors", "cmlearn.encoders"),
        ("shared", "2  shared space", "cmlearn.shared"),
        ("fuse", "3  fuser", "cmlearn.fusion"),
        ("head", "4  task head", "cmlearn.heads"),
    ]
    for key, title, module in headers:
        label(ax, columns[key], top, title, size=12, color=INK, weight="bold")
        label(ax, columns[key], top - 0.36, module, size=9, color=MUTED, family="monospace")

    # inputs
    image_icon(ax, 0.7, row_img, size=0.72)
    label(ax, 0.7, row_img - 0.62, "image $x$", size=9.5)
    text_icon(ax, 0.7, row_txt + 0.08, "“a red circle\nleft of a\nblue square”", size=8)
    label(ax, 0.7, row_txt - 0.72, "caption $s$", size=9.5)

    # 1. extractors
    box(ax, columns["extract"], row_img, 2.5, 1.0, "CNN\n$f = \\mathrm{Conv}(x;\\, W_c) + b_c$", IMAGE, size=9.5)
    box(ax, columns["extract"], row_txt, 2.5, 1.0, "RNN or Transformer\n$g = \\mathrm{RNN}(s;\\, W_s) + b_s$", TEXT, size=9.5)
    arrow(ax, (1.1, row_img), (columns["extract"] - 1.27, row_img), IMAGE)
    arrow(ax, (1.45, row_txt), (columns["extract"] - 1.27, row_txt), TEXT)

    # 2. shared space: one space, a point per modality
    sx = columns["shared"]
    box(ax, sx, mid, 2.35, 2.9, "", SHARED, fill=0.9)
    label(ax, sx, mid + 1.1, "$h = \\mathrm{MLP}(f, g)$", size=9.5, color=INK)
    label(ax, sx, mid + 0.75, "or $\\mathrm{Attention}(f, g)$", size=9.5, color=INK)
    h_img, h_txt = (sx - 0.3, mid + 0.1), (sx - 0.15, mid - 0.45)
    for (x, y), color, name in [(h_img, IMAGE, "$h_1$"), (h_txt, TEXT, "$h_2$")]:
        ax.add_patch(Circle((x, y), 0.12, facecolor=color, edgecolor="white", lw=1.2, zorder=4))
        label(ax, x + 0.2, y, name, size=10.5, color=INK, ha="left")
    label(ax, sx, mid - 1.15, "one space, $D$ dims", size=9, color=MUTED)
    arrow(ax, (columns["extract"] + 1.27, row_img), (h_img[0] - 0.14, h_img[1]), IMAGE, rad=0.1, z=3)
    arrow(ax, (columns["extract"] + 1.27, row_txt), (h_txt[0] - 0.14, h_txt[1]), TEXT, rad=-0.1, z=3)

    # 3. fuser
    fx = columns["fuse"]
    box(ax, fx, mid, 1.95, 1.7, "$z = \\sum_{i=1}^{N} \\alpha_i h_i$\n\nor $z = \\mathrm{Fusion}(h)$", FUSE, size=10)
    arrow(ax, (h_img[0] + 0.55, h_img[1]), (fx - 1.0, mid + 0.3), IMAGE, z=3)
    arrow(ax, (h_txt[0] + 0.55, h_txt[1]), (fx - 1.0, mid - 0.3), TEXT, z=3)

    # 4. head
    hx = columns["head"]
    box(ax, hx, mid, 2.45, 1.0, "$y = \\mathrm{Linear}(z;\\, W_y)$\n$+\\ b_y$", HEAD, size=10)
    arrow(ax, (fx + 0.98, mid), (hx - 1.23, mid), INK)
    arrow(ax, (hx + 1.23, mid), (hx + 1.5, mid), INK)
    label(ax, hx + 1.55, mid, "$y$", size=12, color=INK, ha="left")
    label(ax, hx, mid - 0.78, "classes, or: a match?", size=9, color=MUTED)

    # shapes along the way
    ax.plot([0.3, 11.7], [0.9, 0.9], color=CARD_EDGE, lw=0.8, zorder=1)
    shapes = [(0.7, "(B, C, H, W)\n(B, T)"), (columns["extract"], "$f$: (B, $D_1$)  $g$: (B, $D_2$)"),
              (sx, "$h_i$: (B, D)"), (fx, "$z$: (B, $D_z$)"), (hx, "$y$: (B, C)")]
    for x, text in shapes:
        label(ax, x, 0.52, text, size=9, color=MUTED)
    return fig


# --- (b) two towers, the similarity matrix and the contrastive loss ----------------------------------


def draw_two_towers() -> Figure:
    fig, ax = canvas(12.6, 6.2)
    B, cell = 5, 0.44
    left, bottom = 6.2, 2.0  # the similarity matrix's lower-left corner
    right, top = left + B * cell, bottom + B * cell
    row_img, row_txt = bottom + B * cell / 2, 5.35

    # the image tower enters the matrix from the left (rows = images), the text tower from above (columns = captions)
    image_icon(ax, 0.65, row_img, size=0.62)
    box(ax, 1.95, row_img, 1.35, 0.7, "CNN $f(x)$", IMAGE, size=10)
    box(ax, 3.35, row_img, 1.0, 0.7, "$P_{\\mathrm{img}}$", IMAGE, size=11)
    box(ax, 4.5, row_img, 0.9, 0.7, "$\\cdot\\,/\\,\\Vert\\cdot\\Vert$", IMAGE, size=10.5)
    for a, b in [(0.98, 1.27), (2.63, 2.85), (3.85, 4.05), (4.95, left - 0.5)]:
        arrow(ax, (a, row_img), (b, row_img), IMAGE)
    label(ax, 5.45, row_img + 0.25, "$u_i$", size=11.5, color=IMAGE)
    label(ax, 2.7, row_img - 0.62, "image tower", size=9.5, color=IMAGE, weight="bold")

    text_icon(ax, 0.85, row_txt, "“a red circle\nleft of a\nblue square”", size=8)
    box(ax, 2.75, row_txt, 1.35, 0.7, "GRU $g(s)$", TEXT, size=10)
    box(ax, 4.15, row_txt, 1.0, 0.7, "$P_{\\mathrm{txt}}$", TEXT, size=11)
    box(ax, 5.3, row_txt, 0.9, 0.7, "$\\cdot\\,/\\,\\Vert\\cdot\\Vert$", TEXT, size=10.5)
    for a, b in [(1.62, 2.07), (3.43, 3.65), (4.65, 4.85)]:
        arrow(ax, (a, row_txt), (b, row_txt), TEXT)
    arrow(ax, (5.75, row_txt), ((left + right) / 2, top + 0.45), TEXT, rad=-0.35)
    label(ax, (left + right) / 2 + 0.3, top + 0.5, "$v_j$", size=11.5, color=TEXT)
    label(ax, 3.7, row_txt - 0.62, "text tower", size=9.5, color=TEXT, weight="bold")

    # the matrix: positives on the diagonal, the other captions of the batch as negatives
    rng = np.random.default_rng(3)
    sims = rng.uniform(0.05, 0.45, (B, B))
    np.fill_diagonal(sims, rng.uniform(0.75, 0.95, B))
    cmap = matplotlib.colormaps["Blues"]
    for i in range(B):
        for j in range(B):
            ax.add_patch(Rectangle((left + j * cell, top - (i + 1) * cell), cell, cell, facecolor=cmap(0.1 + 0.85 * sims[i, j]),
                                   edgecolor="white", linewidth=1.2, zorder=2))
        label(ax, left - 0.17, top - (i + 0.5) * cell, f"$u_{i + 1}$", size=9, color=IMAGE)
        label(ax, left + (i + 0.5) * cell, top + 0.15, f"$v_{i + 1}$", size=9, color=TEXT)
    row, col = 1, 3
    ax.add_patch(Rectangle((left, top - (row + 1) * cell), B * cell, cell, fill=False, edgecolor=IMAGE, lw=2.2, zorder=4))
    ax.add_patch(Rectangle((left + col * cell, bottom), cell, B * cell, fill=False, edgecolor=TEXT, lw=2.2, zorder=4,
                           linestyle=(0, (3, 2))))
    label(ax, (left + right) / 2, bottom - 0.55, "$S_{ij} = u_i \\cdot v_j \\,/\\, \\tau$   ($B \\times B$)", size=10.5, color=INK)

    # what the rows and the columns are
    nx = right + 0.3
    arrow(ax, (right + 0.05, top - (row + 0.5) * cell), (nx + 0.1, top - (row + 0.5) * cell + 0.5), IMAGE, lw=1.2)
    label(ax, nx + 0.15, top - 0.1, "row $i$: softmax over the\ncaptions; the right one is $j = i$", size=9.5, color=INK,
          ha="left", va="bottom")
    arrow(ax, (left + (col + 0.5) * cell, bottom - 0.02), (nx + 0.1, bottom - 0.25), TEXT, lw=1.2, rad=0.25)
    label(ax, nx + 0.15, bottom - 0.25, "column $j$: softmax\nover the images", size=9.5, color=INK, ha="left")
    label(ax, nx + 0.15, bottom + 1.2, "diagonal: the $B$ true pairs;\nthe rest of the batch\nserves as negatives",
          size=9.5, color=MUTED, ha="left")

    # the loss
    label(ax, 0.35, 1.95, "the symmetric InfoNCE loss, as in CLIP: cmlearn.contrastive.clip_loss", size=9, color=MUTED, ha="left")
    label(ax, 0.35, 1.25, "$\\mathcal{L}_{\\mathrm{img}\\to\\mathrm{txt}} = \\frac{1}{B}\\sum_{i}\\left(\\log\\sum_{k} e^{S_{ik}} - S_{ii}\\right)$",
          size=11.5, color=INK, ha="left")
    label(ax, 0.35, 0.5, "$\\mathcal{L} = \\frac{1}{2}\\left(\\mathcal{L}_{\\mathrm{img}\\to\\mathrm{txt}} + \\mathcal{L}_{\\mathrm{txt}\\to\\mathrm{img}}\\right)$",
          size=11.5, color=INK, ha="left")
    return fig


# --- (c) the fusion operators, one panel per entry of FUSION_REGISTRY --------------------------------

PANEL_W, PANEL_H = 2.5, 2.75


def _io(ax, x0, y0, n1=4, n2=4):
    """The two inputs h_1 (image) and h_2 (question) at the bottom of a panel; returns their centres."""
    y = y0 + 0.55
    vector(ax, x0 + 0.72, y, n1, IMAGE)
    vector(ax, x0 + 1.78, y, n2, TEXT)
    label(ax, x0 + 0.36, y, "$h_1$", size=9.5, color=IMAGE, ha="right")
    label(ax, x0 + 2.14, y, "$h_2$", size=9.5, color=TEXT, ha="left")
    return (x0 + 0.72, y), (x0 + 1.78, y)


def _out(ax, x, y, n=4, name="$z$"):
    vector(ax, x, y, n, FUSE, fill=0.55)
    label(ax, x + n * 0.08 + 0.2, y, name, size=10, color=INK, ha="left")


def panel_concat(ax, x0, y0):
    a, b = _io(ax, x0, y0)
    y = y0 + 1.55
    vector(ax, x0 + 0.93, y, 4, IMAGE)
    vector(ax, x0 + 1.57, y, 4, TEXT)
    label(ax, x0 + 2.05, y, "$z$", size=10, color=INK, ha="left")
    arrow(ax, (a[0], a[1] + 0.1), (x0 + 0.93, y - 0.1), IMAGE, lw=1.1)
    arrow(ax, (b[0], b[1] + 0.1), (x0 + 1.57, y - 0.1), TEXT, lw=1.1)


def panel_late(ax, x0, y0):
    a, b = _io(ax, x0, y0)
    y = y0 + 1.2
    for (x, _), c, name in [(a, IMAGE, "$P_1$"), (b, TEXT, "$P_2$")]:
        box(ax, x, y, 0.5, 0.32, name, c, size=9, lw=1.0)
        arrow(ax, (x, a[1] + 0.1), (x, y - 0.17), c, lw=1.1)
    box(ax, x0 + 1.25, y0 + 1.75, 0.5, 0.32, "mean", LINE, size=8.5, lw=1.0)
    arrow(ax, (a[0], y + 0.17), (x0 + 1.0, y0 + 1.75), IMAGE, lw=1.1)
    arrow(ax, (b[0], y + 0.17), (x0 + 1.5, y0 + 1.75), TEXT, lw=1.1)
    label(ax, x0 + 1.62, y0 + 1.75, "$y$", size=10, color=INK, ha="left")


def panel_weighted_sum(ax, x0, y0):
    a, b = _io(ax, x0, y0)
    y = y0 + 1.25
    label(ax, a[0] + 0.38, y - 0.25, "$\\alpha_1$", size=10, color=INK)
    label(ax, b[0] - 0.38, y - 0.25, "$\\alpha_2$", size=10, color=INK)
    ax.add_patch(Circle((x0 + 1.25, y), 0.15, facecolor="white", edgecolor=INK, lw=1.1, zorder=4))
    label(ax, x0 + 1.25, y, "+", size=11, color=INK)
    arrow(ax, (a[0], a[1] + 0.1), (x0 + 1.12, y - 0.05), IMAGE, lw=1.1)
    arrow(ax, (b[0], b[1] + 0.1), (x0 + 1.38, y - 0.05), TEXT, lw=1.1)
    arrow(ax, (x0 + 1.25, y + 0.15), (x0 + 1.25, y0 + 1.65), INK, lw=1.1)
    _out(ax, x0 + 1.25, y0 + 1.78)


def panel_gated(ax, x0, y0):
    a, b = _io(ax, x0, y0)
    y = y0 + 1.15
    for (x, _), c in [(a, IMAGE), (b, TEXT)]:
        box(ax, x, y, 0.52, 0.3, "tanh", c, size=8.5, lw=1.0)
        arrow(ax, (x, a[1] + 0.1), (x, y - 0.16), c, lw=1.1)
    box(ax, x0 + 1.25, y0 + 1.15, 0.42, 0.3, "$g$", FUSE, size=10, lw=1.0)
    arrow(ax, (a[0] + 0.1, a[1] + 0.1), (x0 + 1.12, y - 0.16), IMAGE, lw=0.9)
    arrow(ax, (b[0] - 0.1, b[1] + 0.1), (x0 + 1.38, y - 0.16), TEXT, lw=0.9)
    ax.add_patch(Circle((x0 + 1.25, y0 + 1.6), 0.13, facecolor="white", edgecolor=INK, lw=1.1, zorder=4))
    label(ax, x0 + 1.25, y0 + 1.6, "$\\odot$", size=10, color=INK)
    for x, c in [(a[0], IMAGE), (b[0], TEXT)]:
        arrow(ax, (x, y + 0.16), (x0 + 1.25 + (0.13 if x > x0 + 1.25 else -0.13), y0 + 1.6), c, lw=1.1)
    arrow(ax, (x0 + 1.25, y + 0.16), (x0 + 1.25, y0 + 1.47), FUSE, lw=1.1)
    arrow(ax, (x0 + 1.25, y0 + 1.73), (x0 + 1.25, y0 + 1.88), INK, lw=1.1, style="-")
    _out(ax, x0 + 1.25, y0 + 1.96, n=3)


def panel_tensor(ax, x0, y0):
    n, cell = 5, 0.15
    gx, gy = x0 + 0.9, y0 + 0.55  # the grid's lower-left corner
    for i in range(n):  # [h_1; 1] down the side (rows), [h_2; 1] along the top (columns)
        ax.add_patch(Rectangle((gx - 0.25, gy + i * cell), cell, cell, facecolor=tint(IMAGE, 0.35 if i else 0.95), edgecolor=IMAGE, lw=0.8))
        ax.add_patch(Rectangle((gx + i * cell, gy + n * cell + 0.1), cell, cell, facecolor=tint(TEXT, 0.35 if i < n - 1 else 0.95),
                               edgecolor=TEXT, lw=0.8))
        for j in range(n):
            bimodal = i > 0 and j < n - 1
            ax.add_patch(Rectangle((gx + j * cell, gy + i * cell), cell, cell, facecolor=tint(FUSE, 0.45 if bimodal else 0.85),
                                   edgecolor="white", lw=0.6))
    label(ax, gx - 0.42, gy + n * cell / 2, "$[h_1;1]$", size=8.5, color=IMAGE, ha="right")
    label(ax, gx + n * cell / 2, gy + n * cell + 0.4, "$[h_2;1]$", size=8.5, color=TEXT)
    arrow(ax, (gx + n * cell + 0.08, gy + n * cell / 2), (x0 + 2.05, gy + n * cell / 2), INK, lw=1.1)
    label(ax, x0 + 2.03, gy + n * cell / 2 + 0.22, "$W$", size=9.5, color=INK)
    vector(ax, x0 + 2.18, gy + n * cell / 2, 1, FUSE, fill=0.55)
    label(ax, x0 + 2.18, gy + n * cell / 2 - 0.25, "$z$", size=10, color=INK)


def panel_low_rank(ax, x0, y0):
    a, b = _io(ax, x0, y0)
    y = y0 + 1.2
    for (x, _), c, name in [(a, IMAGE, "$W_1^{(r)}$"), (b, TEXT, "$W_2^{(r)}$")]:
        box(ax, x, y, 0.62, 0.36, name, c, size=9, lw=1.0)
        arrow(ax, (x, a[1] + 0.1), (x, y - 0.19), c, lw=1.1)
    ax.add_patch(Circle((x0 + 1.25, y0 + 1.62), 0.13, facecolor="white", edgecolor=INK, lw=1.1, zorder=4))
    label(ax, x0 + 1.25, y0 + 1.62, "$\\odot$", size=10, color=INK)
    arrow(ax, (a[0], y + 0.19), (x0 + 1.12, y0 + 1.62), IMAGE, lw=1.1)
    arrow(ax, (b[0], y + 0.19), (x0 + 1.38, y0 + 1.62), TEXT, lw=1.1)
    label(ax, x0 + 1.25, y0 + 1.9, "$\\Sigma_{r}$", size=10, color=INK)
    arrow(ax, (x0 + 1.4, y0 + 1.65), (x0 + 1.8, y0 + 1.85), INK, lw=1.0)
    vector(ax, x0 + 2.0, y0 + 1.88, 2, FUSE, fill=0.55)


def panel_cross_attention(ax, x0, y0):
    context = tokens(ax, x0 + 1.25, y0 + 0.55, 6, IMAGE, gap=0.28)
    query = tokens(ax, x0 + 1.25, y0 + 1.5, 3, TEXT, gap=0.42)
    weights = np.array([[0.9, 0.2, 0.1, 0.5, 0.1, 0.2], [0.1, 0.3, 0.9, 0.2, 0.6, 0.1], [0.2, 0.1, 0.2, 0.3, 0.3, 0.9]])
    for q, row in zip(query, weights, strict=True):
        for c, w in zip(context, row, strict=True):
            ax.plot([q[0], c[0]], [q[1] - 0.08, c[1] + 0.08], color=IMAGE, alpha=0.15 + 0.75 * w, lw=0.6 + 1.6 * w, zorder=2)
    label(ax, x0 + 0.15, y0 + 0.55, "$c$", size=9.5, color=IMAGE, ha="left")
    label(ax, x0 + 0.15, y0 + 1.5, "$q$", size=9.5, color=TEXT, ha="left")
    arrow(ax, (x0 + 1.25, y0 + 1.6), (x0 + 1.25, y0 + 1.85), INK, lw=1.1)
    _out(ax, x0 + 1.25, y0 + 1.97, n=3)


def panel_self_attention(ax, x0, y0):
    y = y0 + 0.95
    xs = [x0 + 0.32 + i * 0.27 for i in range(8)]
    colors = [FUSE] + [IMAGE] * 4 + [TEXT] * 3
    rng = np.random.default_rng(7)
    for i in range(8):
        for j in range(i + 1, 8):
            height = 0.12 * (j - i)
            arc = matplotlib.patches.Arc(((xs[i] + xs[j]) / 2, y + 0.08), xs[j] - xs[i], 2 * height + 0.2, theta1=0, theta2=180,
                                         color=LINE, alpha=0.25 + 0.5 * rng.random(), lw=0.7, zorder=2)
            ax.add_patch(arc)
    for x, c in zip(xs, colors, strict=True):
        ax.add_patch(Circle((x, y), 0.08, facecolor=tint(c, 0.3), edgecolor=c, lw=0.9, zorder=3))
    label(ax, xs[0], y - 0.26, "CLS", size=7.5, color=INK)
    label(ax, (xs[1] + xs[4]) / 2, y - 0.26, "image", size=8, color=IMAGE)
    label(ax, (xs[5] + xs[7]) / 2, y - 0.26, "question", size=8, color=TEXT)
    arrow(ax, (xs[0], y + 0.1), (xs[0] + 0.5, y0 + 2.0), INK, lw=1.0, rad=-0.3)
    _out(ax, xs[0] + 0.8, y0 + 2.02, n=3)


def panel_meta_space(ax, x0, y0):
    img = tokens(ax, x0 + 0.72, y0 + 0.5, 4, IMAGE, gap=0.18, r=0.06)
    txt = tokens(ax, x0 + 1.78, y0 + 0.5, 3, TEXT, gap=0.18, r=0.06)
    slots = [(x0 + 0.75 + k * 0.33, y0 + 1.25) for k in range(4)]
    for k, (sx, sy) in enumerate(slots):
        ax.add_patch(Rectangle((sx - 0.09, sy - 0.09), 0.18, 0.18, facecolor=tint(SHARED, 0.4), edgecolor=SHARED, lw=0.9, zorder=3))
        for t in (img if k % 2 == 0 else txt):
            ax.plot([sx, t[0]], [sy - 0.09, t[1] + 0.06], color=SHARED, alpha=0.35, lw=0.7, zorder=2)
    label(ax, x0 + 0.25, y0 + 1.25, "$p_k$", size=9.5, color=SHARED)
    label(ax, x0 + 1.25, y0 + 0.8, "each slot reads every modality", size=7.5, color=MUTED)
    arrow(ax, (x0 + 1.25, y0 + 1.36), (x0 + 1.25, y0 + 1.82), INK, lw=1.1)
    _out(ax, x0 + 1.25, y0 + 1.95, n=3)


def panel_film(ax, x0, y0):
    # the question sets a scale and a shift for every channel of the image extractor's feature maps
    for k in range(3):
        ax.add_patch(Rectangle((x0 + 0.35 + k * 0.09, y0 + 0.55 + k * 0.09), 0.7, 0.7, facecolor=tint(IMAGE, 0.75 - 0.15 * k),
                               edgecolor=IMAGE, lw=0.9, zorder=2 + k))
    label(ax, x0 + 0.85, y0 + 0.37, "CNN feature maps $F$", size=8, color=IMAGE)
    vector(ax, x0 + 1.95, y0 + 0.55, 3, TEXT)
    label(ax, x0 + 1.95, y0 + 0.3, "$c$", size=9.5, color=TEXT)
    box(ax, x0 + 1.95, y0 + 1.15, 0.72, 0.34, "$\\gamma,\\ \\beta$", TEXT, size=9, lw=1.0)
    arrow(ax, (x0 + 1.95, y0 + 0.65), (x0 + 1.95, y0 + 0.97), TEXT, lw=1.1)
    arrow(ax, (x0 + 1.58, y0 + 1.15), (x0 + 1.27, y0 + 1.05), TEXT, lw=1.1)
    arrow(ax, (x0 + 1.0, y0 + 1.45), (x0 + 1.0, y0 + 1.85), INK, lw=1.1)
    _out(ax, x0 + 1.0, y0 + 1.97, n=3)


FUSION_PANELS: dict[str, tuple[str, str, Callable]] = {
    # registry name: (title, formula, drawing)
    "concat": ("concatenation", "$z = [h_1;\\, h_2]$", panel_concat),
    "late": ("late fusion", "$y = \\frac{1}{2}(P_1(h_1) + P_2(h_2))$", panel_late),
    "weighted_sum": ("weighted sum", "$z = \\sum_i \\alpha_i h_i$", panel_weighted_sum),
    "gated": ("gated (GMU)", "$z = \\sum_i g_i \\odot \\tanh(W_i h_i)$", panel_gated),
    "tensor": ("tensor (TFN)", "$z = W\\,\\mathrm{vec}([h_1;1] \\otimes [h_2;1])$", panel_tensor),
    "low_rank": ("low-rank (LMF)", "$z = \\sum_r (W_1^{(r)}[h_1;1]) \\odot (W_2^{(r)}[h_2;1])$", panel_low_rank),
    "cross_attention": ("cross-attention", "$u = q + \\mathrm{Attn}(q, c, c)$", panel_cross_attention),
    "self_attention": ("self-attention", "$z$ read from the CLS token", panel_self_attention),
    "meta_space": ("meta-space (ours)", "$s_{m,k} = p_k + \\mathrm{Attn}(p_k, X_m, X_m)$", panel_meta_space),
    "film": ("FiLM", "$\\gamma(c) \\odot F + \\beta(c)$", panel_film),
}


def fusion_names() -> list[str]:
    """The fusions the book has, in the registry's order (so a new fusion fails here until it is drawn)."""
    from cmlearn.fusion.registry import FUSION_REGISTRY

    missing = [name for name in FUSION_REGISTRY if name not in FUSION_PANELS]
    if missing:
        raise KeyError(f"book/figures/draw.py: no gallery panel for the fusion(s) {missing}; add them to FUSION_PANELS")
    return list(FUSION_REGISTRY)


def draw_fusion_gallery() -> Figure:
    names = fusion_names()
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, ax = canvas(cols * PANEL_W + 0.3, rows * PANEL_H + 0.55, scale=0.8)
    label(ax, 0.3, rows * PANEL_H + 0.3, "$h_1$: image (blue)   $h_2$: question (orange)   $z$: fused (ochre)   "
          "—  the names are those of cmlearn.build_model(fusion=...)", size=9.5, color=MUTED, ha="left")
    for k, name in enumerate(names):
        title, formula, drawing = FUSION_PANELS[name]
        in_row = min(cols, len(names) - (k // cols) * cols)  # a shorter last row is centred
        x0 = 0.15 + (k % cols + (cols - in_row) / 2) * PANEL_W
        y0 = (rows - 1 - k // cols) * PANEL_H + 0.12
        ax.add_patch(FancyBboxPatch((x0 + 0.06, y0 + 0.04), PANEL_W - 0.12, PANEL_H - 0.1, boxstyle="round,pad=0,rounding_size=0.1",
                                    facecolor="#F6F8FA", edgecolor=CARD_EDGE, lw=0.8, zorder=1))
        label(ax, x0 + PANEL_W / 2, y0 + PANEL_H - 0.3, title, size=11, color=INK, weight="bold")
        label(ax, x0 + PANEL_W / 2, y0 + PANEL_H - 0.52, f'"{name}"', size=8, color=MUTED, family="monospace")
        drawing(ax, x0, y0 + 0.05)
        label(ax, x0 + PANEL_W / 2, y0 + 0.22, formula, size=8.5 if len(formula) > 40 else 9.5, color=INK)
    return fig


# --- (d) the anchor-modality star of chapter 7 ------------------------------------------------------------


def draw_anchor_star() -> Figure:
    scale = 0.85
    fig, ax = canvas(8.6, 6.6, scale)
    centre = (4.3, 3.55)
    radius = 2.45
    others = [("text", TEXT, 90), ("audio", AUDIO, 210), ("video", VIDEO, 330)]
    where = {name: (centre[0] + radius * math.cos(math.radians(a)), centre[1] + radius * math.sin(math.radians(a)))
             for name, _, a in others}
    node_r, anchor_r = 0.5, 0.62

    def offset(p, q, distance, away_from=centre):
        """A point beside the middle of p–q, ``distance`` away from the line, on the side away from ``away_from``."""
        mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
        nx, ny = -(q[1] - p[1]), q[0] - p[0]
        norm = math.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        if (mx - away_from[0]) * nx + (my - away_from[1]) * ny < 0:
            nx, ny = -nx, -ny
        return mx + distance * nx, my + distance * ny

    def along(p, q):
        """The angle of the line p–q in degrees, turned so that text on it reads left to right."""
        angle = math.degrees(math.atan2(q[1] - p[1], q[0] - p[0]))
        return angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle

    # emergent pairs: compared after training, never trained together
    for a, b in [("text", "audio"), ("audio", "video"), ("text", "video")]:
        p, q = where[a], where[b]
        arrow(ax, p, q, LINE, lw=1.6, style="-", dashed=True, shrink=node_r * 72 * scale + 2, z=1)
        x, y = offset(p, q, 0.2)
        label(ax, x, y, f"{a} ↔ {b}: emergent", size=8.5, color=MUTED, rotation=along(p, q))
    # bound to the anchor by the contrastive loss on (image, m) pairs
    for name, color, _ in others:
        arrow(ax, centre, where[name], color, lw=3.2, style="-", shrink=node_r * 72 * scale, z=1)
        # the middle of the edge's visible part, between the two circles
        t = (anchor_r + (radius - node_r - anchor_r) / 2) / radius
        p = (centre[0] + t * (where[name][0] - centre[0]), centre[1] + t * (where[name][1] - centre[1]))
        x, y = offset((2 * p[0] - centre[0], 2 * p[1] - centre[1]), centre, 0.17, away_from=where["video" if name == "text" else "text"])
        label(ax, x, y, f"(image, {name})", size=8.5, color=color, rotation=along(centre, where[name]))

    ax.add_patch(Circle(centre, anchor_r, facecolor=tint(IMAGE, 0.85), edgecolor=IMAGE, lw=2.4, zorder=3))
    image_icon(ax, centre[0], centre[1] + 0.18, size=0.5, z=4)
    label(ax, centre[0], centre[1] - 0.3, "image", size=11, color=INK, weight="bold")
    label(ax, centre[0], centre[1] - 0.52, "(anchor)", size=9, color=IMAGE)
    for name, color, _ in others:
        x, y = where[name]
        ax.add_patch(Circle((x, y), node_r, facecolor=tint(color, 0.85), edgecolor=color, lw=2.0, zorder=3))
        if name == "text":
            ax.text(x, y + 0.14, "“seven”", ha="center", va="center", fontsize=10, style="italic", color=INK, zorder=4)
        elif name == "audio":
            wave_icon(ax, x, y + 0.14, width=0.6, height=0.28, z=4)
        else:
            film_icon(ax, x, y + 0.14, size=0.2, z=4)
        label(ax, x, y - 0.22, name, size=11, color=INK, weight="bold")

    # the loss and the legend
    label(ax, 4.3, 1.1, "$\\mathcal{L} = \\sum_{m \\neq a} \\frac{1}{2}\\left[\\mathrm{CE}(S^{am}, I) + \\mathrm{CE}((S^{am})^{\\top}, I)\\right],"
          "\\quad S^{am}_{ij} = h^{a}_i \\cdot h^{m}_j \\,/\\, \\tau_m$", size=11, color=INK)
    ax.plot([0.5, 1.0], [0.45, 0.45], color=INK, lw=3.0)
    label(ax, 1.1, 0.45, "trained, with the anchor", size=9.5, color=INK, ha="left")
    ax.plot([4.4, 4.9], [0.45, 0.45], color=LINE, lw=1.6, linestyle=(0, (4, 3)))
    label(ax, 5.0, 0.45, "emergent: never paired in training", size=9.5, color=INK, ha="left")
    return fig


# --- (e) the landing page: what the book is about ---------------------------------------------------


def draw_book_map() -> Figure:
    fig, ax = canvas(12.0, 5.4)
    label(ax, 6.0, 5.0, "One space where images, text, audio and video meet", size=14, color=INK,
          weight="bold")

    # modalities on the left
    rows = [4.0, 3.05, 2.1, 1.15]
    modalities = [("image", IMAGE), ("text", TEXT), ("audio", AUDIO), ("video", VIDEO)]
    for (name, color), y in zip(modalities, rows, strict=True):
        box(ax, 1.35, y, 2.2, 0.78, "", color, fill=0.9)
        label(ax, 0.5, y, name, size=11, color=INK, weight="bold", ha="left")
        if name == "image":
            image_icon(ax, 1.95, y, size=0.55)
        elif name == "text":
            ax.text(1.95, y, "“a red\ncircle …”", ha="center", va="center", fontsize=8.5, style="italic", color=INK)
        elif name == "audio":
            wave_icon(ax, 1.95, y, width=0.7, height=0.34)
        else:
            film_icon(ax, 1.95, y, size=0.22)

    # the shared space: matching items of every modality land close together
    cx, cy, r = 4.85, 2.6, 1.7
    ax.add_patch(Circle((cx, cy), r, facecolor=tint(SHARED, 0.9), edgecolor=SHARED, lw=1.8, zorder=1))
    label(ax, cx, cy + r - 0.35, "shared space", size=11, color=INK, weight="bold")
    rng = np.random.default_rng(11)
    for centre in [(-0.75, 0.35), (0.65, 0.5), (-0.3, -0.75), (0.75, -0.55)]:
        for color in (IMAGE, TEXT, AUDIO, VIDEO):
            dx, dy = rng.normal(0, 0.13, 2)
            ax.add_patch(Circle((cx + centre[0] + dx, cy + centre[1] + dy), 0.075, facecolor=color, edgecolor="white", lw=0.8,
                                zorder=3))
        ax.add_patch(Circle((cx + centre[0], cy + centre[1]), 0.36, fill=False, edgecolor=SHARED, lw=0.9, linestyle=(0, (2, 2)),
                            zorder=2))
    for (_, color), y in zip(modalities, rows, strict=True):
        arrow(ax, (2.5, y), (cx - r * 0.92, cy + (y - cy) * 0.5), color, lw=1.6, rad=0.0)
    label(ax, 1.35, 0.62, "extract (ch. 2), align (ch. 3)", size=9.5, color=MUTED)
    label(ax, cx, cy - r - 0.25, "a scene and its words land close together", size=9.5, color=MUTED)

    # what the space is for, and the chapters that do it
    uses = [
        ("search across modalities", "ch. 1, 3"),
        ("fuse into one answer", "ch. 4, 6, 9"),
        ("reason, zero-shot", "ch. 5"),
        ("more modalities; weak pairs", "ch. 7, 8"),
        ("real pictures, real words", "ch. 11"),
        ("measure it, over seeds", "ch. 10, app."),
    ]
    ys = np.linspace(4.2, 0.95, len(uses))
    for (text, chapters), y in zip(uses, ys, strict=True):
        box(ax, 9.5, y, 4.5, 0.58, "", FUSE if "measure" not in text else HEAD, fill=0.9)
        label(ax, 7.4, y, text, size=10, color=INK, ha="left")
        label(ax, 11.6, y, chapters, size=9, color=MUTED, ha="right")
        arrow(ax, (cx + r * 0.95, cy + (y - cy) * 0.45), (7.22, y), LINE, lw=1.3)
    label(ax, 6.0, 0.3, "every chapter is a notebook that trains and measures something",
          size=9.5, color=MUTED)
    return fig


# --- the registry -----------------------------------------------------------------------------------------

FIGURES: dict[str, BookFigure] = {
    "book_map": BookFigure(
        draw_book_map, page="book/intro", after=None,
        alt="Diagram: four modalities (image, text, audio, video) on the left, each with an arrow into a circle labelled "
            "shared space, in which dots of the four colours form small groups; arrows lead from the circle to five uses "
            "with their chapters: search across modalities (chapters 1 and 3), fuse into one answer (4, 6, 9), "
            "reason and zero-shot transfer (5), more modalities and weak pairs (7, 8), real pictures and their names (11), "
            "and measuring it over seeds (10 and the appendix).",
        caption="What this book is about: each modality gets its own feature extractor, and all of them are mapped into one "
                "shared space where a scene and the words that describe it land close together. The chapters use that "
                "space to search, to fuse, to reason and to bind more modalities, and measure every result over seeds.",
    ),
    "two_towers": BookFigure(
        draw_two_towers, page="notebooks/03_alignment", after="cell-10",
        alt="Diagram of a two-tower model: an image passes through a CNN f, a projection P_img and normalisation to "
            "become u_i; a caption passes through a GRU g, a projection P_txt and normalisation to become v_j. The u_i "
            "index the rows and the v_j the columns of a 5 by 5 similarity matrix S_ij = u_i · v_j / tau whose diagonal, "
            "the true pairs, is dark. One row is outlined (softmax over the captions) and one column (softmax over the "
            "images). Below: the image-to-text loss and the symmetric loss, the mean of both directions.",
        caption="Two towers and the contrastive loss. Each modality has its own extractor and projection into the shared "
                "space; a batch of $B$ pairs gives a $B \\times B$ matrix of similarities. Each row is a classification "
                "over the captions and each column one over the images, with the true pair on the diagonal; the loss "
                "is the mean of the two cross-entropies (`cmlearn.contrastive.clip_loss`).",
    ),
    "fusion_gallery": BookFigure(
        draw_fusion_gallery, page="notebooks/04_fusion", after="cell-13",
        alt="A gallery of ten small diagrams, one per fuser, each showing how the image feature h_1 and the question "
            "feature h_2 become z: concatenation joins the two vectors; late fusion averages two separate predictions; "
            "the weighted sum adds alpha-weighted vectors; the gated unit multiplies tanh features by a gate computed from "
            "both; tensor fusion forms the outer product of [h_1;1] and [h_2;1]; low-rank fusion multiplies two "
            "projections elementwise and sums over R ranks; cross-attention lets question tokens attend to image cells; "
            "self-attention lets all tokens of both modalities attend to each other and reads z from a CLS token; "
            "meta-space fusion lets learned slots read every modality; FiLM scales and shifts the image feature maps "
            "with parameters computed from the question.",
        caption="The ten fusers of this chapter at a glance, in the order of `cmlearn.build_model`'s fusion names: how "
                "the image's $h_1$ and the question's $h_2$ become one $z$ (late fusion averages two predictions $y$ "
                "instead). The sections below write out each formula and check it in PyTorch.",
    ),
    "framework": BookFigure(
        draw_framework, page="notebooks/06_framework", after="cell-03",
        alt="Diagram of the four-part model from left to right: an image x and a caption s enter feature extractors "
            "(a CNN, f = Conv(x; W_c) + b_c, and an RNN or Transformer, g = RNN(s; W_s) + b_s); both features are mapped "
            "into one shared space, h = MLP(f, g) or Attention(f, g), as points h_1 and h_2; a fuser combines them, "
            "z = sum of alpha_i h_i or z = Fusion(h); a task head gives y = Linear(z; W_y) + b_y. The tensor shapes "
            "(B, C, H, W), (B, D), (B, D_z) and (B, C) are written under each stage, and the cmlearn module of each part "
            "above it.",
        caption="The article's framework (§3.1) with the formulas of §3.2: extractors, shared space, fuser and task "
                "head. In `cmlearn` they are the four parts of `FourPartModel`, each in its own module (above each "
                "part), with the shapes below.",
    ),
    "anchor_star": BookFigure(
        draw_anchor_star, page="notebooks/07_more_modalities", after="cell-05",
        alt="A star diagram: an image node in the centre is joined by thick solid edges to text, audio and video nodes "
            "around it, labelled (image, text), (image, audio) and (image, video): the pairs each is trained on. Dashed edges join "
            "text, audio and video to one another: these pairs are compared after training but never trained together. "
            "Above: the loss, a sum over the non-anchor modalities of the symmetric contrastive loss with the anchor.",
        caption="Binding modalities to an anchor (ImageBind's idea): each modality is trained only on pairs with images "
                "(solid edges), with the symmetric contrastive loss of chapter 3. The pairs between the other modalities "
                "(dashed) are never trained, yet can be compared afterwards. This chapter binds audio and text; video is "
                "bound the same way in ImageBind.",
    ),
}


def render(fig: Figure, fmt: str = "svg") -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {}
    # a PNG preview is as wide as the SVG shows in the page's column
    dpi = min(COLUMN_PX / fig.get_figwidth(), 96) if fmt == "png" else None
    fig.savefig(buffer, format=fmt, metadata=metadata, dpi=dpi)
    return buffer.getvalue()


def draw_all(folder: Path = HERE, png_folder: Path | None = None) -> list[str]:
    """Write every figure as ``folder/<name>.svg``; return the names whose file changed."""
    changed = []
    with matplotlib.rc_context(RC):
        for name, figure in FIGURES.items():
            fig = figure.draw()
            data = render(fig)
            path = folder / f"{name}.svg"
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
                changed.append(name)
            if png_folder is not None:
                png_folder.mkdir(parents=True, exist_ok=True)
                (png_folder / f"{name}.png").write_bytes(render(fig, "png"))
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, help="also write PNG previews into this folder")
    args = parser.parse_args()
    changed = draw_all(HERE, args.png)
    print(f"{len(FIGURES)} figures in {HERE}; changed: {', '.join(changed) or 'none'}")


if __name__ == "__main__":
    main()
