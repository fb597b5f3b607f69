// Waiting for descriptors, the one way netlog does it: poll(2) over a few descriptors with
// a timeout that holds across signals (EINTR is retried with the time left, so a signal
// neither ends a wait early nor stretches it), and an eventfd that wakes a thread's wait
// (to stop, or to look at a request).
#pragma once

#include "clock.h"
#include "unique_fd.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace netlog::base {

class Poller {
  public:
    // Watch `fd` (a negative one is ignored by poll) for `events`; returns its index.
    std::size_t add(int fd, short events = POLLIN) {
        fds_.push_back({fd, events, 0});
        return fds_.size() - 1;
    }
    void clear() { fds_.clear(); }
    std::size_t size() const { return fds_.size(); }

    // Wait at most `timeout_ms` (negative: no limit) for one of them. Returns how many are
    // ready, 0 when the time is up, -1 (errno set) when poll failed for another reason than
    // a signal.
    int wait(int timeout_ms) {
        const std::int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
        for (;;) {
            int left = -1;
            if (deadline >= 0) {
                const auto l = deadline - monotonic_ms();
                left = l > 0 ? static_cast<int>(l) : 0;
            }
            const int n = ::poll(fds_.data(), static_cast<nfds_t>(fds_.size()), left);
            if (n >= 0 || errno != EINTR) return n;
        }
    }

    short revents(std::size_t i) const { return fds_[i].revents; }
    bool readable(std::size_t i) const { return (fds_[i].revents & POLLIN) != 0; }
    // Ready for what it was watched for, or hung up / in error (a read or write says which).
    bool ready(std::size_t i) const { return fds_[i].revents != 0; }

  private:
    std::vector<pollfd> fds_;
};

// One descriptor: Poller::wait's result for `fd` alone; `*revents` (if given) gets what
// it is ready for.
inline int wait_fd(int fd, short events, int timeout_ms, short *revents = nullptr) {
    Poller p;
    p.add(fd, events);
    const int n = p.wait(timeout_ms);
    if (revents) *revents = n > 0 ? p.revents(0) : 0;
    return n;
}

// An eventfd another thread notifies to wake a Poller wait; the waiting thread drains it.
class Wakeup {
  public:
    Wakeup() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    // false when the kernel gave no eventfd (out of descriptors).
    bool ok() const { return static_cast<bool>(fd_); }
    int fd() const { return fd_.get(); }
    void notify() const {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(fd_.get(), &one, sizeof one);
    }
    void drain() const {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(fd_.get(), &v, sizeof v);
    }

  private:
    UniqueFd fd_;
};

} // namespace netlog::base
