// CPU emulation of the CUDA execution model, so that g++ compiles the same
// kernels/*.cu source that NVRTC compiles for the GPU.
//
// What it provides (and nothing more: a kernel that steps outside this subset
// fails to compile here, which is the point):
//   * qualifiers: __global__ __device__ __host__ __forceinline__ __noinline__
//     __launch_bounds__(...) __restrict__ (native in g++), __shared__ for
//     static arrays declared inside a kernel or device function;
//   * built-in variables: threadIdx, blockIdx (uint3), blockDim, gridDim (dim3),
//     warpSize; the types dim3 and uint3;
//   * barriers: __syncthreads(), __syncthreads_count/and/or(pred). Every thread
//     of a block is a cooperative fiber; a barrier suspends the fiber until every
//     thread of the block has reached it, so the threads genuinely interleave
//     at barriers. Reaching different barriers, or exiting while other threads
//     wait at one, is reported as an error (undefined behaviour on a GPU).
//     The order in which the fibers of a block run between two barriers is
//     selectable (gpuseq_emu_set_thread_order): ascending thread index (the
//     default), descending, or a seeded shuffle drawn afresh for every block and
//     every barrier phase. A kernel that reads shared or global memory written by
//     another thread of its block without a barrier in between gives different
//     results under the different orders, which exposes the missing barrier;
//   * __threadfence(), __threadfence_block(), __trap();
//   * atomicAdd / atomicMax / atomicMin / atomicExch / atomicCAS on int,
//     unsigned, unsigned long long, float, double (atomicAdd), exact because
//     fibers of one launch never run at the same time;
//   * math: the C float and double functions (expf, logf, tanhf, fmaxf, sqrtf,
//     log1pf, expm1f, ...) plus CUDA's rsqrtf/rsqrt, __expf, __logf, __fdividef,
//     __saturatef, __float_as_int, __int_as_float, __double_as_longlong,
//     __longlong_as_double, __ldg, and min/max overloads of the integer and
//     floating types;
//   * the tensor-core helpers of kernels/tensor_core.cuh (TF32 rounding, the
//     m16n8k8 TF32 warp product with the PTX fragment layout) and the asynchronous
//     copies of kernels/async_copy.cuh (cp.async, landing at the wait in the
//     ascending thread order and at once in the others): this header defines
//     GPUSEQ_CUDA_EMULATION, and those helpers call the emulation.
// Not provided: warp shuffles and votes, dynamic (extern) shared memory,
// textures, cooperative groups, streams inside kernels.
//
// Execution: gpuseq_emu::launch() runs the blocks one after another on the
// calling OS thread; inside a block, fibers run round-robin until each reaches a
// barrier or returns. Fibers switch with _setjmp/_longjmp (no system call) on
// stacks taken from a per-OS-thread pool, so launches from several Python
// threads at once are independent (shared arrays and the built-in variables
// are thread_local).
#pragma once

// _longjmp between fiber stacks must not go through glibc's fortified
// __longjmp_chk, which rejects jumps to another stack.
#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif

#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <type_traits>
#include <utility>

// ---------------------------------------------------------------------------
// Qualifiers
// ---------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// A static array inside the kernel body: one per block because blocks run one
// after another on an OS thread; thread_local so concurrent launches from
// other OS threads do not share it.
#define __shared__ static thread_local

// ---------------------------------------------------------------------------
// Built-in types and variables
// ---------------------------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
};

namespace gpuseq_emu {
inline thread_local uint3 g_thread_idx = {0, 0, 0};
inline thread_local uint3 g_block_idx = {0, 0, 0};
inline thread_local dim3 g_block_dim = dim3(1, 1, 1);
inline thread_local dim3 g_grid_dim = dim3(1, 1, 1);
}  // namespace gpuseq_emu

// Read-only views, like the CUDA built-ins.
#define threadIdx (static_cast<const uint3&>(::gpuseq_emu::g_thread_idx))
#define blockIdx (static_cast<const uint3&>(::gpuseq_emu::g_block_idx))
#define blockDim (static_cast<const dim3&>(::gpuseq_emu::g_block_dim))
#define gridDim (static_cast<const dim3&>(::gpuseq_emu::g_grid_dim))
static constexpr int warpSize = 32;

