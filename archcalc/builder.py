"""A network built from Python, layer by layer: `Builder(input=(3, 224, 224)).add("conv", {...})`.

Each `add` is read as one item of a spec's `layers:` list (the same kinds, shorthand, defaults,
argument checks and messages, errors naming the layer's path), within the limits sized for
programs (expand.PROGRAM_LIMITS) rather than those for files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .errors import Mark, SpecError
from .expand import PROGRAM_LIMITS, Expander, header, read_blocks, top_scope
from .ir import INPUT, Network
from .source import plain


class Builder:
    """Layers added in run order; `build()` gives the Network.

        >>> builder = Builder(input=(3, 32, 32), name="tiny")
        >>> builder.add("conv", {"out": 16, "k": 3, "p": 1})
        'conv1'
        >>> builder.add("relu", name="act")
        'act'
        >>> builder.add("add", inputs=["conv1", "act"])
        'add1'
        >>> builder.add("fc", 10)
        'fc1'
        >>> len(builder.build().layers)
        4
    """

    def __init__(self, input: Sequence[Any], name: str = "network", *, title: str = "", source: str = "",
                 reference: str = "", file: str = ""):
        data = plain({"input": input, "name": name, "title": title, "source": source, "reference": reference})
        network = header(data, "", "network")  # `name` is checked as a spec's name, with the spec's message
        self._network = replace(network, file=file or f"<{network.name}>")
        self._mark = Mark(file, 0, 0) if file else None  # the file the layers come from, in their errors
        self._expander = Expander(self._network.file, {}, {}, PROGRAM_LIMITS)
        self._scope = top_scope({})
        self._current = INPUT
        self._items = 0

    def block(self, name: str, definition: Any) -> str:
        """Define a block as a spec's `blocks:` entry does (`{"layers": [...]}`, optionally `args`), for
        later `add(name, …)` or a moe's body (`add("moe", {"experts": 8, "top": 2, "body": name})`);
        returns its name."""
        if name in self._expander.blocks:
            raise SpecError(f"block '{name}' is already defined", None, f"blocks.{name}")
        self._expander.blocks.update(read_blocks(plain({name: definition}), None))
        return name

    def add(self, kind: str, args: Any = None, *, inputs: str | Sequence[str] | None = None,
            name: str | None = None, repeat: int | None = None) -> str:
        """Append a layer (`args` as a spec writes them: a mapping, a shorthand value, or None for the
        defaults) reading `inputs` (layer names; the previous layer by default); returns its name."""
        item: dict[str, Any] = {kind: args}
        for key, value in (("name", name), ("from", inputs), ("repeat", repeat)):
            if value is not None:
                item[key] = value
        path = f"layers[{self._items}]"
        self._items += 1
        data = plain(item)
        if self._mark:
            data.mark = self._mark
        self._current = self._expander.item(data, self._scope, self._current, path, None)
        return self._current

    def build(self) -> Network:
        """The network of the layers added so far."""
        if not self._expander.layers:
            raise SpecError("the network has no layers: add some before build()")
        return replace(self._network, layers=tuple(self._expander.layers))
