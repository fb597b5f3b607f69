// The clocks netlog reads: monotonic for deadlines and intervals, realtime for what a
// person or another program compares with wall time. One place, so that every file agrees
// on the units. The base layer: nothing but the C library.
#pragma once

#include <cstdint>
#include <ctime>

namespace netlog::base {

inline std::int64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t monotonic_ns() {
    return clock_ns(CLOCK_MONOTONIC);
}
inline std::int64_t monotonic_ms() {
    return monotonic_ns() / 1'000'000;
}
inline std::int64_t realtime_ns() {
    return clock_ns(CLOCK_REALTIME);
}

} // namespace netlog::base
