"""Real image-caption data from a folder: COCO-style captions JSON or Flickr-style CSV / TSV.

Nothing is downloaded here; point :class:`ImageCaptionFolder` at data you already have.
Every caption row is checked when the folder is opened: a missing image file, an unreadable
image or a malformed row raises an error naming the file and row - rows are never skipped.

Supported layouts (``layout="auto"`` picks by the captions file's extension):

* ``"coco"``: a JSON file ``{"images": [{"id", "file_name"}, ...], "annotations":
  [{"image_id", "caption"}, ...]}`` (e.g. ``annotations/captions_val2017.json``).
* ``"csv"`` / ``"tsv"``: a header row with an image column (``image``, ``image_name``,
  ``file_name``, ``filename``) and a caption column (``caption``, ``comment``, ``text``),
  e.g. Kaggle's Flickr8k ``captions.txt`` (CSV) or Flickr30k ``results.csv`` (``|``-separated).
  Header-less two-column TSV such as the original ``Flickr8k.token.txt``
  (``1000268201_693b08cb0e.jpg#0<TAB>A child ...``) works too; the ``#k`` suffix is dropped.

In Colab (with internet)::

    # Flickr8k: the Kaggle dataset "adityajn105/flickr8k" unpacks to Images/ and captions.txt
    !kaggle datasets download -d adityajn105/flickr8k && unzip -q flickr8k.zip -d flickr8k
    ds = ImageCaptionFolder("flickr8k", "captions.txt", image_dir="Images", max_images=2000)

    # COCO 2017 validation captions (5,000 images, 1 GB)
    !wget -q http://images.cocodataset.org/zips/val2017.zip http://images.cocodataset.org/annotations/annotations_trainval2017.zip
    !unzip -q val2017.zip -d coco && unzip -q annotations_trainval2017.zip -d coco
    ds = ImageCaptionFolder("coco", "annotations/captions_val2017.json", image_dir="val2017", max_images=2000)

    train, val, test = ds.split((0.8, 0.1, 0.1))   # all captions of an image stay together

Chapter 11 (``11_real_emoji``) is the book's "try it on real data" chapter: its last section writes emoji and their
names as a COCO folder with :func:`write_coco_folder`, reads it back with :class:`ImageCaptionFolder`, and runs the
chapter's pipeline on it; its ``image_folder`` parameter points that section at any such folder (your own photos).
Used in chapter 11.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from cmlearn.data.common import group_split

__all__ = ["ImageCaptionFolder", "default_transform", "read_caption_rows", "write_coco_folder"]

_IMAGE_COLUMNS = ("image", "image_name", "file_name", "filename", "image_file")
_CAPTION_COLUMNS = ("caption", "comment", "text", "sentence")


def default_transform(image_size: int = 64):
    """Resize the short side to `image_size`, center-crop, to a (3, H, W) float tensor in [0, 1]."""
    from torchvision import transforms  # imported here: torchvision takes ~1 s to import

    return transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size),
                               transforms.ToTensor()])


def write_coco_folder(root, images: torch.Tensor, captions, image_dir: str = "images",
                      captions_file: str = "captions.json", file_names=None) -> Path:
    """Write images and their captions as a COCO-style folder that :class:`ImageCaptionFolder` reads back.

    Args:
        root: the folder to write (created if needed).
        images: (N, 3, H, W) uint8 (0-255) or float (0-1) RGB images, saved as PNG files in ``root/image_dir``.
        captions: N captions, one string per image or a list of strings per image.
        file_names: N file names (default ``000000.png``, ...).

    Returns:
        the path of the captions file, ``{"images": [{"id", "file_name"}], "annotations": [{"id", "image_id", "caption"}]}``.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N, 3, H, W), got {getattr(images, 'shape', type(images).__name__)}")
    if len(captions) != len(images):
        raise ValueError(f"expected one caption (or list of captions) per image: {len(images)} images, {len(captions)} captions")
    names = [f"{i:06d}.png" for i in range(len(images))] if file_names is None else list(file_names)
    if len(names) != len(images) or len(set(names)) != len(names):
        raise ValueError(f"expected {len(images)} distinct file names, got {len(names)} ({len(set(names))} distinct)")
    folder = Path(root) / image_dir
    folder.mkdir(parents=True, exist_ok=True)
    pixels = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
    entries, annotations = [], []
    for i, (name, caption) in enumerate(zip(names, captions)):
        Image.fromarray(pixels[i].permute(1, 2, 0).cpu().numpy()).save(folder / name)
        entries.append({"id": i, "file_name": name})
        for text in [caption] if isinstance(caption, str) else list(caption):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"image {i} ({name}): expected non-empty caption strings, got {text!r}")
            annotations.append({"id": len(annotations), "image_id": i, "caption": text})
    path = Path(root) / captions_file
    path.write_text(json.dumps({"images": entries, "annotations": annotations}, ensure_ascii=False, indent=0), encoding="utf-8")
    return path