// ---------------------------------------------------------------------------
// The fiber scheduler
// ---------------------------------------------------------------------------
namespace gpuseq_emu {

enum FiberState { FIBER_IDLE, FIBER_RUNNING, FIBER_AT_BARRIER, FIBER_DONE };

// A cp.async copy in flight (see cp_async below).
struct PendingCopy {
    void* dst;
    const void* src;
    unsigned long long bytes;
    bool valid;
    unsigned long long group;  // the number of groups committed before it started
};

struct Fiber {
    jmp_buf ctx;                 // where the fiber resumes
    void* stack = nullptr;       // mmap'd region (guard page + stack)
    size_t stack_bytes = 0;
    bool parked = false;         // worker loop started and parked, ready for a task
    FiberState state = FIBER_IDLE;
    uint3 tid = {0, 0, 0};
    const char* barrier_file = nullptr;  // source location of the barrier it waits at
    int barrier_line = 0;
    int predicate = 0;                   // for __syncthreads_count/and/or
    // cp.async copies started and not yet landed (deferred mode), in issue order
    PendingCopy* pending = nullptr;
    unsigned long long npending = 0;
    unsigned long long committed = 0;    // cp.async groups committed by this thread
};

struct Task {
    void (*run)(void* ctx);
    void* ctx;
};

static constexpr unsigned kMaxThreads = 1024;  // per block, as on every CUDA GPU

struct Scheduler {
    Fiber* fibers[kMaxThreads] = {};  // pool, grows to the largest block seen
    unsigned nfibers = 0;
    jmp_buf sched_ctx;                // where a fiber returns control
    Fiber* current = nullptr;
    Task task = {nullptr, nullptr};
    bool failed = false;
    char error[512] = {0};
    // Barrier reduction results, double-buffered by phase parity.
    long long pred_sum[2] = {0, 0};
    long long pred_all[2] = {1, 1};
    long long pred_any[2] = {0, 0};
    unsigned phase = 0;
    // Order of the fibers between barriers: 0 ascending, 1 descending, 2 shuffled.
    int order_mode = 0;
    unsigned long long order_seed = 0;
    unsigned perm[kMaxThreads] = {};
    ~Scheduler() {
        for (unsigned i = 0; i < nfibers; ++i) {
            if (fibers[i]->stack) munmap(fibers[i]->stack, fibers[i]->stack_bytes);
            delete[] fibers[i]->pending;
            delete fibers[i];
        }
    }
};

inline thread_local Scheduler g_sched;

static constexpr size_t kStackBytes = 256 * 1024;

// Park the current fiber and return control to the scheduler.
__attribute__((noinline)) inline void yield_to_scheduler() {
    Fiber* f = g_sched.current;
    if (_setjmp(f->ctx) == 0) _longjmp(g_sched.sched_ctx, 1);
}

// Entry of a worker fiber: run tasks forever, parking in between.
inline void worker_main() {
    Fiber* f = g_sched.current;
    f->parked = true;
    f->state = FIBER_IDLE;
    yield_to_scheduler();  // wait for the first task
    for (;;) {
        g_sched.task.run(g_sched.task.ctx);
        g_sched.current->state = FIBER_DONE;
        yield_to_scheduler();  // wait for the next task
    }
}

// Start a worker on a fresh stack (once per pool slot; one system call).
__attribute__((noinline)) inline bool start_worker(Fiber* f) {
    if (f->stack == nullptr) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        f->stack_bytes = kStackBytes + page;
        void* mem = mmap(nullptr, f->stack_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mem == MAP_FAILED) return false;
        mprotect(mem, page, PROT_NONE);  // guard page: overflow faults, never corrupts
        f->stack = mem;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ucontext_t here, there;
    if (getcontext(&there) != 0) return false;
    there.uc_stack.ss_sp = static_cast<char*>(f->stack) + page;
    there.uc_stack.ss_size = f->stack_bytes - page;
    there.uc_link = nullptr;
    makecontext(&there, (void (*)())worker_main, 0);
    g_sched.current = f;
    f->parked = false;
    if (_setjmp(g_sched.sched_ctx) == 0) swapcontext(&here, &there);
    // the worker parked itself with _longjmp(sched_ctx)
    return f->parked;
}

// Run fiber f until it parks (barrier, finished task).
__attribute__((noinline)) inline void resume(Fiber* f) {
    g_sched.current = f;
    g_thread_idx = f->tid;
    f->state = FIBER_RUNNING;
    if (_setjmp(g_sched.sched_ctx) == 0) _longjmp(f->ctx, 1);
}

inline void fail(const char* msg) {
    if (!g_sched.failed) {
        g_sched.failed = true;
        snprintf(g_sched.error, sizeof g_sched.error, "%s", msg);
    }
}

struct BlockName {
    char text[64];
    BlockName() {
        snprintf(text, sizeof text, "block (%u, %u, %u)", g_block_idx.x, g_block_idx.y,
                 g_block_idx.z);
    }
};

// Called by a thread at a barrier (identified by its source location: the
// compiler may duplicate the call, so a code address would not identify it).
__attribute__((noinline)) inline void barrier_wait(const char* file, int line, int pred) {
    Fiber* f = g_sched.current;
    f->barrier_file = file;
    f->barrier_line = line;
    f->predicate = pred;
    unsigned p = g_sched.phase & 1u;
    g_sched.pred_sum[p] += pred ? 1 : 0;
    if (!pred) g_sched.pred_all[p] = 0;
    if (pred) g_sched.pred_any[p] = 1;
    f->state = FIBER_AT_BARRIER;
    yield_to_scheduler();
}

// splitmix64: the random stream of the shuffled thread order.
inline unsigned long long mix64(unsigned long long x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Fill s.perm[0..nthreads) with the order the fibers run in during one phase.
inline void order_threads(unsigned nthreads) {
    Scheduler& s = g_sched;
    for (unsigned i = 0; i < nthreads; ++i)
        s.perm[i] = s.order_mode == 1 ? nthreads - 1 - i : i;
    if (s.order_mode != 2) return;
    unsigned long long block = ((unsigned long long)g_block_idx.z * g_grid_dim.y + g_block_idx.y) *
                                   g_grid_dim.x + g_block_idx.x;
    unsigned long long state = mix64(s.order_seed ^ mix64(block * 0x100000001ULL + s.phase));
    for (unsigned i = nthreads; i > 1; --i) {  // Fisher-Yates
        state = mix64(state);
        unsigned j = (unsigned)(state % i);
        unsigned t = s.perm[i - 1];
        s.perm[i - 1] = s.perm[j];
        s.perm[j] = t;
    }
}

// Run one block: every thread as a fiber, in the selected order between barriers.
inline bool run_block(unsigned nthreads) {
    Scheduler& s = g_sched;
    while (s.nfibers < nthreads) s.fibers[s.nfibers++] = new Fiber();
    for (unsigned i = 0; i < nthreads; ++i) {
        Fiber* f = s.fibers[i];
        if (!f->parked && !start_worker(f)) {
            fail("could not allocate a fiber stack for the CUDA emulation");
            return false;
        }
        unsigned bx = g_block_dim.x, by = g_block_dim.y;
        f->tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
        f->state = FIBER_IDLE;
        f->npending = 0;
        f->committed = 0;
    }
    s.phase = 0;
    s.pred_sum[0] = s.pred_sum[1] = 0;
    s.pred_all[0] = s.pred_all[1] = 1;
    s.pred_any[0] = s.pred_any[1] = 0;
    bool first = true;
    for (;;) {
        order_threads(nthreads);
        for (unsigned k = 0; k < nthreads; ++k) {
            Fiber* f = s.fibers[s.perm[k]];
            if (first || f->state == FIBER_AT_BARRIER) resume(f);
            if (s.failed) break;
        }
        first = false;
        if (s.failed) break;
        unsigned at_barrier = 0, done = 0;
        const Fiber* first_waiter = nullptr;
        const Fiber* other_waiter = nullptr;
        for (unsigned i = 0; i < nthreads; ++i) {
            Fiber* f = s.fibers[i];
            if (f->state == FIBER_AT_BARRIER) {
                if (at_barrier == 0) first_waiter = f;
                else if (other_waiter == nullptr &&
                         (f->barrier_line != first_waiter->barrier_line ||
                          strcmp(f->barrier_file, first_waiter->barrier_file) != 0))
                    other_waiter = f;
                ++at_barrier;
            } else if (f->state == FIBER_DONE) {
                ++done;
            }
        }
        if (done == nthreads) break;
        if (at_barrier != nthreads) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "the __syncthreads() at %s:%d was reached by %u of the %u threads of %s; "
                     "the other %u returned first. Every thread of a block must reach the same "
                     "barrier (do not return early before a __syncthreads()).",
                     first_waiter->barrier_file, first_waiter->barrier_line, at_barrier,
                     nthreads, BlockName().text, done);
            fail(buf);
            break;
        }
        if (other_waiter != nullptr) {
            char buf[512];
            snprintf(buf, sizeof buf,
                     "the threads of %s waited at different barriers: thread (%u, %u, %u) at "
                     "%s:%d and thread (%u, %u, %u) at %s:%d (a __syncthreads() inside "
                     "divergent code). Every thread of a block must reach the same barrier.",
                     BlockName().text, first_waiter->tid.x, first_waiter->tid.y,
                     first_waiter->tid.z, first_waiter->barrier_file, first_waiter->barrier_line,
                     other_waiter->tid.x, other_waiter->tid.y, other_waiter->tid.z,
                     other_waiter->barrier_file, other_waiter->barrier_line);
            fail(buf);
            break;
        }
        // Everyone arrived: open the next phase (reset the other parity's reductions).
        s.phase += 1;
        unsigned q = s.phase & 1u;
        s.pred_sum[q] = 0;
        s.pred_all[q] = 1;
        s.pred_any[q] = 0;
    }
    if (s.failed) {
        // Fibers stopped inside the kernel can not be resumed: restart their workers
        // (one context setup each) before the next launch uses them.
        for (unsigned i = 0; i < nthreads; ++i) s.fibers[i]->parked = false;
        return false;
    }
    return true;
}

