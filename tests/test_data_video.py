"""Tests for cmlearn.data.video: motion captions are true, frame order matters, knobs, bad input."""
import pytest
import torch

from cmlearn.data.scene_text import COLOURS
from cmlearn.data.video import MOTIONS, make_motion_clips

PALETTE = torch.tensor(list(COLOURS.values()))


@pytest.fixture(scope="module")
def clips():
    return make_motion_clips(n=400, n_frames=8, image_size=32, seed=0)


def centroid(frame, colour_id):
    mask = (frame - PALETTE[colour_id][:, None, None]).abs().max(dim=0).values < 0.02
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def observed_motion(video, colour_id):
    (x0, y0), (x1, y1) = centroid(video[0], colour_id), centroid(video[-1], colour_id)
    dx, dy = x1 - x0, y1 - y0
    return ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")


def test_shapes_and_item(clips):
    assert clips.videos.shape == (400, 8, 3, 32, 32) and clips.videos.dtype == torch.float32
    item = clips[0]
    assert item["video"].shape == (8, 3, 32, 32) and item["caption"] == clips.captions[0]
    assert set(clips.motion[:, 0].tolist()) == set(range(4))


def test_captions_name_the_rendered_motion(clips):
    for i in range(0, 400, 5):
        colour = int(clips.objects.colour[i, 0])
        motion = observed_motion(clips.videos[i], colour)
        assert f"moving {motion}" in clips.captions[i] or f"moves {motion}" in clips.captions[i] \
            or f"going {motion}" in clips.captions[i], (clips.captions[i], motion)
        assert MOTIONS[int(clips.motion[i, 0])] == motion


def test_frame_order_matters(clips):
    """Reversed clips have identical frame sets but opposite captions: order is the only cue."""
    back = clips.reversed()
    assert torch.allclose(back.videos.mean(dim=1), clips.videos.mean(dim=1), atol=1e-6)
    assert torch.equal(back.videos[:, 0], clips.videos[:, -1])
    assert all(a != b for a, b in zip(back.captions, clips.captions, strict=True))
    for i in range(0, 400, 9):
        assert observed_motion(back.videos[i], int(back.objects.colour[i, 0])) == MOTIONS[int(back.motion[i, 0])]
    assert torch.equal(back.reversed().videos, clips.videos) and back.reversed().captions == clips.captions


def test_two_objects_stay_apart_in_every_frame():
    ds = make_motion_clips(n=200, n_objects=2, seed=3, max_speed=2)
    for k in range(2):                  # both objects fully visible: same pixel count in every frame
        colour = PALETTE[ds.objects.colour[:, k]][:, None, :, None, None]                 # (N, 1, 3, 1, 1)
        counts = ((ds.videos - colour).abs().amax(dim=2) < 0.02).sum(dim=(2, 3))       # (N, T)
        assert (counts > 0).all() and (counts == counts[:, :1]).all()
    assert " and a " in ds.captions[0]


def test_determinism_split_and_describe(clips):
    again = make_motion_clips(n=400, seed=0)
    assert torch.equal(again.videos, clips.videos) and again.captions == clips.captions
    assert make_motion_clips(n=400, seed=1).captions != clips.captions
    train, val, test = clips.split((0.8, 0.1, 0.1), seed=0)
    assert len(train) + len(val) + len(test) == 400
    assert not set(train.ids.tolist()) & set(test.ids.tolist())
    seen = {v.numpy().tobytes() for v in train.videos}
    assert not any(v.numpy().tobytes() in seen for v in test.videos)
    assert "(400, 8, 3, 32, 32) (N, T, C, H, W)" in clips.describe()


def test_noise_and_speed_knobs():
    fast = make_motion_clips(n=50, min_speed=3, max_speed=3, image_size=48, seed=4)
    travelled = [abs(centroid(fast.videos[i, -1], int(fast.objects.colour[i, 0]))[0] -
                     centroid(fast.videos[i, 0], int(fast.objects.colour[i, 0]))[0]) +
                 abs(centroid(fast.videos[i, -1], int(fast.objects.colour[i, 0]))[1] -
                     centroid(fast.videos[i, 0], int(fast.objects.colour[i, 0]))[1]) for i in range(50)]
    assert all(abs(t - 21) < 0.5 for t in travelled)
    noisy = make_motion_clips(n=50, seed=4, image_noise=0.2)
    assert noisy.videos.min() >= 0 and noisy.videos.max() <= 1 and (noisy.videos > 0).float().mean() > 0.45


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_frames=1), "n_frames must be an int in 2..32"),
    (dict(n_objects=3), "n_objects must be an int in 1..2"),
    (dict(min_speed=3, max_speed=2), "min_speed"),
    (dict(colours=("red", "mauve")), "unknown colour 'mauve'"),
    (dict(image_size=-32), "image_size"),
    (dict(max_speed=6, n_frames=8), "does not fit"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_motion_clips(**{"n": 10, **kwargs})


def test_show_video_draws_every_frame(clips):
    import matplotlib.pyplot as plt

    from cmlearn.data.show import show_samples
    fig = show_samples(clips, n=2)
    assert sum(bool(ax.images) for ax in fig.axes) == 16 and clips.captions[0] in fig.axes[0].get_title(loc="left")
    plt.close(fig)