def _read_coco(path: Path) -> list[tuple[str, str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); expected a COCO captions file") from err
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError(f"{path}: expected a COCO captions JSON object with 'images' and 'annotations'")
    files = {}
    for k, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or "id" not in entry or not entry.get("file_name"):
            raise ValueError(f"{path}: images[{k}] = {entry!r}; expected {{'id': ..., 'file_name': ...}}")
        files[entry["id"]] = entry["file_name"]
    rows = []
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{k}]"
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise ValueError(f"{where} = {ann!r}; expected {{'image_id': ..., 'caption': str}}")
        if ann["image_id"] not in files:
            raise ValueError(f"{where} refers to image_id {ann['image_id']!r}, which is not listed in 'images'")
        if not ann["caption"].strip():
            raise ValueError(f"{where} has an empty caption")
        rows.append((files[ann["image_id"]], ann["caption"].strip(), where))
    return rows


def _read_table(path: Path, delimiter: str | None) -> list[tuple[str, str, str]]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines:
        raise ValueError(f"{path}: empty caption file")
    if delimiter is None:
        counts = {d: lines[0].count(d) for d in ("\t", "|", ",")}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    reader = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip().lower() for h in reader[0]]
    image_col = next((header.index(c) for c in _IMAGE_COLUMNS if c in header), None)
    caption_col = next((header.index(c) for c in _CAPTION_COLUMNS if c in header), None)
    if image_col is None and caption_col is None and len(header) == 2:
        image_col, caption_col, start = 0, 1, 0            # header-less "file#k<TAB>caption"
    elif image_col is None or caption_col is None:
        raise ValueError(f"{path}: line 1 header {reader[0]!r} needs an image column (one of {_IMAGE_COLUMNS}) "
                         f"and a caption column (one of {_CAPTION_COLUMNS}), separated by {delimiter!r}")
    else:
        start = 1
    rows = []
    for line_no, cells in enumerate(reader[start:], start=start + 1):
        if not cells or not any(c.strip() for c in cells):
            continue                                         # blank line: not a caption row
        where = f"{path}: line {line_no}"
        if len(cells) <= max(image_col, caption_col):
            raise ValueError(f"{where}: {delimiter.join(cells)!r} has {len(cells)} field(s); expected an image name "
                             f"and a caption separated by {delimiter!r}")
        if len(cells) > len(header) and start == 1 and caption_col == len(header) - 1:
            cells = cells[:caption_col] + [delimiter.join(cells[caption_col:])]   # unquoted commas in a caption
        image, caption = cells[image_col].strip(), cells[caption_col].strip()
        if start == 0:
            image = image.split("#")[0]
        if not image or not caption:
            raise ValueError(f"{where}: {delimiter.join(cells)!r} has an empty {'image name' if not image else 'caption'}")
        rows.append((image, caption, where))
    return rows


def read_caption_rows(captions_file, layout: str = "auto", delimiter: str | None = None) -> list[tuple[str, str, str]]:
    """Parse a captions file into (image file name, caption, "file: row") triples, in file order."""
    path = Path(captions_file)
    if not path.is_file():
        raise FileNotFoundError(f"captions file {path} does not exist")
    if layout == "auto":
        layout = "coco" if path.suffix.lower() == ".json" else "tsv" if path.suffix.lower() == ".tsv" else "csv"
    if layout == "coco":
        rows = _read_coco(path)
    elif layout in ("csv", "tsv"):
        rows = _read_table(path, delimiter if delimiter is not None else ("\t" if layout == "tsv" else None))
    else:
        raise ValueError(f"unknown layout {layout!r}; expected 'auto', 'coco', 'csv' or 'tsv'")
    if not rows:
        raise ValueError(f"{path}: no caption rows found")
    return rows