// Launch `kernel` over grid x block, each thread calling it with `args`.
template <typename Fn>
inline int run_grid(Fn* body, const unsigned* grid, const unsigned* block, char* err,
                    size_t errlen) {
    Scheduler& s = g_sched;
    s.failed = false;
    s.error[0] = 0;
    unsigned long long nthreads64 = (unsigned long long)block[0] * block[1] * block[2];
    // The limits of every CUDA GPU (compute capability >= 3.0): grid.x < 2^31,
    // grid.y and grid.z <= 65535, block.x and block.y <= 1024, block.z <= 64, at
    // most 1024 threads per block. A launch outside them fails on the GPU with
    // cudaErrorInvalidConfiguration / CUDA_ERROR_INVALID_VALUE, so it fails here.
    if (nthreads64 == 0 || nthreads64 > kMaxThreads || grid[0] == 0 || grid[1] == 0 ||
        grid[2] == 0 || grid[0] > 2147483647u || grid[1] > 65535u || grid[2] > 65535u ||
        block[0] > 1024u || block[1] > 1024u || block[2] > 64u) {
        snprintf(err, errlen,
                 "invalid launch configuration grid=(%u, %u, %u) block=(%u, %u, %u): CUDA "
                 "needs 1 <= grid.x <= 2147483647, 1 <= grid.y, grid.z <= 65535, "
                 "block <= (1024, 1024, 64) and at most 1024 threads per block",
                 grid[0], grid[1], grid[2], block[0], block[1], block[2]);
        return 1;
    }
    unsigned nthreads = (unsigned)nthreads64;
    g_grid_dim = dim3(grid[0], grid[1], grid[2]);
    g_block_dim = dim3(block[0], block[1], block[2]);
    s.task.run = [](void* ctx) { (*static_cast<Fn*>(ctx))(); };
    s.task.ctx = body;
    for (unsigned bz = 0; bz < grid[2]; ++bz)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx) {
                g_block_idx = uint3{bx, by, bz};
                if (!run_block(nthreads)) {
                    snprintf(err, errlen, "%s", s.error);
                    return 2;
                }
            }
    return 0;
}

