"""The training source in worker processes: every batch's files read and fields drawn there, off
the training process's main thread, which only hands DALI the batch that is ready.

`SourceWorkers(source, workers)` is a drop-in for a `TrainSource` as DALI's per-batch callable
(`fn.external_source(..., batch=True, batch_info=True)`, not DALI's own parallel mode, whose
per-batch scheduling, messaging and per-sample feeding cost the main thread more than our whole
GPU path may: docs/gpu-path.md). The workers fill `slots` batches of rows in shared memory:
batch k of an epoch goes to worker k % workers and to slot k % slots, whose status says which
step it holds. A slot is handed to DALI as a view when its "ready" semaphore says so; DALI
copies it when it feeds the batch, after which (at the next call) its "free" semaphore lets a
worker reuse it. The main thread tells the workers each epoch's number once; nothing else
crosses processes per batch (the epoch's length neither: the worker whose turn the step after
the last is marks it done). A worker's failure (a file that cannot be read) is raised on the
main thread at that batch, naming it.
"""
from __future__ import annotations

import multiprocessing
import threading
import weakref
from contextlib import contextmanager
from multiprocessing import spawn

import numpy as np

_DONE = -1  # a slot's status: the epoch has no batch with this step
_FAILED = -2  # a slot's status: the worker could not make this batch (its message follows on `errors`)


def _work(source, worker: int, workers: int, slots: int, memory, status, free: list, ready: list, epochs,
          errors) -> None:
    """A worker's loop: for each epoch it is told, fill steps worker, worker + workers, ... of
    it, and mark the step after the last one done if that step is its own."""
    rows = np.frombuffer(memory, np.uint8).reshape(slots, source.sampler.batch_size, source.layout.row_bytes)
    while True:
        epoch = epochs.get()
        try:
            steps = len(source.plan(epoch))
        except Exception as error:  # the main thread waits for step 0: it gets the reason there
            free[0].acquire()
            errors.put(f"planning epoch {epoch}: {type(error).__name__}: {error}")
            status[0] = _FAILED
            ready[0].release()
            continue
        for step in range(worker, steps + 1, workers):
            slot = step % slots
            free[slot].acquire()
            if step == steps:
                status[slot] = _DONE
            else:
                try:
                    source.fill(rows[slot], epoch, step)
                    status[slot] = step
                except Exception as error:  # a one-line message, naming the file when it is a file's
                    errors.put(f"batch {step} of epoch {epoch}: {type(error).__name__}: {error}")
                    status[slot] = _FAILED
            ready[slot].release()


def _stop(processes: list) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join(timeout=5)


def _context():
    """Worker processes come from a fork server: a clean process (no CUDA, none of the training
    process's open files or locks, no garbage of its own to collect in a child) that imports this
    module once and forks each worker off itself cheaply."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


_NAME = "train-source-"  # the workers' process names: train-source-0, ...
_starting = threading.Lock()


@contextmanager
def _main_module_left_out():
    """While our workers start, the data multiprocessing prepares each new process with leaves
    out the parent's `__main__`: a child would otherwise run the user's script again (as
    `__mp_main__`), and one without an `if __name__ == "__main__":` guard would make loaders, and
    workers, inside the workers. Ours run this package's code only. Other processes (by name)
    are prepared as usual."""
    with _starting:
        original = spawn.get_preparation_data

        def prepare(name):
            data = original(name)
            if name.startswith(_NAME):
                data.pop("init_main_from_path", None)
                data.pop("init_main_from_name", None)
            return data

        spawn.get_preparation_data = prepare
        try:
            yield
        finally:
            spawn.get_preparation_data = original


class SourceWorkers:
    """A `TrainSource` run by `workers` processes (from a fork server), `slots` batches ahead (at
    least workers + 2). Call it as DALI calls the source:
    `pool(info)` -> (B, row_bytes) uint8 rows of batch `info.iteration` of epoch
    `source.first_epoch + info.epoch_idx`, a view of shared memory valid until the next call.
    The processes end with this object (or `close()`)."""

    def __init__(self, source, workers: int, slots: int | None = None):
        if workers < 1:
            raise ValueError(f"SourceWorkers: workers must be >= 1, got {workers}")
        self.source, self.workers = source, workers
        self.slots = max(slots or 0, workers + 2)
        context = _context()
        size = self.slots * source.sampler.batch_size * source.layout.row_bytes
        self._memory = context.RawArray("B", max(size, 1))
        self._rows = np.frombuffer(self._memory, np.uint8)[:size].reshape(self.slots, source.sampler.batch_size,
                                                                          source.layout.row_bytes)
        self._status = context.RawArray("q", self.slots)
        self._free = [context.Semaphore(1) for _ in range(self.slots)]
        self._ready = [context.Semaphore(0) for _ in range(self.slots)]
        self._epochs = [context.SimpleQueue() for _ in range(workers)]
        self._errors = context.SimpleQueue()
        self._processes = [context.Process(target=_work, daemon=True, name=f"{_NAME}{w}",
                                           args=(source, w, workers, self.slots, self._memory, self._status,
                                                 self._free, self._ready, self._epochs[w], self._errors))
                           for w in range(workers)]
        with _main_module_left_out():
            for process in self._processes:
                process.start()
        self._epoch = None  # the epoch being served
        self._held = None  # the slot DALI was last handed (freed at the next call)
        self._finalizer = weakref.finalize(self, _stop, self._processes)

    def __call__(self, info) -> np.ndarray:
        self._release()
        epoch = self.source.first_epoch + info.epoch_idx
        if epoch != self._epoch:  # DALI took every batch of the previous one, and the end
            self._epoch = epoch
            for q in self._epochs:
                q.put(epoch)
        slot = info.iteration % self.slots
        while not self._ready[slot].acquire(timeout=1.0):
            dead = [f"{p.name} (exit code {p.exitcode})" for p in self._processes if not p.is_alive()]
            if dead:
                raise RuntimeError(f"the training source's worker processes stopped before batch {info.iteration} of "
                                   f"epoch {epoch}: {', '.join(dead)}")
        self._held = slot
        status = self._status[slot]
        if status == info.iteration:
            return self._rows[slot]
        if status == _DONE:
            raise StopIteration
        raise RuntimeError(f"reading the training data failed in a worker process, {self._errors.get()}")

    def _release(self) -> None:
        if self._held is not None:
            self._free[self._held].release()
            self._held = None

    def close(self) -> None:
        """Stop the worker processes."""
        self._finalizer()
