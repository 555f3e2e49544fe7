"""Torch facets of the recurrent layers: LSTM and GRU over a batch-first S×D sequence (rules/recurrent.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...rules.base import Shape
from ...rules.recurrent import GRU, LSTM, Cell
from .base import Factory, Read, Reader, Readers, ReadError


class Recurrent(nn.Module):
    """torch.nn.LSTM or nn.GRU, batch first, returning only its output sequence (not the last states), made
    contiguous: torch returns a transposed view of its time-major output, which the next matrix product would
    copy anyway (rules/recurrent.py counts the copy as this layer's output)."""

    def __init__(self, cell: Cell, features: int, args: Mapping[str, Any]):
        super().__init__()
        self.rnn = getattr(nn, cell.module)(features, args["hidden"], args["layers"], bias=args["bias"],
                                            batch_first=True, dropout=args["dropout"],
                                            bidirectional=args["bidirectional"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0].contiguous()


def _factory(cell: Cell) -> Factory:
    return lambda args, shapes, out: Recurrent(cell, shapes[0][-1], args)


FACTORIES: dict[str, Factory] = {cell.kind: _factory(cell) for cell in (LSTM, GRU)}


def _reader(cell: Cell) -> Reader:
    def read(module: nn.Module, shapes: list[Shape]) -> list[Read]:
        if not module.batch_first or getattr(module, "proj_size", 0):
            raise ReadError(f"a {cell.module} that is not batch first, or projects its states")
        return [Read(cell.kind, {"hidden": module.hidden_size, "layers": module.num_layers,
                                 "bidirectional": module.bidirectional, "bias": module.bias,
                                 "dropout": float(module.dropout)})]
    return read


READERS: Readers = {getattr(nn, cell.module): _reader(cell) for cell in (LSTM, GRU)}
