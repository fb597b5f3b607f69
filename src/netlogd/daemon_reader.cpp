// netlogd's reader thread: the NFLOG socket read into queue chunks, densely packed.
#include "daemon_impl.h"
#include "clock.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace netlog::daemon {

void Daemon::handoff(std::unique_ptr<io::Batch> &cur) {
    if (cur->empty()) return;
    const auto events = cur->events;
    if (auto back = queue_.push(std::move(cur))) {
        queue_dropped_ += events;
        back->clear();
        cur = std::move(back);
    } else {
        cur = queue_.take_free();
    }
}

// Copy the whole netlink messages of `rx` (what one or more recvmmsg calls gave) densely
// into queue chunks, handing each full chunk to the queue: queued memory follows queued
// events, whatever the datagrams' sizes.
void Daemon::pack(const io::Batch &rx, std::unique_ptr<io::Batch> &cur) {
    constexpr std::uint16_t packet_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    const std::uint8_t *p = rx.buf.get();
    std::size_t off = 0, run = 0; // [run, off): messages not yet copied
    std::uint32_t run_events = 0;
    const auto copy_run = [&] {
        if (off > run) {
            if (cur->empty()) cur->received = rx.received;
            std::memcpy(cur->buf.get() + cur->size, p + run, off - run);
            cur->size += off - run;
            cur->events += run_events;
        }
        run = off;
        run_events = 0;
    };
    while (rx.size - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, p + off, sizeof h);
        if (h.nlmsg_len < sizeof h) break; // receive() keeps whole messages only
        const std::size_t len = std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), rx.size - off);
        if (cur->size + (off - run) + len > cur->capacity) {
            copy_run();
            handoff(cur);
        }
        if (h.nlmsg_type == packet_type) ++run_events;
        off += len;
    }
    copy_run();
}

void Daemon::reader_loop() {
    // One receive area (many datagrams per recvmmsg), packed into chunks after each call.
    io::Batch rx(64 * sock_->slot_size());
    auto cur = queue_.take_free();
    base::Poller poller;
    poller.add(sock_->fd());
    const auto wake = poller.add(wake_.fd());
    std::int64_t deadline = 0;
    for (;;) {
        // A partly filled batch waits (at most 10 ms) while the pipeline is busy: under
        // backlog batches grow instead of multiplying.
        int timeout = cur->empty() ? -1 : 10;
        if (stopping_.load(std::memory_order_relaxed)) {
            // Drain: the kernel flushes partial batches after flush_timeout_ms.
            const auto now = base::monotonic_ns();
            if (deadline == 0)
                deadline =
                    now + (2 * std::int64_t{l_.config.nflog.flush_timeout_ms} + 100) * 1'000'000;
            if (now >= deadline) break;
            timeout = static_cast<int>((deadline - now) / 1'000'000) + 1;
        }
        const int pr = poller.wait(timeout);
        if (pr < 0) break;
        if (poller.readable(wake)) wake_.drain();
        for (;;) {
            const bool more = sock_->receive(rx);
            if (!rx.empty()) {
                pack(rx, cur);
                rx.clear();
            }
            if (!more) break;
        }
        if (pr == 0 || queue_.idle()) handoff(cur);
        publish_reader();
    }
    handoff(cur);
    publish_reader();
    reader_done_ = true;
    queue_.wake();
}

void Daemon::publish_reader() {
    const auto &c = sock_->counters();
    const auto depth = queue_.events(), peak = queue_.peak();
    std::lock_guard lk(snap_mu_);
    snap_.received = c.received;
    snap_.datagrams = c.datagrams;
    snap_.recv_calls = c.recv_calls;
    snap_.enobufs = c.enobufs;
    snap_.lost_enobufs = c.lost_enobufs;
    snap_.lost_gap = c.lost_gap;
    snap_.truncated = c.truncated;
    snap_.refused_foreign = c.foreign;
    snap_.refused_unbound = c.unbound;
    snap_.implausible_gaps = c.implausible;
    snap_.queue_dropped = queue_dropped_;
    snap_.queue_events = depth;
    snap_.queue_peak = peak;
}

} // namespace netlog::daemon
