// What the NFLOG reader keeps, and counts, of what its socket received: the packet
// messages of the groups it bound (any other group's are refused and counted: the kernel
// never sends them), and from their NFULA_SEQ the events the kernel logged but could not
// deliver (sequence gaps, after a socket overrun or not). A gap larger than the kernel
// could have logged since the group's last message (max_log_rate) is counted apart as
// implausible, never as lost events. Pure: bytes in, counters out (the socket is
// src/io/nflog_socket.h; it refuses whole datagrams from senders other than the kernel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netlog {

struct NflogAccountCounters {
    std::uint64_t received = 0;     // packet messages kept (events the kernel logged)
    std::uint64_t lost_enobufs = 0; // events missing from a sequence after an overrun
    std::uint64_t lost_gap = 0;     // events missing from a sequence otherwise
    std::uint64_t other = 0;        // non-packet messages (errors, done) seen
    std::uint64_t unbound = 0;      // packet messages for a group not bound (dropped)
    std::uint64_t implausible = 0;  // sequence jumps no kernel could have made
};

class NflogAccount {
  public:
    // No kernel logs more than this many events a second (line rate of the smallest
    // packets on the fastest links is under 150 M/s; NFLOG is far slower); a gap up to
    // min_plausible_gap is always taken as it is.
    static constexpr double max_log_rate = 200e6;
    static constexpr double min_plausible_gap = 1 << 20;

    // A group bound at `now_ns` (CLOCK_MONOTONIC): its sequence starts at 0.
    void bind(std::uint16_t group, std::int64_t now_ns);
    // The socket overran (ENOBUFS): the next gap of every group is explained by it.
    void overrun();
    // Walks the netlink messages of `data` (whole messages), moves those kept to `dst`
    // (which may be `data`; never past it), adds the packet messages kept to `events`;
    // returns the bytes kept.
    std::size_t filter(const std::uint8_t *data, std::size_t len, std::uint8_t *dst,
                       std::uint32_t &events, std::int64_t now_ns);
    const NflogAccountCounters &counters() const { return c_; }

  private:
    struct Group {
        std::uint16_t group;
        std::uint32_t next; // next expected NFULA_SEQ
        bool after_enobufs;
        std::int64_t last_ns; // its last message (or its bind)
    };
    std::vector<Group> groups_;
    NflogAccountCounters c_;
};

} // namespace netlog
