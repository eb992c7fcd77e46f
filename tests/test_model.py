"""The four-part model: extractors → shared space → fusion → head, by name; gradients; bad input."""

import pytest
import torch
from torch import nn

from cmlearn import fusion as fusions
from cmlearn.encoders import GRUTextEncoder, SmallCNN
from cmlearn.fusion import FUSION_REGISTRY, WeightedSumFusion
from cmlearn.heads import LinearHead, MatchingHead
from cmlearn.model import FUSIONS, TOKEN_FUSIONS, FourPartModel, build_model
from cmlearn.shared import SharedSpace

B, VOCAB = 3, 20


def make_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    return {
        "image": torch.rand(B, 3, 32, 32, generator=g),
        "input_ids": torch.randint(1, VOCAB, (B, 5), generator=g) * mask,
        "attention_mask": mask,
        "caption": ["unused"] * B,  # other keys of a loader's batch are ignored
    }


SMALL = {"image": {"channels": (4, 8, 8), "out_dim": 16}, "text": {"vocab_size": VOCAB, "out_dim": 16, "hidden_dim": 8}}


def small_model(fusion, head=None):
    torch.manual_seed(0)
    return build_model(SMALL, fusion=fusion, head=head or {"kind": "linear", "out_dim": 3}, shared_dim=8, shared_hidden=16)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_builds_runs_and_gradients_reach_every_part(fusion):
    model = small_model(fusion)
    mask = {"text": torch.tensor([True, False, True]), "image": torch.tensor([True, True, False])}
    out = model(make_batch(), mask=mask)
    assert out.y.shape == (B, 3) and out.z.shape[0] == B
    weights = torch.randn(out.y.shape, generator=torch.Generator().manual_seed(1))
    (out.y * weights).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    if fusion in TOKEN_FUSIONS:  # token fusions read the extractors' tokens; their own vector heads are off the path
        no_grad = [n for n in no_grad if not (n.startswith("extractors.") and ".project." in n)]
    assert not no_grad, f"no gradient reached {no_grad}"


def built_by_hand(fusion, head_out=3, **settings):
    """SMALL with ``fusion``, built class by class in build_model's order (extractors, shared space, fusion, head)."""
    torch.manual_seed(0)
    out_dim = settings.pop("out_dim", None)
    target = settings.pop("target", "image") if fusion == "film" else None
    tokens = fusion in ("cross_attention", "self_attention", "meta_space")
    image = nn.Identity() if target == "image" else SmallCNN(channels=(4, 8, 8), out_dim=16)
    text = GRUTextEncoder(vocab_size=VOCAB, out_dim=16, hidden_dim=8)
    in_dims = {m: (e.token_dim if tokens else e.out_dim) for m, e in (("image", image), ("text", text)) if m != target}
    shared = SharedSpace(in_dims, 8, 16, token_modalities=tuple(in_dims) if tokens else ())
    dims = {m: 8 for m in in_dims}
    make = {
        "concat": lambda: fusions.ConcatFusion(dims, out_dim),
        "late": lambda: fusions.LateFusion(dims, head_out, **settings),
        "weighted_sum": lambda: fusions.WeightedSumFusion(dims),
        "gated": lambda: fusions.GatedFusion(dims, out_dim or 8),
        "tensor": lambda: fusions.TensorFusion(dims, out_dim or 8),
        "low_rank": lambda: fusions.LowRankFusion(dims, out_dim or 8, **settings),
        "cross_attention": lambda: fusions.CrossModalAttention(
            settings.pop("query", "image"), settings.pop("context", "text"), 8, out_dim=out_dim, **settings),
        "self_attention": lambda: fusions.MultimodalSelfAttention(["image", "text"], 8, out_dim=out_dim, **settings),
        "meta_space": lambda: fusions.MetaSpaceFusion(["image", "text"], 8, out_dim=out_dim, **settings),
        "film": lambda: fusions.FiLMFusion(8, out_dim or 8, target="image", condition="text", **settings),
    }
    fuse = make[fusion]()
    head = nn.Identity() if fusion == "late" else LinearHead(fuse.out_dim, out_dim=head_out)
    return FourPartModel({"image": image, "text": text}, fuse, head, shared)


