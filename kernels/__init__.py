"""CUDA C++ sources of gpuseq's kernels, shipped as package data (read at run time)."""
