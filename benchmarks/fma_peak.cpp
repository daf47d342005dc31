/* The machine's fused multiply-add peak, for the benchmarks: GFLOP/s (2 per FMA lane).
 *
 * Each thread runs a loop of independent vector FMAs on accumulators that stay in
 * registers (enough of them to cover the FMA latency on every unit), compiled by the
 * machine's g++ with -O3 -march=native: 512-bit vectors where the CPU has AVX-512F,
 * else 256-bit (AVX2 + FMA), else 128-bit. One thread per core, all started together;
 * "gflops" is the best of a few repetitions of the total work over the wall time;
 * "gflops_cpu_time" divides each thread's work by the CPU time that thread got, summed
 * over the threads: the peak of the cores themselves, which a machine busy with other
 * work hides from the wall-clock figure.
 *
 *   fma_peak [threads] [float|double]   ->   one line of JSON
 */
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#if defined(__AVX512F__)
constexpr int kBytes = 64;
#elif defined(__AVX__)
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif
constexpr int kAcc = 12;                    // independent accumulators per thread
constexpr long long kIters = 40000000;      // iterations of kAcc FMAs per thread

template <typename T>
T run(T seed) {
    typedef T V __attribute__((vector_size(kBytes)));
    V acc[kAcc], a, b;
    for (int i = 0; i < kAcc; ++i) acc[i] = V{} + seed * T(i + 1);
    a = V{} + T(0.999999);
    b = V{} + T(1e-7);
    for (long long it = 0; it < kIters; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * a + b;
        asm volatile("" : "+x"(a));         // keep the loop from being folded
    }
    V s = V{};
    for (int i = 0; i < kAcc; ++i) s += acc[i];
    T out = 0;
    for (int j = 0; j < kBytes / static_cast<int>(sizeof(T)); ++j) out += s[j];
    return out;
}

double thread_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// -> (wall-clock GFLOP/s, CPU-time GFLOP/s), each the best of three repetitions
template <typename T>
std::pair<double, double> gflops(int threads) {
    const double per_thread = 2.0 * kAcc * kIters * (kBytes / sizeof(T));
    double best = 0, best_cpu = 0;
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<std::thread> pool;
        std::vector<T> sink(threads);
        std::vector<double> cpu(threads);
        auto t0 = std::chrono::steady_clock::now();
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&sink, &cpu, t] {
                const double c0 = thread_seconds();
                sink[t] = run<T>(T(1e-3) * (t + 1));
                cpu[t] = thread_seconds() - c0;
            });
        for (auto& th : pool) th.join();
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double by_cpu = 0;
        for (int t = 0; t < threads; ++t) by_cpu += per_thread / cpu[t] / 1e9;
        if (per_thread * threads / secs / 1e9 > best) best = per_thread * threads / secs / 1e9;
        if (by_cpu > best_cpu) best_cpu = by_cpu;
        volatile T keep = sink[0];
        (void)keep;
    }
    return {best, best_cpu};
}

int main(int argc, char** argv) {
    int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
    if (threads < 1) threads = 1;
    bool dbl = argc > 2 && std::strcmp(argv[2], "double") == 0;
    const std::pair<double, double> g = dbl ? gflops<double>(threads) : gflops<float>(threads);
    std::printf("{\"gflops\": %.2f, \"gflops_cpu_time\": %.2f, \"threads\": %d, "
                "\"vector_bits\": %d, \"dtype\": \"%s\"}\n",
                g.first, g.second, threads, kBytes * 8, dbl ? "float64" : "float32");
    return 0;
}
