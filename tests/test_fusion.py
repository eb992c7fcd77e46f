"""Fusion modules: attention vs PyTorch's, α sums to 1, TFN/LMF identities, masks, positions, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.fusion import (
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    FiLMFusion,
    GatedFusion,
    LateFusion,
    LowRankFusion,
    MetaSpaceFusion,
    MultimodalSelfAttention,
    TensorFusion,
    WeightedSumFusion,
)
from cmlearn.layers import MultiHeadAttention, attention, positional_encoding_2d

B, D = 4, 8


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def vectors(dims, seed=0):
    g = gen(seed)
    return {m: torch.randn(B, d, generator=g) for m, d in dims.items()}


def tokens(seed=0):
    g = gen(seed)
    return {"text": torch.randn(B, 5, D, generator=g), "image": torch.randn(B, D, 3, 3, generator=g)}


# ----------------------------------------------------------------------------- attention


@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_scaled_dot_product_attention(masked):
    g = gen()
    q, k, v = torch.randn(2, 3, 4, 8, generator=g), torch.randn(2, 3, 6, 8, generator=g), torch.randn(2, 3, 6, 5, generator=g)
    key_mask = torch.rand(2, 1, 1, 6, generator=g) > 0.3 if masked else None
    if masked:
        key_mask[..., 0] = True  # every query has at least one key
    out, weights = attention(q, k, v, key_mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask), atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 4))
    # and the formula once more, by hand: softmax(q k^T / sqrt(d)) v
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(8)
    if masked:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    assert torch.allclose(out, torch.softmax(scores, -1) @ v, atol=1e-5)


def test_attention_with_no_key_gives_zeros_not_nan():
    out, weights = attention(torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.zeros(1, 1, 3, dtype=torch.bool))
    assert torch.equal(out, torch.zeros(1, 2, 4)) and torch.equal(weights, torch.zeros(1, 2, 3))


def test_multi_head_attention_equals_nn_multihead_attention():
    torch.manual_seed(0)
    ours, reference = MultiHeadAttention(D, 2), nn.MultiheadAttention(D, 2, batch_first=True)
    with torch.no_grad():
        q_w, k_w, v_w = reference.in_proj_weight.chunk(3)
        q_b, k_b, v_b = reference.in_proj_bias.chunk(3)
        for proj, w, b in [(ours.q_proj, q_w, q_b), (ours.k_proj, k_w, k_b), (ours.v_proj, v_w, v_b)]:
            proj.weight.copy_(w), proj.bias.copy_(b)
        ours.out_proj.load_state_dict(reference.out_proj.state_dict())
    g = gen()
    query, context = torch.randn(B, 3, D, generator=g), torch.randn(B, 5, D, generator=g)
    key_mask = torch.tensor([[1, 1, 1, 0, 0]] * B, dtype=torch.bool)
    out, weights = ours(query, context, key_mask)
    expected, expected_weights = reference(query, context, context, key_padding_mask=~key_mask, average_attn_weights=False)
    assert torch.allclose(out, expected, atol=1e-5) and torch.allclose(weights, expected_weights, atol=1e-5)


# ----------------------------------------------------------------------------- vector fusions


def test_weighted_sum_alpha_is_a_softmax_and_masks_renormalise():
    fusion = WeightedSumFusion({"image": D, "text": D})
    h = vectors({"image": D, "text": D})
    assert fusion.alpha == {"image": 0.5, "text": 0.5}  # w = 0: the mean
    assert torch.allclose(fusion(h), (h["image"] + h["text"]) / 2)
    with torch.no_grad():
        fusion.logits.copy_(torch.log(torch.tensor([1.0, 3.0])))
    assert fusion.alpha == pytest.approx({"image": 0.25, "text": 0.75})
    assert sum(fusion.alpha.values()) == pytest.approx(1.0)
    assert torch.allclose(fusion(h), 0.25 * h["image"] + 0.75 * h["text"], atol=1e-6)
    mask = {"image": torch.tensor([True, False, True, True])}
    z = fusion(h, mask)
    assert torch.allclose(z[1], h["text"][1])  # only text present: α_text = 1


def test_weighted_sum_alpha_is_readable_after_training():
    torch.manual_seed(0)
    fusion = WeightedSumFusion({"image": 4, "text": 4})
    optimizer = torch.optim.SGD(fusion.parameters(), lr=0.5)
    for step in range(30):  # the target is the text feature: α should move to text
        h = vectors({"image": 4, "text": 4}, seed=step)
        loss = F.mse_loss(fusion(h), h["text"])
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    assert fusion.alpha["text"] > 0.9 and sum(fusion.alpha.values()) == pytest.approx(1.0)


def test_gated_fusion_with_two_modalities_is_the_gmu_sigmoid_gate():
    fusion = GatedFusion({"image": D, "text": 6}, out_dim=5)
    z = fusion(vectors({"image": D, "text": 6}))
    assert z.shape == (B, 5)
    gates = fusion.last_gates  # (B, 2, 5)
    assert torch.allclose(gates.sum(1), torch.ones(B, 5))
    h = vectors({"image": D, "text": 6})
    logits = fusion.gate(torch.cat([h["image"], h["text"]], 1)).view(B, 2, 5)
    fusion(h)
    assert torch.allclose(fusion.last_gates[:, 0], torch.sigmoid(logits[:, 0] - logits[:, 1]), atol=1e-6)


def test_tensor_fusion_outer_product_by_hand():
    fusion = TensorFusion({"image": 1, "text": 1}, out_dim=3)
    outer = fusion.outer({"image": torch.tensor([[2.0]]), "text": torch.tensor([[3.0]])})
    assert outer.tolist() == [[6.0, 2.0, 3.0, 1.0]]  # [2; 1] ⊗ [3; 1] = [2·3, 2, 3, 1]
    assert TensorFusion({"a": 3, "b": 4, "c": 2}, out_dim=7).fused_dim == 4 * 5 * 3
    fusion3 = TensorFusion({"image": 3, "text": 4, "audio": 2}, out_dim=7)
    assert fusion3(vectors({"image": 3, "text": 4, "audio": 2})).shape == (B, 7)


def test_low_rank_fusion_is_a_tensor_fusion():
    torch.manual_seed(0)
    dims = {"image": 3, "text": 4, "audio": 2}
    lmf = LowRankFusion(dims, out_dim=5, rank=3)
    h = vectors(dims)
    assert lmf(h).shape == (B, 5)
    assert torch.allclose(lmf.to_tensor_fusion()(h), lmf(h), atol=1e-5)  # LMF = TFN with W = Σ_r ⊗_m w_m^(r)


def test_tensor_fusion_equals_low_rank_fusion_at_full_rank():
    torch.manual_seed(0)
    dims = {"image": 3, "text": 5}
    tfn = TensorFusion(dims, out_dim=6)
    h = vectors(dims)
    full = LowRankFusion.from_tensor_fusion(tfn)  # R = min(3, 5) + 1 = 4
    assert full.rank == 4 and torch.allclose(full(h), tfn(h), atol=1e-5)
    truncated = LowRankFusion.from_tensor_fusion(tfn, rank=2)
    assert not torch.allclose(truncated(h), tfn(h), atol=1e-3)  # a random TFN weight has rank 4: R = 2 is not exact
    with pytest.raises(ValueError, match="expected a TFN over two modalities"):
        LowRankFusion.from_tensor_fusion(TensorFusion({"a": 1, "b": 1, "c": 1}, 2))


def test_late_fusion_averages_the_present_predictions():
    fusion = LateFusion({"image": D, "text": 6}, out_dim=3)
    h = vectors({"image": D, "text": 6})
    p = fusion.predictions(h)
    assert torch.allclose(fusion(h), (p["image"] + p["text"]) / 2, atol=1e-6)
    z = fusion(h, {"text": torch.tensor([False, True, True, True])})
    assert torch.allclose(z[0], p["image"][0], atol=1e-6)


# ----------------------------------------------------------------------------- FiLM


def test_film_is_gamma_times_x_plus_beta():
    film = FiLM(condition_dim=2, num_features=3)
    x, c = torch.randn(B, 3, 4, 4, generator=gen()), torch.randn(B, 2, generator=gen(1))
    assert torch.allclose(film(x, c), x, atol=0.2)  # near the identity at init
    with torch.no_grad():
        film.linear.weight.zero_()
        film.linear.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 0.5, -0.5, 0.0]))  # Δγ = (1, 2, 3), β = (.5, -.5, 0)
    gamma, beta = torch.tensor([2.0, 3.0, 4.0]), torch.tensor([0.5, -0.5, 0.0])
    assert torch.allclose(film(x, c), gamma.view(1, 3, 1, 1) * x + beta.view(1, 3, 1, 1))
    present = torch.tensor([False, True, True, True])
    assert torch.equal(film(x, c, present)[0], x[0])  # no condition: γ = 1, β = 0


# ----------------------------------------------------------------------------- every fusion: masks, order, errors


def make_fusions():
    torch.manual_seed(0)
    two = {"image": D, "text": D}
    return {
        "concat": (ConcatFusion(two, out_dim=5), vectors(two)),
        "late": (LateFusion(two, out_dim=3), vectors(two)),
        "weighted_sum": (WeightedSumFusion(two), vectors(two)),
        "gated": (GatedFusion(two, 5), vectors(two)),
        "tensor": (TensorFusion(two, 5), vectors(two)),
        "low_rank": (LowRankFusion(two, 5, rank=2), vectors(two)),
        "film": (FiLMFusion(D, 5, image_size=8, channels=(4, 4)), {"image": torch.rand(B, 3, 8, 8, generator=gen()), "text": vectors(two)["text"]}),
        "cross_attention": (CrossModalAttention("text", "image", D, num_heads=2), tokens()),
        "self_attention": (MultimodalSelfAttention(["image", "text"], D, num_heads=2, num_layers=1), tokens()),
        "meta_space": (MetaSpaceFusion(["image", "text"], D, num_prototypes=3, num_heads=2), tokens()),
    }


FUSION_NAMES = list(make_fusions())


@pytest.mark.parametrize("name", FUSION_NAMES)
@pytest.mark.parametrize("absent", ["image", "text"])
def test_mask_removes_a_modality_influence(name, absent):
    fusion, h = make_fusions()[name]
    fusion.eval()
    mask = {absent: torch.tensor([False, True, True, True])}
    z = fusion(h, mask)
    changed = dict(h)
    changed[absent] = h[absent].clone()
    changed[absent][0] = 100 * torch.randn_like(h[absent][0])  # sample 0 lacks it: must not matter
    changed[absent][1] = 100 * torch.randn_like(h[absent][1])  # sample 1 has it: must matter
    z_changed = fusion(changed, mask)
    assert torch.allclose(z_changed[0], z[0], atol=1e-5)
    assert not torch.allclose(z_changed[1], z[1], atol=1e-3)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_fusion_output_does_not_depend_on_dict_order(name):
    fusion, h = make_fusions()[name]
    fusion.eval()
    reordered = dict(reversed(list(h.items())))
    assert torch.allclose(fusion(reordered), fusion(h), atol=1e-6)
    assert fusion(h).shape == (B, fusion.out_dim)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_fusion_bad_input_names_expected_and_got(name):
    fusion, h = make_fusions()[name]
    short = {**h, "text": h["text"][:3]}
    with pytest.raises(ValueError, match=r"expected the same batch size B for every modality, got \{.*'text': 3"):
        fusion(short)
    with pytest.raises(ValueError, match=r"unknown modality \['smell'\]"):
        fusion({**h, "smell": h["text"]})
    with pytest.raises(ValueError, match=r"features for \['text'\] are missing"):
        fusion({"image": h["image"]})
    with pytest.raises(ValueError, match=r"expected mask\['text'\] of shape \(4,\), got \(3,\)"):
        fusion(h, {"text": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"sample\(s\) \[0\] have no modality present"):
        fusion(h, {"text": torch.tensor([False, True, True, True]), "image": torch.tensor([False, True, True, True])})


def test_vector_fusion_wrong_feature_size_names_shapes():
    with pytest.raises(ValueError, match=r"expected text features of shape \(B, 8\), got \(4, 6\)"):
        ConcatFusion({"image": D, "text": D})(vectors({"image": D, "text": 6}))
    with pytest.raises(ValueError, match="expected every modality in the same shared space"):
        WeightedSumFusion({"image": 3, "text": 4})


# ----------------------------------------------------------------------------- positions and token masks


def test_two_d_positions_let_attention_tell_left_from_right():
    enc = positional_encoding_2d(3, 4, D)
    assert enc.shape == (12, D) and torch.unique(enc, dim=0).shape[0] == 12  # every cell is distinct
    g = gen()
    question = torch.randn(1, 4, D, generator=g)
    scene = torch.zeros(1, D, 2, 2)
    scene[0, :, 0, 0] = torch.randn(D, generator=g)  # an "object" in the left cell of the top row
    mirrored = scene.flip(-1)  # the same object on the right
    for positional, tells_apart in [("sincos", True), ("coords", True), (None, False)]:
        torch.manual_seed(0)
        fusion = CrossModalAttention("text", "image", D, num_heads=2, positional=positional)
        if positional == "coords":
            nn.init.normal_(fusion.to_tokens.coord_proj.weight)
        z_left = fusion({"text": question, "image": scene})
        z_right = fusion({"text": question, "image": mirrored})
        assert torch.allclose(z_left, z_right, atol=1e-5) != tells_apart, positional
    with pytest.raises(ValueError, match="expected dim divisible by 4"):
        positional_encoding_2d(2, 2, 6)


def test_padding_tokens_do_not_reach_z():
    fusion = MultimodalSelfAttention(["image", "text"], D, num_heads=2).eval()
    h = tokens()
    token_mask = {"text": torch.tensor([[1, 1, 1, 0, 0]] * B, dtype=torch.bool)}
    z = fusion(h, token_mask=token_mask)
    h["text"][:, 3:] = 50.0
    assert torch.allclose(fusion(h, token_mask=token_mask), z, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected token_mask\['text'\] of shape \(4, 5\), got \(4, 3\)"):
        fusion(h, token_mask={"text": torch.ones(B, 3, dtype=torch.bool)})


def test_meta_space_slots_and_attention_shapes():
    fusion = MetaSpaceFusion(["image", "text"], D, num_prototypes=3, num_heads=2)
    z = fusion(tokens())
    assert z.shape == (B, D)
    assert fusion.last_slots["image"].shape == (B, 3, D)
    assert fusion.last_attention["image"].shape == (B, 2, 3, 9)  # 3 prototypes read 3×3 cells
    assert torch.allclose(fusion.last_attention["text"].sum(-1), torch.ones(B, 2, 3))
