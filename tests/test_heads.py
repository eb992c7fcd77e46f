"""Task heads: y = Linear(z; W_y) + b_y, an MLP, and the image–text matching logit."""

import pytest
import torch

from cmlearn.heads import LinearHead, MatchingHead, MLPHead


def test_linear_head_is_the_formula():
    head = LinearHead(3, 2)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(head(z), z @ head.linear.weight.T + head.linear.bias)


def test_mlp_and_matching_heads_shapes():
    z = torch.randn(4, 6)
    assert MLPHead(6, 5, hidden_dim=8)(z).shape == (4, 5)
    assert MatchingHead(6)(z).shape == (4,)
    assert MatchingHead(6, hidden_dim=8)(z).shape == (4,)


@pytest.mark.parametrize("head", [LinearHead(6, 2), MLPHead(6, 2), MatchingHead(6)])
def test_heads_name_the_expected_shape(head):
    with pytest.raises(ValueError, match=r"expected z of shape \(B, 6\), got \(4, 5\)"):
        head(torch.randn(4, 5))
