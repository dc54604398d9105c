"""Layers, losses and optimisers together: a small model trains to a known result, repeatably, in flat memory."""
import gc
import sys

import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
import tinyattn.nn as nn
from tinyattn import optim


class BagOfTokens(nn.Module):
    """Mean of token embeddings -> LayerNorm -> Dropout -> Linear: enough to learn which token a sequence holds."""

    def __init__(self, vocabulary, width, classes):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width, padding_idx=0)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(0.1)
        self.out = nn.Linear(width, classes)

    def forward(self, ids):
        return self.out(self.dropout(self.norm(self.embed(ids).mean(axis=1))))


def make_batch(rng, size=64, length=6, vocabulary=12):
    """Sequences of tokens 1..vocabulary-1; the label is 1 if token 7 occurs anywhere, else 0."""
    ids = rng.integers(1, vocabulary, size=(size, length))
    return ids, (ids == 7).any(axis=1).astype(np.int64)


def train(seed, steps, optimizer_class=optim.Adam):
    ta.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = BagOfTokens(12, 16, 2)
    optimizer = optimizer_class(model.parameters(), lr=0.05)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=steps)
    for _ in range(steps):
        ids, labels = make_batch(rng)
        loss = F.cross_entropy(model(ids), labels)
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        schedule.step()
    return model


def accuracy(model, seed=99):
    ids, labels = make_batch(np.random.default_rng(seed), size=2000)
    model.eval()
    with ta.no_grad():
        predictions = np.argmax(model(ids).data, axis=-1)
    return float(np.mean(predictions == labels))


def test_a_small_model_learns_whether_a_token_occurs():
    # Chance is the majority class, about 58% (1 - (10/11)**6 of the sequences hold a 7); the model must do far better.
    assert accuracy(train(seed=0, steps=300)) >= 0.97


def test_a_seeded_training_run_repeats_bit_for_bit():
    first, second = train(seed=3, steps=20).state_dict(), train(seed=3, steps=20).state_dict()
    assert all(np.array_equal(first[name], second[name]) for name in first)
    other = train(seed=4, steps=20).state_dict()
    assert not np.array_equal(first["out.weight"], other["out.weight"])


def _resident_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_stays_flat_over_2000_training_steps():
    ta.manual_seed(0)
    rng = np.random.default_rng(0)
    model = BagOfTokens(12, 16, 2)
    optimizer = optim.AdamW(model.parameters(), lr=0.01)
    batches = [make_batch(rng, size=32) for _ in range(8)]

    def step(index):
        ids, labels = batches[index % len(batches)]
        loss = F.cross_entropy(model(ids), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    gc.disable()  # no reference cycles: memory must stay flat without the collector's help
    try:
        for index in range(200):
            step(index)
        before = _resident_kib()
        for index in range(2000):
            step(index)
        grown = _resident_kib() - before
    finally:
        gc.enable()
    assert grown < 4 * 1024, f"resident memory grew by {grown} KiB over 2,000 steps"