def assert_same_parameters_and_rng(fusion, **settings):
    """build_model and built_by_hand: same modules, same initial values, and the global RNG left in the same state."""
    torch.manual_seed(0)
    built = build_model(SMALL, fusion={"kind": fusion, **settings}, head={"kind": "linear", "out_dim": 3}, shared_dim=8, shared_hidden=16)
    after_built = torch.rand(3)
    by_hand = built_by_hand(fusion, **settings)
    after_by_hand = torch.rand(3)
    assert repr(built) == repr(by_hand)
    a, b = built.state_dict(), by_hand.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert torch.equal(after_built, after_by_hand)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_build_model_constructs_each_registered_fusion_as_by_hand(fusion):
    assert_same_parameters_and_rng(fusion)


@pytest.mark.parametrize("fusion, settings", [
    ("concat", {"out_dim": 5}), ("late", {"hidden_dim": 4}), ("gated", {"out_dim": 6}), ("tensor", {"out_dim": 6}),
    ("low_rank", {"rank": 3, "out_dim": 5}), ("cross_attention", {"query": "text", "context": "image", "num_heads": 2, "out_dim": 6}),
    ("self_attention", {"num_layers": 1, "out_dim": 4}), ("meta_space", {"num_prototypes": 4}),
    ("film", {"target": "image", "channels": (4, 8), "out_dim": 10}),
])
def test_build_model_passes_each_fusions_settings_as_by_hand(fusion, settings):
    assert_same_parameters_and_rng(fusion, **settings)


def test_fusion_registry_lists_every_fusion_with_its_class_and_token_flag():
    assert FUSIONS == ("concat", "late", "weighted_sum", "gated", "tensor", "low_rank",
                       "cross_attention", "self_attention", "meta_space", "film")
    assert TOKEN_FUSIONS == ("cross_attention", "self_attention", "meta_space")
    for name, entry in FUSION_REGISTRY.items():
        assert entry.takes_tokens == getattr(entry.cls, "takes_tokens", False), name
        assert isinstance(small_model(name).fusion, entry.cls), name
    model = small_model("late", head="matching")  # late fusion predicts itself: no head, whatever is asked
    assert isinstance(model.head, nn.Identity) and not isinstance(small_model("gated", head="matching").head, nn.Identity)
    assert isinstance(small_model("gated", head="matching").head, MatchingHead)
    with pytest.raises(ValueError, match=r"FiLM needs the target 'audio' and exactly one other modality"):
        build_model(SMALL, fusion={"kind": "film", "target": "audio"})


def test_model_by_hand_is_the_four_parts_in_order():
    torch.manual_seed(0)
    extractors = {"image": SmallCNN(out_dim=16, channels=(4, 8, 8)), "text": GRUTextEncoder(VOCAB, out_dim=16, hidden_dim=8)}
    shared = SharedSpace({"image": 16, "text": 16}, dim=8, hidden_dim=None)
    model = FourPartModel(extractors, WeightedSumFusion({"image": 8, "text": 8}), LinearHead(8, 2), shared).eval()
    batch = make_batch()
    out = model(batch)
    f = {"image": extractors["image"](batch["image"]), "text": extractors["text"](batch["input_ids"], batch["attention_mask"])}
    h = {m: torch.nn.functional.normalize(shared.projections[m](f[m]), dim=-1) for m in f}
    z = (h["image"] + h["text"]) / 2  # α = (1/2, 1/2) at init
    assert torch.allclose(out.z, z, atol=1e-6) and torch.allclose(out.y, model.head.linear(z), atol=1e-6)
    assert torch.allclose(out.h["text"].norm(dim=1), torch.ones(B))  # L2-normalised shared space


def test_token_level_model_passes_text_padding_as_token_mask():
    model = small_model("self_attention").eval()
    batch = make_batch()
    out = model(batch)
    assert out.h["image"].shape == (B, 8, 4, 4) and out.h["text"].shape == (B, 5, 8)  # map cells and word tokens
    batch["input_ids"][2, 3:] = 7  # change padded positions only (their mask stays 0)
    assert torch.allclose(model(batch).y, out.y, atol=1e-5)


def test_late_fusion_model_predicts_with_identity_head():
    model = small_model("late")
    assert isinstance(model.head, nn.Identity) and model(make_batch()).y.shape == (B, 3)


def test_from_config_and_matching_head():
    model = FourPartModel.from_config({"modalities": SMALL, "fusion": "gated", "head": "matching", "shared_dim": 8})
    assert model(make_batch()).y.shape == (B,)


