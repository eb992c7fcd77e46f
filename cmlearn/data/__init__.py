"""Datasets of the book, all made offline from a seed (issue 3).

Used in chapters 1-12.

One module per modality family:

* :mod:`cmlearn.data.scenes` - coloured shapes + captions (image, text); chapter 1 onwards.
* :mod:`cmlearn.data.questions` - questions over scenes with class answers (fusion, reasoning).
* :mod:`cmlearn.data.audio` - handwritten digits + synthesized sound + digit word (3 modalities).
* :mod:`cmlearn.data.video` - 8-frame clips of moving shapes with motion captions.
* :mod:`cmlearn.data.folders` - real image-caption folders (COCO JSON, Flickr CSV/TSV).
* :mod:`cmlearn.data.openmoji` - real pictures and words offline: OpenMoji's emoji with their Unicode names.
* :mod:`cmlearn.data.text` - tokenizer and collate function for captions.
* :mod:`cmlearn.data.show` - matplotlib viewers for a few samples of each modality.

Submodules are imported on first use so ``import cmlearn.data`` stays cheap.
"""
import importlib

_SUBMODULES = ("scenes", "scene_text", "scene_render", "scene_corruptions", "questions", "audio", "video", "folders", "openmoji", "text", "show", "common")
_EXPORTS = {"make_scenes": "scenes", "SceneDataset": "scenes", "make_questions": "questions",
            "QuestionDataset": "questions", "make_audio_digits": "audio", "AudioDigitsDataset": "audio",
            "make_motion_clips": "video", "MotionClipDataset": "video",
            "ImageCaptionFolder": "folders"}

__all__ = list(_SUBMODULES) + list(_EXPORTS)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