// ---------------------------------------------------------------------------
// Kernel signatures, as strings the Python side checks arguments against.
// ---------------------------------------------------------------------------
template <typename T> struct ScalarName;
template <> struct ScalarName<float> { static constexpr const char* v = "float32"; };
template <> struct ScalarName<double> { static constexpr const char* v = "float64"; };
template <> struct ScalarName<long long> { static constexpr const char* v = "int64"; };
template <> struct ScalarName<long> { static constexpr const char* v = "int64"; };
template <> struct ScalarName<int> { static constexpr const char* v = "int32"; };
template <> struct ScalarName<unsigned int> { static constexpr const char* v = "uint32"; };
template <> struct ScalarName<unsigned long long> { static constexpr const char* v = "uint64"; };
template <> struct ScalarName<unsigned long> { static constexpr const char* v = "uint64"; };
template <> struct ScalarName<unsigned char> { static constexpr const char* v = "uint8"; };
template <> struct ScalarName<bool> { static constexpr const char* v = "bool"; };

// Appends the name of one parameter type ("const float32*", "int64", ...) to out.
template <typename T> struct ParamName {
    static void append(char* out, size_t cap) {
        strncat(out, ScalarName<T>::v, cap - strlen(out) - 1);
    }
};
template <typename T> struct ParamName<T*> {
    static void append(char* out, size_t cap) {
        using E = typename std::remove_cv<T>::type;
        if (std::is_const<T>::value) strncat(out, "const ", cap - strlen(out) - 1);
        strncat(out, ScalarName<E>::v, cap - strlen(out) - 1);
        strncat(out, "*", cap - strlen(out) - 1);
    }
};

