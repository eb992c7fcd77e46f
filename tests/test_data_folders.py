"""Tests for cmlearn.data.folders on tiny fixture folders built with PIL."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cmlearn.data.folders import ImageCaptionFolder, read_caption_rows

COLOURS = {"red.jpg": (220, 30, 30), "green.png": (30, 200, 30), "blue.jpg": (30, 30, 220), "white.png": (250, 250, 250)}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "images").mkdir()
    for name, rgb in COLOURS.items():
        Image.new("RGB", (40 + len(name), 30), rgb).save(tmp_path / "images" / name)
    captions = {name: [f"a {name.split('.')[0]} picture", f"something {name.split('.')[0]}"] for name in COLOURS}
    coco = {"images": [{"id": 10 + k, "file_name": n} for k, n in enumerate(COLOURS)],
            "annotations": [{"image_id": 10 + k, "caption": c} for k, n in enumerate(COLOURS) for c in captions[n]]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    csv_lines = ["image,caption"] + [f'{n},"{c}, with a comma"' for n in COLOURS for c in captions[n]]
    (tmp_path / "captions.csv").write_text("\n".join(csv_lines) + "\n")
    tsv_lines = [f"{n}#{k}\t{c}" for n in COLOURS for k, c in enumerate(captions[n])]
    (tmp_path / "token.tsv").write_text("\n".join(tsv_lines) + "\n")
    pipe = ["image_name| comment_number| comment"] + [f"{n}| {k}| {c}" for n in COLOURS for k, c in enumerate(captions[n])]
    (tmp_path / "results.csv").write_text("\n".join(pipe) + "\n")
    return tmp_path


@pytest.mark.parametrize("captions_file", ["captions.json", "captions.csv", "token.tsv", "results.csv"])
def test_all_layouts_load_the_same_pairs(folder, captions_file):
    ds = ImageCaptionFolder(folder, captions_file, image_dir="images", image_size=16)
    assert len(ds) == 8 and len(ds.image_files) == 4
    item = ds[2]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    name = ds.image_files[item["image_index"]].name
    assert name.split(".")[0] in item["caption"]
    expected = torch.tensor(COLOURS[name], dtype=torch.float32) / 255
    assert torch.allclose(item["image"].mean(dim=(1, 2)), expected, atol=0.03)  # the right image, decoded
    assert "8 captions of 4 images" in ds.describe()


def test_csv_caption_with_quoted_comma_is_kept_whole(folder):
    rows = read_caption_rows(folder / "captions.csv")
    assert rows[0][1] == "a red picture, with a comma" and rows[0][2].endswith("line 2")


def test_split_keeps_all_captions_of_an_image_together(folder):
    ds = ImageCaptionFolder(folder, "captions.json", image_dir="images")
    train, test = ds.split((0.5, 0.5), seed=0)
    assert len(train) + len(test) == len(ds)
    assert not set(train.image_index.tolist()) & set(test.image_index.tolist())
    again = ds.split((0.5, 0.5), seed=0)[0]
    assert again.captions == train.captions


def test_max_images_is_seeded(folder):
    a = ImageCaptionFolder(folder, "captions.csv", image_dir="images", max_images=2, seed=1)
    b = ImageCaptionFolder(folder, "captions.csv", image_dir="images", max_images=2, seed=1)
    assert len(a.image_files) == 2 and len(a) == 4 and a.image_files == b.image_files
    assert len({tuple(ImageCaptionFolder(folder, "captions.csv", image_dir="images", max_images=2, seed=s).image_files)
                for s in range(6)}) > 1


def test_missing_image_names_file_and_row(folder):
    (folder / "images" / "blue.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"blue\.jpg.*captions\.csv: line 6"):
        ImageCaptionFolder(folder, "captions.csv", image_dir="images")


def test_unreadable_image_names_file(folder):
    (folder / "images" / "green.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match=r"green\.png cannot be read as an image"):
        ImageCaptionFolder(folder, "captions.json", image_dir="images")
    lazy = ImageCaptionFolder(folder, "captions.json", image_dir="images", verify_images=False)
    with pytest.raises(ValueError, match=r"green\.png"):
        lazy[2]


def test_bad_caption_rows_name_file_and_line(folder):
    (folder / "bad.csv").write_text("image,caption\nred.jpg,a red picture\nblue.jpg\n")
    with pytest.raises(ValueError, match=r"bad\.csv: line 3.*1 field"):
        ImageCaptionFolder(folder, "bad.csv", image_dir="images")
    (folder / "empty_caption.csv").write_text("image,caption\nred.jpg,\n")
    with pytest.raises(ValueError, match=r"line 2.*empty caption"):
        ImageCaptionFolder(folder, "empty_caption.csv", image_dir="images")
    (folder / "header.csv").write_text("picture,words,extra\nred.jpg,a red picture,x\n")
    with pytest.raises(ValueError, match=r"header.*image column"):
        ImageCaptionFolder(folder, "header.csv", image_dir="images")
    coco = json.loads((folder / "captions.json").read_text())
    coco["annotations"].append({"image_id": 99, "caption": "ghost"})
    (folder / "ghost.json").write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r"annotations\[8\] refers to image_id 99"):
        ImageCaptionFolder(folder, "ghost.json", image_dir="images")
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ImageCaptionFolder(folder, "broken.json", image_dir="images")


def test_bad_arguments(folder):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ImageCaptionFolder(folder, "nope.csv")
    with pytest.raises(ValueError, match="unknown layout 'xml'"):
        ImageCaptionFolder(folder, "captions.csv", image_dir="images", layout="xml")
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        ImageCaptionFolder(folder, "captions.csv", image_dir="images", image_size=-8)


def test_custom_transform_and_dataloader(folder):
    ds = ImageCaptionFolder(folder, "captions.json", image_dir="images",
                            transform=lambda im: torch.from_numpy(np.array(im.resize((8, 8)))).permute(2, 0, 1))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 8, 8) and len(batch["caption"]) == 4


def test_show_image_captions(folder):
    import matplotlib.pyplot as plt

    from cmlearn.data.show import show_samples
    ds = ImageCaptionFolder(folder, "captions.json", image_dir="images")
    fig = show_samples(ds, n=3)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.images]
    assert titles == ds.captions[:3]
    plt.close(fig)
