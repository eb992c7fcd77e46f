"""Text feature extractors, g(s) = RNN(s; W_s) + b_s (article §3.2.1).

Used in chapters 1, 2, 3, 4, 5, 7, 8, 10 and 11. Inputs are the
``input_ids`` and ``attention_mask`` that :class:`cmlearn.data.text.CaptionTokenizer` makes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cmlearn.encoders.common import freeze_


def check_token_batch(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Validate a token batch and return the length of each sequence, (B,) int64."""
    if input_ids.ndim != 2 or input_ids.dtype != torch.long:
        raise ValueError(f"expected input_ids of shape (B, T) and dtype int64, got {tuple(input_ids.shape)} {input_ids.dtype}")
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(attention_mask.shape)}"
        )
    lengths = attention_mask.sum(dim=1)
    if (lengths == 0).any():
        empty = torch.nonzero(lengths == 0).flatten().tolist()
        raise ValueError(f"text(s) at batch position {empty[:5]} are empty (no tokens); every text needs at least one")
    return lengths


def bag_of_words(input_ids: torch.Tensor, attention_mask: torch.Tensor, vocab_size: int, pad_id: int = 0) -> torch.Tensor:
    """A caption as the 0/1 vector of the words it contains: (B, T) token ids → (B, V), padding left out.

    Word order is lost, which costs nothing for captions like "a small red circle": colour, shape
    and size are each named by one word.
    """
    check_token_batch(input_ids, attention_mask)  # shapes agree, no empty caption
    if int(input_ids.max()) >= vocab_size or int(input_ids.min()) < 0:
        raise ValueError(f"expected token ids in [0, {vocab_size}), got ids from {int(input_ids.min())} to {int(input_ids.max())}")
    counts = torch.zeros(input_ids.shape[0], vocab_size, device=input_ids.device)
    counts.scatter_add_(1, input_ids, attention_mask.to(counts.dtype))  # (B, V): how often each word occurs
    counts[:, pad_id] = 0
    return (counts > 0).to(torch.float32)


