"""Feature extractors: the Conv and RNN formulas by hand, shapes, padding, order, freezing, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.encoders import (
    BagOfWordsTextEncoder,
    Conv3dVideoEncoder,
    FrameGRUVideoEncoder,
    FrameMeanVideoEncoder,
    GRUTextEncoder,
    PrecomputedFeatures,
    RNNTextEncoder,
    SmallCNN,
    SpectrogramEncoder,
    TorchvisionImageEncoder,
    TransformerTextEncoder,
    WaveformEncoder,
    conv2d_by_hand,
    freeze_,
    is_frozen,
    log_mel_spectrogram,
    mel_filterbank,
    rnn_by_hand,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def token_batch(B=3, T=7, vocab=20, lengths=(7, 4, 2), seed=0):
    ids = torch.randint(1, vocab, (B, T), generator=gen(seed))
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ids * mask, mask  # padding id 0 where the mask is 0


# ----------------------------------------------------------------------------- f(x) = Conv(x; W_c) + b_c


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1)])
def test_conv_by_hand_equals_conv2d(stride, padding):
    g = gen()
    x = torch.randn(2, 3, 9, 9, generator=g)
    conv = nn.Conv2d(3, 5, kernel_size=3, stride=stride, padding=padding)
    expected = conv(x)
    assert torch.allclose(conv2d_by_hand(x, conv.weight, conv.bias, stride, padding), expected, atol=1e-5)
    assert torch.allclose(F.conv2d(x, conv.weight, conv.bias, stride, padding), expected, atol=1e-6)


def test_conv_by_hand_one_cell_is_a_dot_product():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    w = torch.ones(1, 1, 3, 3)
    out = conv2d_by_hand(x, w, torch.tensor([0.5]))
    assert out.shape == (1, 1, 1, 1) and out.item() == 36.5  # 0 + 1 + ... + 8, plus the bias


def test_small_cnn_first_layer_is_the_formula_and_shapes_hold():
    cnn = SmallCNN(out_dim=128).eval()
    x = torch.rand(2, 3, 32, 32, generator=gen())
    conv = cnn.features[0]
    assert torch.allclose(conv2d_by_hand(x, conv.weight, conv.bias, padding=1), conv(x), atol=1e-5)
    assert cnn(x).shape == (2, 128)
    assert cnn.feature_map(x).shape == cnn.tokens(x).shape == (2, 64, 4, 4)
    assert cnn.token_dim == 64


# ----------------------------------------------------------------------------- g(s) = RNN(s; W_s) + b_s


@pytest.mark.parametrize("cell", [nn.RNN, nn.GRU, nn.LSTM])
def test_rnn_recurrence_by_hand_equals_torch(cell):
    torch.manual_seed(0)
    rnn = cell(4, 6, batch_first=True)
    x = torch.randn(3, 5, 4, generator=gen())
    outputs, last = rnn_by_hand(rnn, x)
    expected_outputs, expected_last = rnn(x)
    expected_last = expected_last[0] if cell is nn.LSTM else expected_last
    assert torch.allclose(outputs, expected_outputs, atol=1e-5)
    assert torch.allclose(last, expected_last[0], atol=1e-5)


def test_elman_rnn_two_steps_by_hand():
    rnn = nn.RNN(1, 1, batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(1.0), rnn.weight_hh_l0.fill_(0.5), rnn.bias_ih_l0.zero_(), rnn.bias_hh_l0.zero_()
    outputs, _ = rnn(torch.tensor([[[1.0], [0.0]]]))
    h1 = math.tanh(1.0)  # h_1 = tanh(1·1 + 0.5·0)
    h2 = math.tanh(0.5 * h1)  # h_2 = tanh(1·0 + 0.5·h_1)
    assert torch.allclose(outputs.flatten(), torch.tensor([h1, h2]), atol=1e-6)


def test_gru_text_encoder_keeps_chapter_one_contract_and_gives_tokens():
    ids, mask = token_batch()
    encoder = GRUTextEncoder(vocab_size=20, out_dim=128, hidden_dim=64)
    assert encoder(ids, mask).shape == (3, 128)
    tokens = encoder.tokens(ids, mask)
    assert tokens.shape == (3, 7, 128) and encoder.token_dim == 128
    assert torch.all(tokens[2, 2:] == 0)  # padding positions carry nothing


@pytest.mark.parametrize("make", [
    lambda: RNNTextEncoder(20, 16, cell="rnn"),
    lambda: RNNTextEncoder(20, 16, cell="gru"),
    lambda: RNNTextEncoder(20, 16, cell="lstm", bidirectional=False),
    lambda: TransformerTextEncoder(20, 16, d_model=16, num_heads=2, num_layers=1),
])
def test_text_encoders_ignore_padding_and_read_word_order(make):
    torch.manual_seed(0)
    encoder = make().eval()
    ids, mask = token_batch(lengths=(7, 4, 2))
    g = encoder(ids, mask)
    assert g.shape == (3, 16)
    padded_ids, padded_mask = F.pad(ids, (0, 3)), F.pad(mask, (0, 3))  # three more padding tokens
    assert torch.allclose(encoder(padded_ids, padded_mask), g, atol=1e-5)
    reversed_ids = ids.clone()
    reversed_ids[0] = ids[0].flip(0)
    assert not torch.allclose(encoder(reversed_ids, mask)[0], g[0], atol=1e-4)
    assert encoder.tokens(ids, mask).shape[:2] == (3, 7)


def test_text_encoders_reject_empty_text_and_bad_ids():
    ids, mask = token_batch()
    mask[1] = 0
    for encoder in (GRUTextEncoder(20), RNNTextEncoder(20), TransformerTextEncoder(20)):
        with pytest.raises(ValueError, match=r"position \[1\] are empty"):
            encoder(ids, mask)
    ids, mask = token_batch()
    with pytest.raises(ValueError, match=r"must lie in \[0, 20\), got range"):
        RNNTextEncoder(20)(ids + 50, mask)
    with pytest.raises(ValueError, match="expected cell one of"):
        RNNTextEncoder(20, cell="transformer")


# ----------------------------------------------------------------------------- torchvision backbones


@pytest.mark.parametrize("arch,width", [("resnet18", 512), ("mobilenet_v2", 1280)])
def test_torchvision_encoder_random_init_shapes(arch, width):
    encoder = TorchvisionImageEncoder(arch, pretrained=False).eval()
    x = torch.rand(2, 3, 32, 32, generator=gen())
    assert encoder(x).shape == (2, width) and encoder.out_dim == width
    assert encoder.feature_map(x).shape == (2, width, 1, 1)
    assert encoder.classify(x).shape == (2, 1000)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, H, W\), got \(2, 1, 32, 32\)"):
        encoder(torch.rand(2, 1, 32, 32))


def test_freeze_keeps_weights_and_eval_mode():
    encoder = TorchvisionImageEncoder("mobilenet_v2", out_dim=8, freeze=True)
    assert is_frozen(encoder.body) and not is_frozen(encoder.project)
    encoder.train()
    encoder(torch.rand(2, 3, 32, 32))
    assert not encoder.body.training  # batch-norm statistics are not updated
    cnn = freeze_(SmallCNN())
    assert is_frozen(cnn)
    with pytest.raises(ValueError, match="expected arch one of"):
        TorchvisionImageEncoder("vgg16")


# ----------------------------------------------------------------------------- audio and video


def test_spectrogram_of_a_sine_peaks_at_its_frequency_bin():
    sr, n_fft, f0 = 8000, 256, 1000.0
    t = torch.arange(4000) / sr
    power = log_mel_spectrogram(torch.sin(2 * math.pi * f0 * t)[None], sr, n_fft, 128, n_mels=0)
    assert power.shape == (1, n_fft // 2 + 1, 4000 // 128 + 1)
    assert power[0, :, 5].argmax().item() == round(f0 * n_fft / sr)  # bin 32
    filters = mel_filterbank(16, n_fft, sr)  # triangles: in [0, 1], each band peaking near 1
    assert filters.shape == (16, 129) and filters.min() >= 0 and filters.max() <= 1 and filters.max(1).values.min() > 0.8
    mel = log_mel_spectrogram(torch.sin(2 * math.pi * f0 * t)[None], sr, n_fft, 128, n_mels=16)
    assert filters[mel[0, :, 5].argmax(), 32] > 0.5  # the loudest band is one whose triangle covers 1000 Hz


def test_audio_encoders_shapes_and_errors():
    wave = torch.randn(2, 4000, generator=gen())
    for encoder in (WaveformEncoder(out_dim=16), SpectrogramEncoder(out_dim=16)):
        encoder.eval()
        assert encoder(wave).shape == (2, 16)
        assert encoder(wave[:, None]).shape == (2, 16)  # (B, 1, N) works too
        with pytest.raises(ValueError, match="expected at least"):
            encoder(wave[:, :10])
    with pytest.raises(ValueError, match=r"expected a float waveform of shape \(B, N\)"):
        WaveformEncoder()(torch.randn(2, 3, 4000))


def test_video_encoders_shapes_order_and_errors():
    video = torch.rand(2, 4, 3, 16, 16, generator=gen())
    gru = FrameGRUVideoEncoder(out_dim=16, image_size=16).eval()
    assert gru(video).shape == (2, 16) and gru.tokens(video).shape == (2, 4, 64)
    assert not torch.allclose(gru(video.flip(1)), gru(video), atol=1e-5)  # frame order matters
    narrow = FrameGRUVideoEncoder(out_dim=16, image_size=16, channels=(4, 8, 12)).eval()  # a narrower frame CNN
    assert narrow(video).shape == (2, 16)
    assert [m.out_channels for m in narrow.frame_encoder.features if isinstance(m, torch.nn.Conv2d)] == [4, 8, 12]
    c3d = Conv3dVideoEncoder(out_dim=16).eval()
    assert c3d(video).shape == (2, 16) and c3d.feature_map(video).shape == (2, 64, 2, 2, 2)
    with pytest.raises(ValueError, match=r"expected video of shape \(B, T, 3, H, W\), got \(2, 4, 1, 16, 16\)"):
        c3d(torch.rand(2, 4, 1, 16, 16))


# ----------------------------------------------------------------------------- bag of words, frame mean, precomputed


def test_bag_of_words_encoder_averages_the_real_words_and_ignores_their_order():
    torch.manual_seed(0)
    encoder = BagOfWordsTextEncoder(vocab_size=10, out_dim=5, embed_dim=4, pad_id=0)
    ids = torch.tensor([[3, 4, 7, 0], [7, 3, 4, 0]])  # the same words in another order, one padding token
    mask = (ids != 0).long()
    g = encoder(ids, mask)
    assert g.shape == (2, 5)
    torch.testing.assert_close(g[0], g[1])
    by_hand = encoder.project(encoder.embedding.weight[[3, 4, 7]].mean(0))
    torch.testing.assert_close(g[0], by_hand)
    with pytest.raises(ValueError, match="empty"):
        encoder(ids, torch.zeros_like(mask))


def test_frame_mean_encoder_with_a_projection_is_w_times_the_frame_mean():
    torch.manual_seed(0)
    encoder = FrameMeanVideoEncoder(out_dim=6, channels=(2, 2, 2), image_size=8, in_channels=1, frame_dim=3)
    video = torch.rand(2, 4, 1, 8, 8)
    frames = encoder.frame_encoder(video.flatten(0, 1)).view(2, 4, 3)
    torch.testing.assert_close(encoder(video), encoder.project(frames.mean(1)))
    torch.testing.assert_close(encoder(video.flip(1)), encoder(video), rtol=1e-5, atol=1e-6)  # order-blind
    assert isinstance(FrameMeanVideoEncoder(out_dim=6, channels=(2, 2, 2), image_size=8).project, nn.Identity)
    with pytest.raises(ValueError, match=r"expected video of shape \(B, T, 1, H, W\)"):
        encoder(torch.rand(2, 4, 3, 8, 8))


def test_precomputed_features_pass_through_or_look_up_rows():
    table = torch.arange(12.0).view(4, 3)
    text = PrecomputedFeatures(table)
    ids = torch.tensor([[2, 0], [0, 0]])
    torch.testing.assert_close(text(ids, torch.ones_like(ids)), table[[2, 0]])
    assert text.out_dim == 3 and "table" in dict(text.named_buffers())
    image = PrecomputedFeatures(out_dim=3)
    x = torch.randn(5, 3)
    assert image(x) is x
    with pytest.raises(ValueError, match=r"expected precomputed features of shape \(B, 3\)"):
        image(torch.randn(5, 4))
    with pytest.raises(ValueError, match="either a feature table"):
        PrecomputedFeatures()
