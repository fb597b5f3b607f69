// BatchQueue (src/netlogd/batch_queue.h), the hand-over between netlogd's reader and
// pipeline threads, without root and without threads: its contract is that the bound is
// on waiting events (an empty queue takes any batch), a full queue hands the batch back
// untouched (the reader counts its events as queue_dropped), batches come out in the order
// they went in, and pop() waits at most its timeout.
#include "batch_queue.h"

#include <doctest/doctest.h>

#include <chrono>

using namespace netlog;
using namespace netlog::daemon;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<io::Batch> batch(BatchQueue &q, std::uint32_t events) {
    auto b = q.take_free();
    b->events = events;
    b->size = events; // any bytes: the queue does not read them
    return b;
}

} // namespace

TEST_CASE("batch queue: bounded in waiting events; a full queue hands the batch back") {
    BatchQueue q(100, 4096);
    CHECK(q.push(batch(q, 60)) == nullptr);
    CHECK(q.push(batch(q, 40)) == nullptr); // exactly the bound
    auto back = q.push(batch(q, 1));        // one over: refused, returned as it was
    REQUIRE(back != nullptr);
    CHECK(back->events == 1);
    CHECK(q.events() == 100);
    CHECK(q.peak() == 100);

    auto first = q.pop(0ms);
    REQUIRE(first);
    CHECK(first->events == 60); // first in, first out
    CHECK(q.events() == 40);
    CHECK(q.push(std::move(back)) == nullptr); // room again
    CHECK(q.pop(0ms)->events == 40);
    CHECK(q.pop(0ms)->events == 1);
    CHECK(q.idle());
    CHECK(q.events() == 0);
    CHECK(q.peak() == 100); // the peak stays
}

TEST_CASE("batch queue: an empty queue takes a batch larger than the bound") {
    BatchQueue q(10, 4096);
    CHECK(q.push(batch(q, 500)) == nullptr);
    CHECK(q.events() == 500);
    auto refused = q.push(batch(q, 1)); // not empty now: the bound applies
    CHECK(refused != nullptr);
}

TEST_CASE("batch queue: pop returns nothing after its timeout, or at once when woken") {
    BatchQueue q(10, 4096);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(q.pop(20ms) == nullptr);
    CHECK(std::chrono::steady_clock::now() - t0 >= 20ms); // it waited, at least that long
    q.wake();
    CHECK(q.pop(std::chrono::hours(1)) == nullptr); // a wake-up, not an hour
}

TEST_CASE("batch queue: recycled chunks are reused, cleared") {
    BatchQueue q(10, 4096);
    auto b = batch(q, 3);
    const auto *raw = b.get();
    q.recycle(std::move(b));
    auto again = q.take_free();
    CHECK(again.get() == raw);
    CHECK(again->empty());
    CHECK(again->events == 0);
    CHECK(again->capacity == 4096);
}
