// The bounded hand-over between the reader thread (packs what the NFLOG socket gives into
// chunks) and the pipeline thread (empties them). Bounded in events (config `queue`), and
// its memory follows what is queued: chunks are small (64 KiB, densely packed netlink
// messages), allocated as the queue grows and freed as it shrinks (a few are kept for
// reuse). When the queue is full, the reader keeps its chunk, counts its events as
// dropped and reuses it: the reader never waits, so the kernel never sees a slow consumer
// because of a slow output.
#pragma once

#include "nflog_socket.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace netlog::daemon {

class BatchQueue {
  public:
    static constexpr std::size_t chunk_bytes = 64u << 10;
    static constexpr std::size_t keep_free = 8; // chunks kept for reuse

    explicit BatchQueue(std::size_t max_events, std::size_t batch_bytes = chunk_bytes);

    // Before any thread uses the queue: the size of new chunks (>= one datagram).
    void set_batch_bytes(std::size_t bytes) { batch_bytes_ = bytes; }
    std::size_t batch_bytes() const { return batch_bytes_; }

    // Reader: an empty batch to fill (recycled, or new).
    std::unique_ptr<io::Batch> take_free();
    // Reader: queue `b`. Returns nullptr when queued; when the queue is full, returns `b`
    // untouched (the caller counts its events as dropped).
    std::unique_ptr<io::Batch> push(std::unique_ptr<io::Batch> b);
    // Pipeline: the oldest batch, waiting at most `timeout`; nullptr if none.
    std::unique_ptr<io::Batch> pop(std::chrono::milliseconds timeout);
    void recycle(std::unique_ptr<io::Batch> b);
    void wake(); // makes a waiting pop() return

    bool idle() const; // nothing queued: the pipeline is waiting
    std::uint64_t events() const;
    std::uint64_t peak() const;

  private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<io::Batch>> queued_;
    std::vector<std::unique_ptr<io::Batch>> free_;
    std::size_t max_events_, batch_bytes_;
    std::uint64_t events_ = 0, peak_ = 0;
    bool woken_ = false;
};

} // namespace netlog::daemon
