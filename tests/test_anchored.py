import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.anchored import AnchoredSpace
from cmlearn.batch import modality_dropout_mask
from cmlearn.contrastive import clip_loss
from cmlearn.encoders import FrameMeanVideoEncoder, GRUTextEncoder, SmallCNN, SpectrogramEncoder
from cmlearn.metrics import chance_class_recall, class_retrieval_report, retrieval_report


class Linear(nn.Module):
    """A stand-in extractor: (B, in_dim) -> (B, out_dim)."""

    def __init__(self, in_dim, out_dim=6):
        super().__init__()
        self.layer, self.out_dim = nn.Linear(in_dim, out_dim), out_dim

    def forward(self, x):
        return self.layer(x)


def tiny_space():
    torch.manual_seed(0)
    return AnchoredSpace("image", {"image": SmallCNN(out_dim=8, channels=(4, 4, 4), image_size=8, in_channels=1),
                                  "text": GRUTextEncoder(12, out_dim=8, embed_dim=4, hidden_dim=4),
                                  "audio": SpectrogramEncoder(out_dim=8, channels=(2, 2, 2))}, embed_dim=5)


def test_loss_is_the_sum_of_clip_losses_of_the_pairs_present():
    space = tiny_space().eval()
    g = torch.Generator().manual_seed(1)
    batch = {"image": torch.rand(4, 1, 8, 8, generator=g), "audio": torch.randn(4, 2000, generator=g),
             "input_ids": torch.randint(1, 12, (4, 5), generator=g), "attention_mask": torch.ones(4, 5, dtype=torch.long)}
    h_image = space.encode("image", batch["image"])
    by_hand_audio = clip_loss(h_image, space.encode("audio", batch["audio"]), space.contrastive["audio"].logit_scale).loss
    by_hand_text = clip_loss(h_image, space.encode("text", batch["input_ids"], batch["attention_mask"]), space.contrastive["text"].logit_scale).loss
    only_audio = {k: batch[k] for k in ("image", "audio")}
    assert space.paired_modalities(only_audio) == ["audio"]
    torch.testing.assert_close(space.loss(only_audio), by_hand_audio)
    torch.testing.assert_close(space.loss(batch), by_hand_audio + by_hand_text)


