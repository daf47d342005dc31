// TensorFloat-32 tensor-core helpers (compute capability 8.0 and newer).
//
// Included by the kernels that multiply on the tensor cores
// (`#include "tensor_core.cuh"`). On the GPU these are single PTX instructions;
// under the CPU emulation (kernels/emulation/cuda_emulation.h defines
// GPUSEQ_CUDA_EMULATION) they are computed by the emulation, so the same kernels,
// fragment layouts included, are tested without a GPU.
//
//   tf32_bits(x)        x rounded to TF32 (10 mantissa bits, to nearest, ties away
//                       from zero: cvt.rna.tf32.f32), as the bits of a float.
//   tf32_float(bits)    those bits read back as a float.
//   tf32_remainder(x, hi)
//                       the TF32 bits of x - tf32_float(hi), the part of x that its
//                       TF32 value hi misses (0 when hi is infinite or NaN): the low
//                       half of a 3xTF32 operand.
//   mma_tf32_16x8x8(d, a, b)
//                       d (16x8) += A (16x8) @ B (8x8) for one warp
//                       (mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32). Every
//                       lane of the warp calls it together. With lane = 4 g + t:
//                         a[0] = A[g][t]      a[1] = A[g + 8][t]
//                         a[2] = A[g][t + 4]  a[3] = A[g + 8][t + 4]
//                         b[0] = B[t][g]      b[1] = B[t + 4][g]
//                         d[r] = D[g + 8 (r / 2)][2 t + r % 2]   (r = 0..3)
//                       a and b hold TF32 bits (tf32_bits). Under the emulation every
//                       thread of the block must make the call together (it is a
//                       block barrier there), which a kernel whose warps run the
//                       same loop does.
//
// The instructions exist from sm_80 on; compiled for an older GPU, the helpers trap
// (the Python side never launches them there, and a module holding them still builds
// for its float64 kernels).
#pragma once

namespace gs {

__device__ __forceinline__ unsigned tf32_bits(float x) {
#ifdef GPUSEQ_CUDA_EMULATION
    return ::gpuseq_emu::tf32_round_bits(x);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    __trap();
    return 0u;
#else
    unsigned bits;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(bits) : "f"(x));
    return bits;
#endif
}

__device__ __forceinline__ float tf32_float(unsigned bits) { return __int_as_float((int)bits); }

__device__ __forceinline__ unsigned tf32_remainder(float x, unsigned hi) {
    return (hi & 0x7f800000u) == 0x7f800000u ? 0u : tf32_bits(x - tf32_float(hi));
}

__device__ __forceinline__ void mma_tf32_16x8x8(float* d, const unsigned* a, const unsigned* b) {
#ifdef GPUSEQ_CUDA_EMULATION
    ::gpuseq_emu::mma_tf32_m16n8k8(d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    __trap();
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

}  // namespace gs