// Writes "type,type,..." of a kernel's parameters into out.
template <typename... A>
inline void signature_of(void (*)(A...), char* out, size_t cap) {
    out[0] = 0;
    int i = 0;
    (void)i;
    using expand = int[];
    (void)expand{0, ((i++ ? (void)strncat(out, ",", cap - strlen(out) - 1) : (void)0),
                     ParamName<typename std::decay<A>::type>::append(out, cap), 0)...};
}

template <typename... A, size_t... I>
inline void call_with(void (*k)(A...), void** args, std::index_sequence<I...>) {
    k(*static_cast<typename std::decay<A>::type*>(args[I])...);
}

// The C entry points generated per name expression call this.
template <typename... A>
inline int launch(void (*k)(A...), const unsigned* grid, const unsigned* block, void** args,
                  char* err, size_t errlen) {
    auto body = [k, args]() { call_with(k, args, std::index_sequence_for<A...>{}); };
    return run_grid(&body, grid, block, err, errlen);
}

}  // namespace gpuseq_emu

// ---------------------------------------------------------------------------
// Device functions
// ---------------------------------------------------------------------------
namespace gpuseq_emu {
inline int barrier_count(const char* file, int line, int pred) {
    barrier_wait(file, line, pred);
    return (int)g_sched.pred_sum[(g_sched.phase - 1) & 1u];
}
inline int barrier_and(const char* file, int line, int pred) {
    barrier_wait(file, line, pred);
    return (int)g_sched.pred_all[(g_sched.phase - 1) & 1u];
}
inline int barrier_or(const char* file, int line, int pred) {
    barrier_wait(file, line, pred);
    return (int)g_sched.pred_any[(g_sched.phase - 1) & 1u];
}
}  // namespace gpuseq_emu
// Macros, so that each barrier carries the file and line it is written at.
#define __syncthreads() ::gpuseq_emu::barrier_wait(__FILE__, __LINE__, 1)
#define __syncthreads_count(pred) ::gpuseq_emu::barrier_count(__FILE__, __LINE__, (pred) ? 1 : 0)
#define __syncthreads_and(pred) ::gpuseq_emu::barrier_and(__FILE__, __LINE__, (pred) ? 1 : 0)
#define __syncthreads_or(pred) ::gpuseq_emu::barrier_or(__FILE__, __LINE__, (pred) ? 1 : 0)
inline void __threadfence() {}

// ---------------------------------------------------------------------------
// Tensor cores (kernels/tensor_core.cuh): TF32 rounding and the warp-wide
// m16n8k8 TF32 product, with the fragment layout of the PTX instruction.
// ---------------------------------------------------------------------------
#define GPUSEQ_CUDA_EMULATION 1

namespace gpuseq_emu {

// cvt.rna.tf32.f32: keep 10 mantissa bits, rounding the magnitude to nearest with
// ties away from zero; infinities stay, a NaN becomes the canonical NaN.
inline unsigned tf32_round_bits(float x) {
    unsigned u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x007fffffu) ? 0x7fffffffu : u;
    return (u + 0x1000u) & 0xffffe000u;
}

