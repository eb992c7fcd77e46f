"""cmlearn.scripts.train_ddp: two gloo processes under torchrun against one process on the full batch."""

import json

import pytest
import torch
from torch import nn

from cmlearn.contrastive import clip_loss
from cmlearn.data.scenes import RELATIONS, distinct_description_gallery, make_scenes, scene_description
from cmlearn.data.text import CaptionCollator
from cmlearn.encoders import SmallCNN
from cmlearn.scripts import train_ddp

OPTIONS = {"n_scenes": 320, "epochs": 1, "batch_size": 32, "embed_dim": 16, "device": "cpu"}


def test_two_processes_train_like_one_process_on_the_combined_batch(tmp_path):
    # One process, in this interpreter (no process group: fit runs alone), then W = 2 under torchrun.
    train_ddp.main([f"--output={tmp_path / 'w1'}"] + [f"--{key.replace('_', '-')}={value}" for key, value in OPTIONS.items()])
    one = [json.loads((tmp_path / "w1" / "rank0.json").read_text())]
    two = train_ddp.launch(tmp_path / "w2", nproc=2, timeout=120, **OPTIONS)
    assert [r["world_size"] for r in one + two] == [1, 2, 2] and [r["rank"] for r in two] == [0, 1]
    assert [r["batch_per_rank"] for r in one + two] == [32, 16, 16]
    assert one[0]["steps"] == two[0]["steps"] == 8  # 256 training scenes / 32
    full = one[0]["first_batch"]
    for report in two:
        shard = report["first_batch"]
        # Gathered: each rank's loss is over all 32 pairs, and equals one process's loss on the whole batch.
        assert shard["logits_gathered"] == [32, 32] and shard["logits_local"] == [16, 16]
        assert shard["loss_gathered"] == pytest.approx(full["loss_gathered"], abs=1e-5)
        # Not gathered: 15 negatives instead of 31, a different (smaller) loss.
        assert shard["loss_local"] < full["loss_gathered"] - 0.1
        assert report["first_step_loss"] == pytest.approx(one[0]["first_step_loss"], abs=1e-5)
        assert report["history"]["train_loss"] == pytest.approx(one[0]["history"]["train_loss"], abs=1e-4)
    gradient_one, gradient_two = (torch.load(tmp_path / w / "gradient.pt") for w in ("w1", "w2"))
    assert gradient_one.abs().max() > 1e-2
    assert (gradient_one - gradient_two).abs().max() < 1e-4 * gradient_one.abs().max()
    parameters_one, parameters_two = (torch.load(tmp_path / w / "parameters.pt") for w in ("w1", "w2"))
    assert (parameters_one - parameters_two).abs().max() < 1e-3


def test_launch_reports_a_failing_run(tmp_path):
    with pytest.raises(RuntimeError, match="epochs must be >= 1"):  # fit's error, from the child process
        train_ddp.launch(tmp_path, nproc=1, timeout=120, epochs=0, n_scenes=100, batch_size=16)
    with pytest.raises(SystemExit, match="make no batch"):
        train_ddp.main([f"--output={tmp_path}", "--n-scenes=50", "--batch-size=64", "--device=cpu"])
    with pytest.raises(ValueError, match="divisible by nproc"):
        train_ddp.launch(tmp_path, nproc=2, batch_size=33)
    with pytest.raises(ValueError, match="nproc"):
        train_ddp.launch(tmp_path, nproc=0)


def test_replace_batch_norm_makes_the_encoder_independent_of_the_batch_split():
    torch.manual_seed(0)
    encoder = train_ddp.replace_batch_norm(SmallCNN(out_dim=8))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())
    assert sum(isinstance(m, nn.GroupNorm) for m in encoder.modules()) == 3
    images = torch.rand(8, 3, 32, 32)
    assert torch.allclose(encoder(images), torch.cat([encoder(images[:4]), encoder(images[4:])]), atol=1e-6)
    batch_norm = SmallCNN(out_dim=8)  # train mode: the statistics of each half differ from the whole batch's
    assert not torch.allclose(batch_norm(images), torch.cat([batch_norm(images[:4]), batch_norm(images[4:])]), atol=1e-3)


def test_make_data_gallery_has_one_scene_per_description():
    data = train_ddp.make_data(300, seed=0)
    descriptions = [scene_description(data.gallery, i) for i in range(len(data.gallery))]
    assert len(set(descriptions)) == len(data.gallery) > 0
    assert len(set(data.gallery.clean_captions)) == len(data.gallery)
    model = train_ddp.build_aligner(data.tokenizer.vocab_size, data.tokenizer.pad_id, embed_dim=8)
    recall = train_ddp.gallery_recall(model, data)
    assert set(recall) == {"image→text R@1", "image→text R@5", "text→image R@1", "text→image R@5"}
    assert all(0 <= value <= 1 for value in recall.values())


def test_first_batch_losses_single_process_are_the_plain_clip_loss():
    data = train_ddp.make_data(100, seed=0)
    model = train_ddp.build_aligner(data.tokenizer.vocab_size, data.tokenizer.pad_id, embed_dim=8)
    batch = CaptionCollator(data.tokenizer)([data.train[i] for i in range(6)])
    losses = train_ddp.first_batch_losses(model, batch)
    assert model.training  # first_batch_losses puts the model back in training mode
    model.eval()
    with torch.no_grad():
        expected = clip_loss(*model(batch), model.logit_scale).loss.item()
    assert losses["loss_gathered"] == losses["loss_local"] == pytest.approx(expected, abs=1e-6)
    assert losses["logits_gathered"] == losses["logits_local"] == [6, 6]


def test_scene_description_reads_the_relation_one_way():
    # Chapter 1's rule: "B right of A" is "A left of B", "B below A" is "A above B"; paraphrases do not matter.
    scenes = make_scenes(n=400, n_objects=2, image_size=32, seed=0)
    for i in range(len(scenes)):
        (colour_a, shape_a), relation, (colour_b, shape_b) = scene_description(scenes, i)
        assert relation in ("left of", "above")
        stated = RELATIONS[int(scenes.relation[i])]
        first = (int(scenes.objects.colour[i, 0]), int(scenes.objects.shape[i, 0]))
        assert first == ((colour_a, shape_a) if stated == relation else (colour_b, shape_b))


def test_distinct_description_gallery_drops_scenes_whose_captions_differ_but_describe_the_same():
    scenes = make_scenes(n=3000, n_objects=2, image_size=32, seed=0)
    gallery = distinct_description_gallery(scenes)
    keys = [scene_description(scenes, i) for i in range(len(scenes))]
    assert len(gallery) == len(set(keys))
    by_caption = len(set(scenes.clean_captions))
    assert by_caption > len(gallery), "paraphrases and turned-round relations give one description several captions"
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    assert gallery.ids.tolist() == scenes.ids[sorted(first.values())].tolist()  # the first scene of each, in order