class BagOfWordsTextEncoder(nn.Module):
    """g(s) = W · mean_t E[s_t] + b: word embeddings averaged over the real tokens, then a linear map.

    Word order is invisible to it: "red circle left of blue square" and "blue circle left of red square"
    contain the same words and get the same g (chapters 2 and 5 measure what that costs).

    Args:
        vocab_size: V, the tokenizer's vocabulary size.
        out_dim: D of g.
        embed_dim: E, the size of each word embedding.
        pad_id: the padding token's id (its embedding stays zero).

    Shapes:
        input_ids, attention_mask: (B, T)  ->  g: (B, out_dim); ``pooled``: (B, E).
    """

    def __init__(self, vocab_size: int, out_dim: int = 128, embed_dim: int = 64, pad_id: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.project = nn.Linear(embed_dim, out_dim)
        self.out_dim = out_dim

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """mean_t E[s_t] over the real tokens: (B, T) -> (B, E)."""
        check_token_batch(input_ids, attention_mask)
        e = self.embedding(input_ids)  # (B, T, E)
        m = attention_mask.unsqueeze(-1).to(e.dtype)  # (B, T, 1)
        return (e * m).sum(dim=1) / m.sum(dim=1)  # (B, E)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.project(self.pooled(input_ids, attention_mask))  # (B, D)


class GRUTextEncoder(nn.Module):
    """Embedding + bidirectional GRU; the text feature is the two final hidden states.

    The GRU reads the words in order, so "red circle left of blue square" and
    "blue circle left of red square" get different features (a bag of words could not
    tell them apart). Padding is skipped with packed sequences.

    Args:
        vocab_size: number of token ids.
        out_dim: size D of the output feature.
        embed_dim: size of each word embedding.
        hidden_dim: GRU hidden size per direction.
        pad_id: id of the padding token.

    Shapes:
        input_ids, attention_mask: (B, T) int64  ->  g: (B, D)
    """

    def __init__(self, vocab_size: int, out_dim: int = 128, embed_dim: int = 64, hidden_dim: int = 64, pad_id: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = nn.GRU(embed_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.project = nn.Linear(2 * hidden_dim, out_dim)
        self.vocab_size = vocab_size
        self.out_dim = out_dim
        self.token_dim = 2 * hidden_dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = check_token_batch(input_ids, attention_mask)
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]")
        embedded = self.embedding(input_ids)  # (B, T, E)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last_hidden = self.rnn(packed)  # (2, B, H): forward and backward final states
        both_directions = torch.cat([last_hidden[0], last_hidden[1]], dim=-1)  # (B, 2H)
        return self.project(both_directions)  # (B, D)

    def tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per-word GRU states (forward and backward concatenated), (B, T, 2H); zeros at padding."""
        lengths = check_token_batch(input_ids, attention_mask)
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]")
        packed = pack_padded_sequence(self.embedding(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.rnn(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=input_ids.shape[1])
        return states  # (B, T, 2H)


def rnn_by_hand(rnn: nn.RNN | nn.GRU | nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g(s) = RNN(s; W_s) + b_s written out step by step, with ``rnn``'s own weights.

    For ``nn.RNN`` (Elman):  h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).
    For ``nn.GRU`` (Cho et al. 2014), as PyTorch computes it:

    .. math::

        r_t = \\sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}),\\quad
        u_t = \\sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}),\\\\
        n_t = \\tanh(W_{in} x_t + b_{in} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})),\\quad
        h_t = (1 - u_t) \\odot n_t + u_t \\odot h_{t-1}

    For ``nn.LSTM``: i, f, g, o gates, c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).

    Args:
        rnn: a one-layer, one-direction, ``batch_first=True`` recurrent module.
        x: (B, T, E) input sequence.

    Returns:
        (outputs (B, T, H), last hidden state (B, H)) — equal to ``rnn(x)``'s.
    """
    if rnn.num_layers != 1 or rnn.bidirectional or not rnn.batch_first:
        raise ValueError(
            "expected a one-layer, one-direction, batch_first RNN, got "
            f"num_layers={rnn.num_layers}, bidirectional={rnn.bidirectional}, batch_first={rnn.batch_first}"
        )
    if x.ndim != 3 or x.shape[-1] != rnn.input_size:
        raise ValueError(f"expected x of shape (B, T, {rnn.input_size}), got {tuple(x.shape)}")
    W_ih, W_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    b_ih = rnn.bias_ih_l0 if rnn.bias else torch.zeros(W_ih.shape[0])
    b_hh = rnn.bias_hh_l0 if rnn.bias else torch.zeros(W_hh.shape[0])
    B, T, _ = x.shape
    h = x.new_zeros(B, rnn.hidden_size)
    c = x.new_zeros(B, rnn.hidden_size)
    outputs = []
    for t in range(T):
        gi = x[:, t] @ W_ih.T + b_ih  # (B, k·H): input part of every gate
        gh = h @ W_hh.T + b_hh  # (B, k·H): recurrent part
        if isinstance(rnn, nn.GRU):
            i_r, i_z, i_n = gi.chunk(3, dim=1)
            h_r, h_z, h_n = gh.chunk(3, dim=1)
            r = torch.sigmoid(i_r + h_r)  # reset gate
            u = torch.sigmoid(i_z + h_z)  # update gate
            n = torch.tanh(i_n + r * h_n)  # candidate state
            h = (1 - u) * n + u * h
        elif isinstance(rnn, nn.LSTM):
            i, f, g, o = (gi + gh).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif rnn.nonlinearity == "tanh":
            h = torch.tanh(gi + gh)
        else:
            h = torch.relu(gi + gh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


class RNNTextEncoder(nn.Module):
    """Embedding + a recurrent layer of your choice (``"rnn"``, ``"gru"`` or ``"lstm"``).

    The general form of :class:`GRUTextEncoder`: g(s) is the final hidden state(s),
    projected to ``out_dim``. Padding is skipped with packed sequences.

    Args:
        vocab_size: number of token ids.
        out_dim: size D of the output feature.
        cell: ``"rnn"`` (Elman, tanh), ``"gru"`` or ``"lstm"``.
        embed_dim, hidden_dim: word embedding size and hidden size per direction.
        bidirectional: read the text both ways.
        pad_id: id of the padding token.
        freeze: freeze embedding and RNN (the projection stays trainable).

    Shapes:
        input_ids, attention_mask: (B, T) int64  ->  g: (B, D); ``tokens(...)``: (B, T, k·H), k = 1 or 2.
    """

    CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

    def __init__(
        self,
        vocab_size: int,
        out_dim: int = 128,
        cell: str = "gru",
        embed_dim: int = 64,
        hidden_dim: int = 64,
        bidirectional: bool = True,
        pad_id: int = 0,
        freeze: bool = False,
    ):
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"expected cell one of {sorted(self.CELLS)}, got {cell!r}")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = self.CELLS[cell](embed_dim, hidden_dim, batch_first=True, bidirectional=bidirectional)
        directions = 2 if bidirectional else 1
        self.project = nn.Linear(directions * hidden_dim, out_dim)
        if freeze:
            freeze_(self.embedding)
            freeze_(self.rnn)
        self.cell, self.vocab_size, self.out_dim = cell, vocab_size, out_dim
        self.token_dim = directions * hidden_dim

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        lengths = check_token_batch(input_ids, attention_mask)
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]")
        packed = pack_padded_sequence(self.embedding(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        return self.rnn(packed)

    def tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states, _ = self._run(input_ids, attention_mask)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=input_ids.shape[1])
        return states  # (B, T, k·H)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        _, last = self._run(input_ids, attention_mask)
        if self.cell == "lstm":
            last = last[0]  # (h_T, c_T) -> h_T
        return self.project(torch.cat(list(last), dim=-1))  # (k, B, H) -> (B, k·H) -> (B, D)


class TransformerTextEncoder(nn.Module):
    """A small Transformer encoder (Vaswani et al. 2017): token + learned position embeddings, self-attention.

    Padding is excluded from attention with a key-padding mask, and g(s) is the mean of the
    real tokens' final states, so appending padding does not change g.

    Args:
        vocab_size: number of token ids.
        out_dim: size D of the output feature.
        d_model, num_heads, num_layers, ff_dim: Transformer width, heads, depth, MLP width.
        max_length: longest sequence (number of position embeddings).
        dropout: dropout inside the layers.
        pad_id: id of the padding token.

    Shapes:
        input_ids, attention_mask: (B, T) int64, T ≤ max_length  ->  g: (B, D); ``tokens(...)``: (B, T, d_model).
    """

    def __init__(
        self,
        vocab_size: int,
        out_dim: int = 128,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        ff_dim: int = 128,
        max_length: int = 64,
        dropout: float = 0.1,
        pad_id: int = 0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.position = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, ff_dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.project = nn.Linear(d_model, out_dim)
        self.vocab_size, self.max_length, self.out_dim = vocab_size, max_length, out_dim
        self.token_dim = d_model

    def tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        check_token_batch(input_ids, attention_mask)
        B, T = input_ids.shape
        if T > self.max_length:
            raise ValueError(f"expected at most max_length={self.max_length} tokens, got T={T}")
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]")
        positions = torch.arange(T, device=input_ids.device)
        x = self.embedding(input_ids) + self.position(positions)  # (B, T, d_model)
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)  # True marks padding for PyTorch
        return self.norm(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.tokens(input_ids, attention_mask)  # (B, T, d_model)
        m = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1)  # (B, d_model): mean over real tokens
        return self.project(pooled)  # (B, D)
