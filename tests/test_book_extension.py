"""book/_ext/cmlearn_book.py: the pieces that make the rendered book readable offline, checked without building it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

ROOT = Path(__file__).resolve().parent.parent


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ext = load("cmlearn_book_for_test", ROOT / "book" / "_ext" / "cmlearn_book.py")


def tqdm_state(left: str, value: float, maximum: float, right: str) -> dict:
    """The widget state a tqdm notebook bar leaves in an executed notebook (as nbclient saves it)."""

    def model(name, **state):
        return {"model_name": name, "state": state}

    return {
        "box": model("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]),
        "left": model("HTMLModel", value=left),
        "bar": model("FloatProgressModel", min=0.0, max=maximum, value=value, bar_style="success"),
        "right": model("HTMLModel", value=right),
    }


def test_a_finished_tqdm_bar_becomes_its_text():
    state = tqdm_state("Experiment\u20071,\u2007seeds:\u2007100%", 3.0, 3.0, "\u20073/3\u2007[00:56&lt;00:00,\u200718.66s/it]")
    assert ext.tqdm_text("box", state) == "Experiment 1, seeds: 100%|██████████| 3/3 [00:56<00:00, 18.66s/it]"


def test_an_unfinished_bar_shows_how_far_it_got():
    state = tqdm_state("training:\u200740%", 40.0, 100.0, "\u200740/100")
    assert ext.tqdm_text("box", state) == "training: 40%|████      | 40/100"


def test_other_widgets_are_left_alone():
    state = tqdm_state("a", 1, 1, "b")
    state["slider"] = {"model_name": "IntSliderModel", "state": {}}
    assert ext.tqdm_text("slider", state) is None
    assert ext.tqdm_text("missing", state) is None
    state["left"]["model_name"] = "LabelModel"
    assert ext.tqdm_text("box", state) is None


def test_mathjax_comes_from_an_installed_package():
    es5 = ext.mathjax_release()
    assert (es5 / ext.MATHJAX_ENTRY).is_file()
    assert (es5 / "output" / "chtml" / "fonts" / "woff-v2").is_dir(), "MathJax's CHTML fonts are missing"
    assert (es5 / "input" / "tex" / "extensions").is_dir(), "MathJax's TeX extensions (loaded on demand) are missing"
