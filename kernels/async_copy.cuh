// Asynchronous copies from global to shared memory (cp.async, compute capability 8.0
// and newer), for kernels that keep several stages of their operands in flight.
//
// Included by the kernels that pipeline their shared-memory stages
// (`#include "async_copy.cuh"`). On the GPU these are single PTX instructions; under
// the CPU emulation (kernels/emulation/cuda_emulation.h) the emulation carries them
// out, at the moments that expose a missing wait or barrier (see below).
//
//   cp_async<BYTES>(dst, src, valid)
//                       start copying BYTES (4, 8 or 16) bytes from global src to
//                       shared dst, both aligned to BYTES; valid false: dst is filled
//                       with zeros and src is not read (it must still point into an
//                       allocation: pass the array's base).
//   cp_async_commit()   close the group of the copies this thread started since the
//                       last commit (an empty group is a group).
//   cp_async_wait<N>()  wait until at most the N newest committed groups of this
//                       thread are still in flight. The copies are visible to the
//                       thread itself then, and to the whole block after a
//                       __syncthreads() that every thread reaches after its wait.
//
// Older GPUs copy synchronously (a load and a store), so a module holding them still
// builds and runs there. Under the emulation the copies of a thread land at its wait
// when the threads run in ascending order (a read before the wait sees the old
// contents), and at once in the descending and shuffled orders (a copy into a stage
// that another thread still reads changes what it reads).
#pragma once

#include "gpuseq_common.cuh"

namespace gs {

template <long long BYTES>
__device__ __forceinline__ void cp_async(void* dst, const void* src, bool valid) {
    static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
#ifdef GPUSEQ_CUDA_EMULATION
    ::gpuseq_emu::cp_async(dst, src, BYTES, valid);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    Pack<unsigned, BYTES / 4> chunk;
    if (valid) {
        chunk = *static_cast<const Pack<unsigned, BYTES / 4>*>(src);
    } else {
#pragma unroll
        for (long long i = 0; i < BYTES / 4; ++i) chunk.v[i] = 0u;
    }
    *static_cast<Pack<unsigned, BYTES / 4>*>(dst) = chunk;
#else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(
                     static_cast<unsigned>(__cvta_generic_to_shared(dst))),
                 "l"(src), "n"(BYTES), "r"(valid ? static_cast<unsigned>(BYTES) : 0u)
                 : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifdef GPUSEQ_CUDA_EMULATION
    ::gpuseq_emu::cp_async_commit();
#elif !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <long long N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef GPUSEQ_CUDA_EMULATION
    ::gpuseq_emu::cp_async_wait(N);
#elif !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

}  // namespace gs
