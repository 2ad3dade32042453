"""Keeping DALI's output memory alive until the GPU work that reads it has run.

With DALI's dynamic executor the loader's batches are DALI's own memory, shared with torch
through DLPack: readiness is handled (torch's current stream waits for DALI's data when it takes
the tensors), lifetime is not. DALI may reuse a buffer as soon as its last reference goes, while
kernels queued on torch's stream may not have read it yet. `InFlight` holds a batch's DALI
tensors until an event recorded on the current stream when the next batch is asked for (after
everything the consumer queued for this one) has completed; a check per batch, no waiting.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable


class InFlight:
    """Holds objects until the work queued on the current CUDA stream before `hold` has run.

    `event()` makes an event with `record()` (on the current stream) and `query()` (True once
    done), torch.cuda.Event by default."""

    def __init__(self, event: Callable | None = None):
        if event is None:
            import torch

            event = torch.cuda.Event
        self._event = event
        self._held: deque = deque()

    def hold(self, objects) -> None:
        """Keep `objects` until the work queued so far on the current stream has run; let go of
        what earlier calls held whose work has run."""
        event = self._event()
        event.record()
        self._held.append((event, objects))
        while self._held and self._held[0][0].query():
            self._held.popleft()

    def __len__(self) -> int:
        return len(self._held)