// What each thread of the block hands to its warp for one product; two slots, by the
// parity of the barrier phase in which the fragments are posted.
struct MmaLane {
    float a[4];
    float b[2];
};
inline thread_local MmaLane g_mma_lanes[2][kMaxThreads];

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 for the warp of the calling
// thread: every thread posts its fragments, waits at a block barrier, and computes its
// four results from its warp's fragments (exact products, summed in double, added to
// d and rounded to float). One barrier suffices: the next product posts into the other
// slot, and a thread can only post into this slot again after a later barrier, which
// every thread reaches after reading.
inline void mma_tf32_m16n8k8(float* d, const unsigned* a, const unsigned* b) {
    const unsigned threads = g_block_dim.x * g_block_dim.y * g_block_dim.z;
    if (threads % 32u) {
        char msg[128];
        snprintf(msg, sizeof msg, "mma_tf32_16x8x8 needs whole warps; the block has %u threads",
                 threads);
        fail(msg);
        _longjmp(g_sched.sched_ctx, 1);
    }
    const unsigned tid =
        g_thread_idx.x + g_block_dim.x * (g_thread_idx.y + g_block_dim.y * g_thread_idx.z);
    MmaLane* lanes = g_mma_lanes[g_sched.phase & 1u];
    MmaLane& mine = lanes[tid];
    for (unsigned r = 0; r < 4; ++r) {
        const unsigned bits = a[r] & 0xffffe000u;  // the unit reads 19 bits of each
        memcpy(&mine.a[r], &bits, sizeof bits);
    }
    for (unsigned r = 0; r < 2; ++r) {
        const unsigned bits = b[r] & 0xffffe000u;
        memcpy(&mine.b[r], &bits, sizeof bits);
    }
    barrier_wait(__FILE__, __LINE__, 1);
    const unsigned warp = tid & ~31u, lane = tid & 31u, g = lane >> 2, t = lane & 3u;
    for (unsigned r = 0; r < 4; ++r) {
        const unsigned row = g + 8u * (r >> 1), col = 2u * t + (r & 1u);
        double s = 0.0;
        for (unsigned k = 0; k < 8; ++k) {
            const MmaLane& la = lanes[warp + (row & 7u) * 4u + (k & 3u)];
            const MmaLane& lb = lanes[warp + col * 4u + (k & 3u)];
            s += (double)la.a[(row >> 3) + 2u * (k >> 2)] * (double)lb.b[k >> 2];
        }
        d[r] = (float)((double)d[r] + s);
    }
}

// cp.async (kernels/async_copy.cuh). A copy may land at any moment between its
// start and the wait that covers it; the emulation takes the two ends. In the
// ascending thread order (the default) a thread's copies land at its wait, so a read
// of the destination before the wait sees the old contents; in the descending and
// shuffled orders they land at once, so a copy into a buffer that another thread
// still reads in the same barrier phase changes what that thread reads.
static constexpr unsigned long long kMaxPendingCopies = 512;

[[noreturn]] inline void fail_and_stop(const char* msg) {
    fail(msg);
    _longjmp(g_sched.sched_ctx, 1);
}

inline void land_copy(const PendingCopy& c) {
    if (c.valid)
        memcpy(c.dst, c.src, c.bytes);
    else
        memset(c.dst, 0, c.bytes);
}

inline void cp_async(void* dst, const void* src, unsigned long long bytes, bool valid) {
    if (reinterpret_cast<unsigned long long>(dst) % bytes != 0 ||
        (valid && reinterpret_cast<unsigned long long>(src) % bytes != 0)) {
        char msg[160];
        snprintf(msg, sizeof msg, "a %llu-byte cp.async between addresses not aligned to %llu "
                 "bytes in %s (a GPU faults)", bytes, bytes, BlockName().text);
        fail_and_stop(msg);
    }
    const PendingCopy c = {dst, src, bytes, valid, 0};
    Fiber* f = g_sched.current;
    if (g_sched.order_mode != 0) {
        land_copy(c);
        return;
    }
    if (f->pending == nullptr) f->pending = new PendingCopy[kMaxPendingCopies];
    if (f->npending == kMaxPendingCopies)
        fail_and_stop("more than 512 cp.async copies of one thread in flight (the emulation's "
                      "limit): wait for some with cp_async_wait");
    f->pending[f->npending] = c;
    f->pending[f->npending].group = f->committed;
    f->npending += 1;
}

inline void cp_async_commit() { g_sched.current->committed += 1; }

// Land every copy of this thread except those of its n newest committed groups and
// those not committed yet.
inline void cp_async_wait(long long n) {
    Fiber* f = g_sched.current;
    const unsigned long long older =
        f->committed > (unsigned long long)n ? f->committed - (unsigned long long)n : 0;
    unsigned long long keep = 0;
    for (unsigned long long i = 0; i < f->npending; ++i) {
        if (f->pending[i].group < older)
            land_copy(f->pending[i]);
        else
            f->pending[keep++] = f->pending[i];
    }
    f->npending = keep;
}

}  // namespace gpuseq_emu
inline void __threadfence_block() {}
[[noreturn]] inline void __trap() {
    char msg[128];
    snprintf(msg, sizeof msg, "the kernel executed __trap() in %s", ::gpuseq_emu::BlockName().text);
    ::gpuseq_emu::fail(msg);
    _longjmp(::gpuseq_emu::g_sched.sched_ctx, 1);
}

