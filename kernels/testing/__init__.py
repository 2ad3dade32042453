"""Test tooling, not the product: a CPU emulation of the CUDA kernels of `kernels/cuda/`.

`emulation` is a stand-in `cupy` whose kernels are the CUDA program itself, compiled by g++
(`emulation_build`, with the runtime `emulation_runtime.h`, or `emulation_trace.h` to count the
bytes each launch moves) and run at their real grid and block sizes (`emulation_device`: the
allocator, streams and operation counting). The tests run the cupy backend on it without a GPU,
and the benchmarks `host_cost` and `bytes_moved` measure with it. It ships with the package
because those benchmarks are installed (`python -m attention_swap_reid.benchmarks.host_cost`)
and so that an installed copy can run its cupy backend on the CPU. Nothing of the product path
imports it (`kernels` never does; a test checks), and it needs g++.
"""
