"""Helpers for the chapter notebooks.

``glue`` hands a value computed in a chapter to the book's prose (MyST-NB's ``{glue:text}``
role), so that every number the book states comes from the run that rendered it. The book
build has MyST-NB; a reader's Colab runtime usually does not, and there ``glue`` does nothing:
the value is printed by the chapter's own cells instead.
"""

from __future__ import annotations

from typing import Any

try:  # present when the book is built (jupyter-book installs myst-nb)
    from myst_nb import glue as _myst_glue
except ImportError:  # Colab, plain Jupyter, a script
    _myst_glue = None


def glue(name: str, value: Any, display: bool = False) -> None:
    """Make ``value`` available to the book's text as ``{glue:text}`name```.

    Without MyST-NB installed this is a no-op (and shows ``value`` when ``display`` is True).
    """
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)