def test_audio_batch_gives_no_gradient_to_the_text_tower():
    space = tiny_space()
    g = torch.Generator().manual_seed(2)
    space.loss({"image": torch.rand(4, 1, 8, 8, generator=g), "audio": torch.randn(4, 2000, generator=g)}).backward()
    assert all(p.grad is None for p in space.encoders["text"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in space.encoders["audio"].parameters())


def test_embeddings_have_unit_length_and_embed_matches_encode():
    space = tiny_space().eval()
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    h = space.embed("image", x, batch_size=3)
    torch.testing.assert_close(h.norm(dim=1), torch.ones(7))
    torch.testing.assert_close(h, space.encode("image", x).detach())


def test_bad_construction_and_batches_raise():
    with pytest.raises(ValueError, match="anchor"):
        AnchoredSpace("image", {"text": Linear(3)})
    with pytest.raises(ValueError, match="unknown modality"):
        AnchoredSpace("image", {"image": Linear(3), "smell": Linear(3)})
    space = AnchoredSpace("image", {"image": Linear(3), "audio": Linear(4)})
    with pytest.raises(ValueError, match="no other modality"):
        space.loss({"image": torch.zeros(2, 3)})
    with pytest.raises(KeyError, match="no encoder"):
        space.encode("text", torch.zeros(2, 3))


def test_class_retrieval_with_distinct_labels_equals_instance_retrieval():
    # One item per class, item i has query i's label: class retrieval is the diagonal retrieval of cmlearn.metrics.
    similarity = torch.randn(9, 9, generator=torch.Generator().manual_seed(4))
    labels = torch.arange(9)
    ours = class_retrieval_report(similarity, labels, labels, ks=(1, 5))
    reference = retrieval_report(similarity, ks=(1, 5))
    assert ours["R@1"] == pytest.approx(reference["image→text R@1"])
    assert ours["R@5"] == pytest.approx(reference["image→text R@5"])
    assert ours["mAP"] == pytest.approx(reference["image→text mAP"], rel=1e-5)


def test_class_retrieval_by_hand():
    # Query 0 (label 0) ranks items [1, 0, 2]: item 1 has label 1 (wrong), item 0 label 0 (right).
    similarity = torch.tensor([[0.5, 0.9, 0.1], [0.2, 0.8, 0.7]])
    report = class_retrieval_report(similarity, torch.tensor([0, 1]), torch.tensor([0, 1, 1]), ks=(1, 2))
    assert report["R@1"] == pytest.approx(0.5)  # query 1's top item is item 1, label 1
    assert report["R@2"] == pytest.approx(1.0)
    assert report["mAP"] == pytest.approx((1 / 2 + 1.0) / 2)  # query 0: AP 1/2; query 1: both relevant on top, AP 1
    with pytest.raises(ValueError, match="query_labels"):
        class_retrieval_report(similarity, torch.tensor([0]), torch.tensor([0, 1, 1]))


@pytest.mark.parametrize("k", [1, 3])
def test_chance_class_recall_matches_random_rankings(k):
    labels = torch.arange(12) % 4  # 3 correct items of 12 per query
    exact = chance_class_recall(labels, labels, k)
    assert exact == pytest.approx(1 - math.comb(9, k) / math.comb(12, k))
    g = torch.Generator().manual_seed(5)
    simulated = sum(class_retrieval_report(torch.rand(12, 12, generator=g), labels, labels, ks=(k,))[f"R@{k}"] for _ in range(400)) / 400
    assert simulated == pytest.approx(exact, abs=0.03)


def test_modality_dropout_keeps_at_least_one_modality_and_drops_at_rate_p():
    mask = modality_dropout_mask(20000, ["image", "audio", "text"], 0.4, torch.Generator().manual_seed(6))
    present = torch.stack(list(mask.values()), dim=1)
    assert present.any(dim=1).all()
    # Drawn rate 0.4, minus the restored ones: P(dropped) = 0.4 - 0.4³/3.
    assert (~present).float().mean().item() == pytest.approx(0.4 - 0.4 ** 3 / 3, abs=0.01)
    assert all(v.all() for v in modality_dropout_mask(5, ["image", "audio"], 0.0).values())
    with pytest.raises(ValueError, match="probability"):
        modality_dropout_mask(5, ["image", "audio"], 1.0)


def test_frame_mean_encoder_ignores_frame_order_and_averages_frames():
    torch.manual_seed(7)
    encoder = FrameMeanVideoEncoder(out_dim=6, channels=(4, 4, 4), image_size=8).eval()
    video = torch.rand(3, 5, 3, 8, 8)
    torch.testing.assert_close(encoder(video), encoder(video.flip(1)))
    torch.testing.assert_close(encoder(video), torch.stack([encoder.frame_encoder(video[:, t]) for t in range(5)]).mean(0))
    with pytest.raises(ValueError, match="expected video"):
        encoder(torch.rand(3, 3, 8, 8))


def test_frame_mean_gradient_is_the_same_for_every_frame_permutation():
    torch.manual_seed(8)
    encoder = FrameMeanVideoEncoder(out_dim=4, channels=(2, 2, 2), image_size=8).eval()
    video = torch.rand(2, 4, 3, 8, 8, requires_grad=True)
    F.mse_loss(encoder(video), torch.zeros(2, 4)).backward()
    grad = video.grad.clone()
    video.grad = None
    F.mse_loss(encoder(video[:, [2, 0, 3, 1]]), torch.zeros(2, 4)).backward()
    torch.testing.assert_close(video.grad, grad)



def test_add_modality_gives_a_new_trainable_tower_and_leaves_the_others_unchanged():
    torch.manual_seed(9)
    space = AnchoredSpace("image", {"image": Linear(3), "audio": Linear(4)}, embed_dim=5)
    image = torch.randn(4, 3)
    before = space.encode("image", image).detach()
    assert space.add_modality("video", Linear(7)) is space
    assert space.modalities == ("image", "audio", "video")
    torch.testing.assert_close(space.encode("image", image).detach(), before)
    loss = space.loss({"image": image, "video": torch.randn(4, 7)})
    assert space.paired_modalities({"image": image, "video": torch.randn(4, 7)}) == ["video"]
    loss.backward()
    assert space.contrastive["video"].logit_scale.grad is not None and space.projections["video"].mlp[0].weight.grad is not None
    with pytest.raises(ValueError, match="already"):
        space.add_modality("audio", Linear(4))
    with pytest.raises(ValueError, match="unknown modality"):
        space.add_modality("smell", Linear(4))