def test_four_modalities_by_name():
    g = torch.Generator().manual_seed(0)
    batch = {**make_batch(), "audio": torch.randn(B, 2048, generator=g), "video": torch.rand(B, 3, 3, 16, 16, generator=g)}
    modalities = {**SMALL, "audio": {"kind": "waveform", "out_dim": 8}, "video": {"kind": "conv3d", "out_dim": 8}}
    for fusion in ("concat", "meta_space"):
        model = build_model(modalities, fusion=fusion, shared_dim=8)
        assert model(batch).y.shape == (B, 2)


def test_bad_configuration_and_input_name_expected_and_got():
    with pytest.raises(ValueError, match=r"unknown modality \['smell'\]; expected names from \['image', 'text', 'audio', 'video'\]"):
        build_model({"image": {}, "smell": {}})
    with pytest.raises(ValueError, match=r"unknown modality \['smell'\]"):
        FourPartModel({"smell": SmallCNN()}, WeightedSumFusion({"smell": 8}), LinearHead(8, 2))
    with pytest.raises(ValueError, match=r"unknown fusion 'sum'; expected one of \['concat', 'late', 'weighted_sum', 'gated', 'tensor', "
                                         r"'low_rank', 'cross_attention', 'self_attention', 'meta_space', 'film'\]"):
        build_model(SMALL, fusion="sum")
    with pytest.raises(ValueError, match="unknown text extractor 'resnet18'; expected one of"):
        build_model({"text": {"kind": "resnet18"}})
    with pytest.raises(ValueError, match="cross-attention fuses exactly two modalities"):
        build_model({"image": {}}, fusion="cross_attention")
    model = small_model("concat")
    batch = make_batch()
    with pytest.raises(KeyError, match=r"batch is missing \['attention_mask'\] for modality 'text'"):
        model({k: v for k, v in batch.items() if k != "attention_mask"})
    with pytest.raises(ValueError, match=r"expected the same batch size B for every modality, got \{'image': 2, 'text': 3\}"):
        model({**batch, "image": batch["image"][:2]})
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, H, W\), got \(3, 1, 32, 32\)"):
        model({**batch, "image": batch["image"][:, :1]})
    empty = batch["attention_mask"].clone()
    empty[1] = 0
    with pytest.raises(ValueError, match=r"text\(s\) at batch position \[1\] are empty"):
        model({**batch, "attention_mask": empty})


# ----------------------------------------------------------------------------- the shared space, h = MLP(f) or Attention(f)


def test_shared_space_vectors_are_unit_length_and_attention_pooling_is_the_formula():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    shared = SharedSpace({"image": 6, "text": 5}, dim=8, token_modalities=("text",), pooling="attention")
    f = {"image": torch.randn(B, 6, generator=g), "text": torch.randn(B, 4, 5, generator=g)}
    token_mask = {"text": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)}
    h = shared(f, token_mask)
    assert h["image"].shape == h["text"].shape == (B, 8)
    assert torch.allclose(h["image"].norm(dim=1), torch.ones(B)) and torch.allclose(h["text"].norm(dim=1), torch.ones(B))
    pool = shared.pools["text"]  # h = Attention(q, X, X) with one head, written out
    x = pool.norm(shared.projections["text"](f["text"]))  # (B, T, D)
    q, k, v = pool.attn.q_proj(pool.query), pool.attn.k_proj(x), pool.attn.v_proj(x)
    scores = (q @ k.transpose(1, 2) / 8**0.5).masked_fill(~token_mask["text"][:, None, :], float("-inf"))
    by_hand = pool.attn.out_proj(torch.softmax(scores, -1) @ v)[:, 0]
    assert torch.allclose(h["text"], torch.nn.functional.normalize(by_hand, dim=-1), atol=1e-5)
    assert torch.equal(pool.last_weights[2, 0, 0, 1:], torch.zeros(3))  # padding gets no weight


def test_shared_space_pools_feature_maps_with_positions_and_names_bad_shapes():
    torch.manual_seed(0)
    shared = SharedSpace({"image": 4}, dim=8, token_modalities=("image",), pooling="attention")
    fmap = torch.zeros(1, 4, 2, 2)
    fmap[0, :, 0, 0] = 1.0  # something in the left cell
    assert not torch.allclose(shared({"image": fmap})["image"], shared({"image": fmap.flip(-1)})["image"], atol=1e-5)
    with pytest.raises(ValueError, match=r"expected image tokens \(B, T, 4\) or a map \(B, 4, H, W\), got \(1, 3, 2, 2\)"):
        shared({"image": torch.zeros(1, 3, 2, 2)})
    with pytest.raises(ValueError, match=r"unknown modality 'audio'; expected one of \['image'\]"):
        shared({"audio": torch.zeros(1, 4)})
