"""torch.cuda's devices, stood in for on a machine without a GPU (the backend's placement seam)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch


class FakeGpus:
    """torch.cuda's devices, stood in for on a machine without a GPU.

    ``placement("cuda:N")`` is the TensorRT backend's placement seam: its ``scope()`` makes N the
    current device while entered (as torch.cuda.device(N) does) and its buffers are CPU tensors.
    The double reads ``current`` as the active device. ``events`` lists, in order, the scope
    entries and exits and each buffer made, with the device current at the time.
    """

    def __init__(self, current: int = 0) -> None:
        self.current = current
        self.events: list[tuple[str, int]] = []

    def placement(self, device: str) -> HostPlacement:
        index = torch.device(device).index
        return HostPlacement(self, self.current if index is None else index)


class HostPlacement:
    def __init__(self, gpus: FakeGpus, index: int) -> None:
        self.gpus, self.index, self.name = gpus, index, f"cuda:{index}"

    @contextmanager
    def scope(self) -> Iterator[None]:
        before, self.gpus.current = self.gpus.current, self.index
        self.gpus.events.append(("enter", self.index))
        try:
            yield
        finally:
            self.gpus.current = before
            self.gpus.events.append(("exit", self.index))

    def buffer(self, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        self.gpus.events.append(("buffer", self.gpus.current))
        return tensor.to(dtype).contiguous().clone()  # a copy, as a host-to-device copy is

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        self.gpus.events.append(("empty", self.gpus.current))
        return torch.empty(tuple(shape), dtype=dtype)

    def stream_handle(self) -> int:
        return 7  # any non-default stream handle; the double records it

    def synchronize(self) -> None:
        self.gpus.events.append(("synchronize", self.gpus.current))

    def release(self) -> None:
        pass
