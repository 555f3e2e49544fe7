"""The bundled medium LSTM language model (Zaremba et al. 2014) against the same network written in plain
torch.nn (Embedding, Dropout, LSTM, Dropout, Linear): parameters, MACs and the bytes autograd keeps."""

from __future__ import annotations

import pytest

import archcalc
from conftest import torch_or_fail

STEPS, VOCAB, WIDTH, BATCH = 35, 10000, 650, 20  # the paper's batch


@pytest.fixture(scope="module")
def torch():
    return torch_or_fail()


@pytest.fixture(scope="module")
def reference(torch):
    nn = torch.nn

    class ZarembaMedium(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, WIDTH)
            self.drop = nn.Dropout(0.5)
            self.lstm = nn.LSTM(WIDTH, WIDTH, 2, dropout=0.5, batch_first=True)
            self.decoder = nn.Linear(WIDTH, VOCAB)

        def forward(self, ids):
            return self.decoder(self.drop(self.lstm(self.drop(self.embed(ids)))[0]))

    return ZarembaMedium()


def test_spec_has_the_papers_figures():
    report = archcalc.analyze(archcalc.load("lstm-lm-medium"))
    lstm = 2 * (4 * WIDTH * (WIDTH + WIDTH) + 8 * WIDTH)
    assert report.totals.params == VOCAB * WIDTH + lstm + WIDTH * VOCAB + VOCAB
    assert report.totals.macs == STEPS * 2 * 4 * WIDTH * (WIDTH + WIDTH) + STEPS * WIDTH * VOCAB


def test_spec_matches_plain_torch_model(torch, reference):
    from archcalc.backends.measure import flop_counter, saved_bytes

    report = archcalc.analyze(archcalc.load("lstm-lm-medium"), BATCH)
    assert sum(p.numel() for p in reference.parameters()) == report.totals.params
    ids = torch.randint(VOCAB, (BATCH, STEPS))
    reference.train()
    with flop_counter() as counter, saved_bytes(reference, lambda: "all") as kept:
        reference(ids)
    assert counter.get_total_flops() == 2 * BATCH * report.totals.macs
    # within 5%: dropout keeps a float mask on the CPU, the 1-byte mask the engine counts on CUDA
    assert abs(report.totals.train_saved_bytes - kept["all"]) <= 0.05 * kept["all"], (report.totals.train_saved_bytes,
                                                                                       kept["all"])
