#include "batch_queue.h"

namespace netlog::daemon {

BatchQueue::BatchQueue(std::size_t max_events, std::size_t batch_bytes)
    : max_events_(max_events), batch_bytes_(batch_bytes) {}

std::unique_ptr<io::Batch> BatchQueue::take_free() {
    {
        std::lock_guard lk(mu_);
        if (!free_.empty() && free_.back()->capacity == batch_bytes_) {
            auto b = std::move(free_.back());
            free_.pop_back();
            return b;
        }
    }
    return std::make_unique<io::Batch>(batch_bytes_);
}

std::unique_ptr<io::Batch> BatchQueue::push(std::unique_ptr<io::Batch> b) {
    {
        std::lock_guard lk(mu_);
        // An empty queue takes any batch, however large: the bound is on waiting events.
        if (!queued_.empty() && events_ + b->events > max_events_) return b;
        events_ += b->events;
        if (events_ > peak_) peak_ = events_;
        queued_.push_back(std::move(b));
    }
    cv_.notify_one();
    return nullptr;
}

std::unique_ptr<io::Batch> BatchQueue::pop(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return !queued_.empty() || woken_; });
    woken_ = false;
    if (queued_.empty()) return nullptr;
    auto b = std::move(queued_.front());
    queued_.pop_front();
    events_ -= b->events;
    return b;
}

void BatchQueue::recycle(std::unique_ptr<io::Batch> b) {
    b->clear();
    std::lock_guard lk(mu_);
    if (free_.size() < keep_free && b->capacity == batch_bytes_)
        free_.push_back(std::move(b)); // keep some, free the rest
}

void BatchQueue::wake() {
    {
        std::lock_guard lk(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

bool BatchQueue::idle() const {
    std::lock_guard lk(mu_);
    return queued_.empty();
}

std::uint64_t BatchQueue::events() const {
    std::lock_guard lk(mu_);
    return events_;
}

std::uint64_t BatchQueue::peak() const {
    std::lock_guard lk(mu_);
    return peak_;
}

} // namespace netlog::daemon
