/* A process-wide pool of worker threads for the host kernels of gpuseq.
 *
 * WorkerPool::instance().run(threads, task) calls task(0) on the calling thread and
 * task(1) .. task(threads - 1) on workers, and returns when all have finished. Starting
 * a thread costs tens of microseconds, as much as a whole LSTM time loop of a small
 * layer, so the workers are started once and kept: after a task a worker polls for the
 * next one, yielding its core between polls (the next call of a training step usually
 * comes soon), 20,000 times (about 25 ms where a yield costs 1.3 us, as measured on a
 * 2-core AMD EPYC), and then sleeps on a condition variable. One run at a time (a mutex serialises callers); a forked child
 * starts its own workers (the parent's do not exist there).
 *
 * split_range(n, threads, granule, body) runs body(b, e) on disjoint ranges covering
 * [0, n), one per thread, with every inner boundary a multiple of `granule`.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

namespace gs_host {

class WorkerPool {
 public:
    static WorkerPool& instance() {
        static WorkerPool* pool = new WorkerPool();  // never destroyed: workers are detached
        return *pool;
    }

    void run(int threads, const std::function<void(int)>& task) {
        std::lock_guard<std::mutex> one_run(run_mutex_);
        if (owner_ != getpid()) {  // first use, or a forked child: start afresh
            owner_ = getpid();
            started_ = 0;
            generation_.store(0);
        }
        while (started_ < threads - 1) {  // a new worker waits for the next generation
            std::thread(&WorkerPool::work, this, started_ + 1, owner_,
                        generation_.load(std::memory_order_acquire)).detach();
            ++started_;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            task_ = &task;
            active_ = threads;
            pending_.store(threads - 1, std::memory_order_relaxed);
            generation_.fetch_add(1, std::memory_order_release);
        }
        cv_.notify_all();
        task(0);
        while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }

 private:
    WorkerPool() = default;

    void work(int index, pid_t owner, unsigned long long seen) {
        for (;;) {
            unsigned long long now = seen;
            for (int spin = 0; spin < 20000; ++spin) {  // ~25 ms where a yield costs ~1.3 us
                now = generation_.load(std::memory_order_acquire);
                if (now != seen) break;
                std::this_thread::yield();
            }
            if (now == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                cv_.wait(lock, [&] { return generation_.load() != seen; });
                now = generation_.load();
            }
            if (owner_ != owner) return;  // a forked child's copy of a parent worker
            seen = now;
            if (index < active_) {
                (*task_)(index);
                pending_.fetch_sub(1, std::memory_order_acq_rel);
            }
        }
    }

    std::mutex run_mutex_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<unsigned long long> generation_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int)>* task_ = nullptr;
    int active_ = 0;
    int started_ = 0;
    pid_t owner_ = 0;
};

// Runs body(b, e) on `threads` disjoint ranges [b, e) that cover [0, n), at once: the
// calling thread takes the first range, the pool's workers the others. Inner boundaries
// are multiples of `granule`, so a kernel that works in blocks of `granule` items meets
// the same blocks for any thread count (and results that depend only on the blocks are
// bitwise the same); the count is lowered to n / granule when that is smaller.
template <typename Body>
void split_range(long long n, long long threads, long long granule, const Body& body) {
    if (threads > n / granule) threads = n / granule;
    if (threads <= 1) {
        body(0LL, n);
        return;
    }
    auto start = [n, threads, granule](long long t) {
        return t == threads ? n : (n * t / threads) / granule * granule;
    };
    WorkerPool::instance().run(static_cast<int>(threads), [&](int t) {
        body(start(t), start(t + 1));
    });
}

}  // namespace gs_host