// Atomics: fibers never run at the same time, so a plain read-modify-write is exact.
template <typename T> inline T gpuseq_emu_atomic_add(T* a, T v) { T o = *a; *a = o + v; return o; }
inline int atomicAdd(int* a, int v) { return gpuseq_emu_atomic_add(a, v); }
inline unsigned int atomicAdd(unsigned int* a, unsigned int v) {
    return gpuseq_emu_atomic_add(a, v);
}
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
    return gpuseq_emu_atomic_add(a, v);
}
inline float atomicAdd(float* a, float v) { return gpuseq_emu_atomic_add(a, v); }
inline double atomicAdd(double* a, double v) { return gpuseq_emu_atomic_add(a, v); }
inline int atomicMax(int* a, int v) { int o = *a; if (v > o) *a = v; return o; }
inline int atomicMin(int* a, int v) { int o = *a; if (v < o) *a = v; return o; }
inline unsigned int atomicMax(unsigned int* a, unsigned int v) {
    unsigned o = *a; if (v > o) *a = v; return o;
}
inline unsigned int atomicMin(unsigned int* a, unsigned int v) {
    unsigned o = *a; if (v < o) *a = v; return o;
}
inline int atomicExch(int* a, int v) { int o = *a; *a = v; return o; }
inline float atomicExch(float* a, float v) { float o = *a; *a = v; return o; }
inline int atomicCAS(int* a, int cmp, int v) { int o = *a; if (o == cmp) *a = v; return o; }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long cmp,
                                    unsigned long long v) {
    unsigned long long o = *a; if (o == cmp) *a = v; return o;
}

// CUDA math functions that the C library lacks.
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float_as_int(float x) { int i; memcpy(&i, &x, sizeof i); return i; }
inline float __int_as_float(int i) { float x; memcpy(&x, &i, sizeof x); return x; }
inline long long __double_as_longlong(double x) { long long i; memcpy(&i, &x, sizeof i); return i; }
inline double __longlong_as_double(long long i) { double x; memcpy(&x, &i, sizeof x); return x; }
template <typename T> inline T __ldg(const T* p) { return *p; }

// min / max overloads, as CUDA device code has them.
#define GPUSEQ_EMU_MINMAX(T)                                  \
    inline T min(T a, T b) { return b < a ? b : a; }          \
    inline T max(T a, T b) { return a < b ? b : a; }
GPUSEQ_EMU_MINMAX(int)
GPUSEQ_EMU_MINMAX(unsigned int)
GPUSEQ_EMU_MINMAX(long)
GPUSEQ_EMU_MINMAX(unsigned long)
GPUSEQ_EMU_MINMAX(long long)
GPUSEQ_EMU_MINMAX(unsigned long long)
#undef GPUSEQ_EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Selects the order of the fibers between barriers for the launches that follow on
// the calling OS thread: mode 0 ascending thread index, 1 descending, 2 shuffled
// with `seed`. Exported once per library (the trampoline includes this header once).
extern "C" void gpuseq_emu_set_thread_order(int mode, unsigned long long seed) {
    ::gpuseq_emu::g_sched.order_mode = (mode == 1 || mode == 2) ? mode : 0;
    ::gpuseq_emu::g_sched.order_seed = seed;
}

// Entry-point helper used by the generated trampoline translation unit.
#define GPUSEQ_EMU_EXPORT(INDEX, ...)                                                        \
    extern "C" int gpuseq_emu_launch_##INDEX(const unsigned* grid, const unsigned* block,    \
                                             void** args, char* err, size_t errlen) {        \
        return ::gpuseq_emu::launch(&__VA_ARGS__, grid, block, args, err, errlen);           \
    }                                                                                         \
    extern "C" const char* gpuseq_emu_signature_##INDEX() {                                   \
        static char s[1024];                                                                  \
        ::gpuseq_emu::signature_of(&__VA_ARGS__, s, sizeof s);                                \
        return s;                                                                             \
    }