class ImageCaptionFolder(Dataset):
    """(image, caption) pairs from a folder of images and a captions file.

    Args:
        root: dataset folder.
        captions_file: captions file, relative to `root` (or absolute).
        image_dir: folder holding the images, relative to `root` ("" = root itself).
        layout: "auto", "coco", "csv" or "tsv" (see module docstring).
        transform: callable PIL image -> tensor; default :func:`default_transform` (image_size).
        image_size: side of the default transform's square output (3, image_size, image_size).
        max_images: keep the captions of at most this many images (a seeded random choice).
        seed: seed of that choice.
        verify_images: open every kept image once (header + decode check) so broken files fail now.
        delimiter: force the CSV / TSV delimiter (default: sniffed from the header line).

    Attributes:
        image_files: list of M image paths; captions: list of N strings; image_index: (N,) long
        index into image_files for each caption. ``ds[i]`` -> dict(image=(3, H, W) tensor,
        caption=str, index=i, image_index=int).

    Raises:
        FileNotFoundError: captions file or a referenced image is missing (names both).
        ValueError: a malformed caption row or an unreadable image (names file and row).
    """

    def __init__(self, root, captions_file, image_dir: str = "", layout: str = "auto", transform=None,
                 image_size: int = 64, max_images: int | None = None, seed: int = 0,
                 verify_images: bool = True, delimiter: str | None = None):
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        if max_images is not None and (not isinstance(max_images, int) or max_images <= 0):
            raise ValueError(f"max_images must be a positive int or None, got {max_images!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        rows = read_caption_rows(self.root / captions_file, layout, delimiter)
        names = list(dict.fromkeys(r[0] for r in rows))            # unique, in file order
        if max_images is not None and max_images < len(names):
            keep = np.sort(np.random.default_rng(seed).choice(len(names), max_images, replace=False))
            names = [names[k] for k in keep]
        position = {name: k for k, name in enumerate(names)}
        image_root = self.root / image_dir
        first_row = {}
        for name, _, where in rows:
            first_row.setdefault(name, where)
        for name in names:
            if not (image_root / name).is_file():
                raise FileNotFoundError(f"image {image_root / name} (referenced at {first_row[name]}) does not exist")
        self.image_files = [image_root / name for name in names]
        kept = [(position[name], caption) for name, caption, _ in rows if name in position]
        self.captions = [caption for _, caption in kept]
        self.image_index = torch.tensor([k for k, _ in kept], dtype=torch.long)
        self.transform = transform if transform is not None else default_transform(image_size)
        self.config = dict(root=str(self.root), captions_file=str(captions_file), image_dir=image_dir,
                           layout=layout, image_size=image_size, max_images=max_images, seed=seed)
        if verify_images:
            for path in self.image_files:
                self._open(path)

    @staticmethod
    def _open(path: Path) -> Image.Image:
        try:
            with Image.open(path) as img:
                img.load()
                return img.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ValueError(f"image {path} cannot be read as an image ({err}); expected a JPEG/PNG/... file") from err

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> dict:
        """dict(image=transform(PIL image), caption=str, index=int, image_index=int)."""
        k = int(self.image_index[i])
        return dict(image=self.transform(self._open(self.image_files[k])), caption=self.captions[i],
                    index=int(i), image_index=k)

    def subset(self, indices) -> ImageCaptionFolder:
        """A view holding the caption rows at `indices` (same image_files list)."""
        out = object.__new__(ImageCaptionFolder)
        out.__dict__.update(self.__dict__)
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        out.captions = [self.captions[i] for i in idx.tolist()]
        out.image_index = self.image_index[idx]
        return out

    def split_indices(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[np.ndarray, ...]:
        """Caption row numbers of disjoint random subsets by image: all captions of one image land in one subset."""
        return tuple(group_split(self.image_index.numpy(), fractions, seed))

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[ImageCaptionFolder, ...]:
        """Disjoint random subsets by image: all captions of one image land in the same subset."""
        return tuple(self.subset(ix) for ix in self.split_indices(fractions, seed))

    def describe(self) -> str:
        c = self.config
        n_images = len(torch.unique(self.image_index))
        return "\n".join([
            f"ImageCaptionFolder: {len(self)} captions of {n_images} images ({len(self) / max(n_images, 1):.1f} per image)",
            f"  root {c['root']}, captions {c['captions_file']} (layout {c['layout']}), images in '{c['image_dir']}'",
            f"  transform: {self.transform}".replace("\n", " "),
            f"  max_images={c['max_images']}, seed={c['seed']}"])

    def __repr__(self) -> str:
        return f"ImageCaptionFolder(root={self.config['root']!r}, captions={len(self)}, images={len(torch.unique(self.image_index))})"
