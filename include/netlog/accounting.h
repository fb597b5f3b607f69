// The account of every event the kernel logged, and the identity it must satisfy:
//   kernel_logged = emitted + suppressed + lost() + in_flight
// where lost() sums every drop reason except `sink` (a sink drop is a line an output could
// not write, counted per output line, not per event). netlogd's counters, the metrics
// endpoint, `netlogd --stats` and --replay all fill one of these and ask holds().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace netlog {

// Why an event the kernel matched was not emitted. Each lost event is counted under
// exactly one reason. `sink` counts lines an output could not write (per line, not per
// event: outside the identity); `unclassified` counts events whose prefix matched no class
// when the config says `unclassified: {action: drop}`; `filtered` events no output's
// `match` took; `connection_signal` counts the events of netlog's own ICMP error rule
// (netlog/ruleplan.h): read for `connections:` outcomes, never written as event lines.
enum class DropReason : std::uint8_t {
    kernel_enobufs,
    seq_gap,
    queue_full,
    decode_error,
    sink,
    unclassified,
    filtered,
    connection_signal,
    count_
};
std::string_view to_string(DropReason r);

struct Accounting {
    std::uint64_t kernel_logged = 0; // events the kernel sent, from NFLOG sequence numbers
    std::uint64_t emitted = 0;       // events written (each to every output)
    std::uint64_t suppressed = 0;    // events the rate limit held back
    std::array<std::uint64_t, static_cast<std::size_t>(DropReason::count_)> dropped{};
    std::uint64_t in_flight = 0; // events read but not yet emitted or dropped

    std::uint64_t &drops(DropReason r) { return dropped[static_cast<std::size_t>(r)]; }
    std::uint64_t drops(DropReason r) const { return dropped[static_cast<std::size_t>(r)]; }
    // Events lost, every reason but `sink` (lines, not events).
    std::uint64_t lost() const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < dropped.size(); ++i)
            if (static_cast<DropReason>(i) != DropReason::sink) n += dropped[i];
        return n;
    }
    std::uint64_t accounted() const { return emitted + suppressed + lost() + in_flight; }
    bool holds() const { return accounted() == kernel_logged; }
};

} // namespace netlog
