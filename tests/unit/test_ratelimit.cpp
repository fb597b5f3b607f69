#include <doctest/doctest.h>
#include "ratelimit.h"

#include <vector>

using namespace netlog;

static RateLimitKey key(std::uint8_t last, std::uint16_t cls = 0) {
    RateLimitKey k{};
    k.ip.family = L3::ipv4;
    k.ip.bytes = {10, 255, 15, last};
    k.class_index = cls;
    return k;
}

constexpr std::int64_t ms = 1'000'000;

TEST_CASE("a bucket admits its burst, then suppresses and summarises when it admits again") {
    RateLimiter rl({10, 5}, {});
    std::vector<SuppressionSummary> sums;
    auto on = [&](const SuppressionSummary &s) { sums.push_back(s); };
    int admitted = 0;
    for (int i = 0; i < 20; ++i) admitted += rl.admit(key(7), 1000 * ms, on); // same instant
    CHECK(admitted == 5);
    CHECK(sums.empty());
    // 100 ms later one token (10/s) has come back: the next event is admitted and the
    // window of 15 suppressed events is summarised first.
    CHECK(rl.admit(key(7), 1100 * ms, on));
    REQUIRE(sums.size() == 1);
    CHECK(sums[0].count == 15);
    CHECK(sums[0].first_ns == 1000 * ms);
    CHECK(sums[0].last_ns == 1000 * ms);
    CHECK(sums[0].key == key(7));
}

TEST_CASE("emitted plus suppressed always equals offered") {
    RateLimiter rl({1000, 50}, {});
    std::uint64_t offered = 0, emitted = 0, summarised = 0;
    auto on = [&](const SuppressionSummary &s) { summarised += s.count; };
    for (std::int64_t t = 0; t < 2000; ++t) { // 2 s at 10 events per ms = 10k/s offered
        for (int j = 0; j < 10; ++j) {
            ++offered;
            emitted += rl.admit(key(9), t * ms, on);
        }
        if (t % 100 == 0) rl.flush(t * ms, on);
    }
    rl.flush(2000 * ms, on, true);
    CHECK(offered == emitted + summarised);
    CHECK(emitted >= 2000); // ~rate * 2 s + burst
    CHECK(emitted <= 2100);
}

TEST_CASE("containers and classes have separate buckets; a noisy one does not starve others") {
    RateLimiter rl({1, 1}, {});
    auto none = [](const SuppressionSummary &) {};
    CHECK(rl.admit(key(7, 0), 0, none));
    CHECK_FALSE(rl.admit(key(7, 0), 0, none));
    CHECK(rl.admit(key(8, 0), 0, none)); // another container
    CHECK(rl.admit(key(7, 1), 0, none)); // another class
}

TEST_CASE("per-class overrides, and a class without limit is never suppressed") {
    RateLimiter rl({1, 1}, {std::nullopt, RateLimitSettings{0, 0}, RateLimitSettings{1000, 3}});
    auto none = [](const SuppressionSummary &) {};
    int c0 = 0, c1 = 0, c2 = 0;
    for (int i = 0; i < 10; ++i) {
        c0 += rl.admit(key(1, 0), 0, none);
        c1 += rl.admit(key(1, 1), 0, none);
        c2 += rl.admit(key(1, 2), 0, none);
    }
    CHECK(c0 == 1);
    CHECK(c1 == 10);
    CHECK(c2 == 3);
}

TEST_CASE("a window older than the window length is summarised by flush") {
    RateLimiter rl({1, 1}, {}, 1024, 500 * ms);
    std::vector<SuppressionSummary> sums;
    auto on = [&](const SuppressionSummary &s) { sums.push_back(s); };
    rl.admit(key(3), 0, on);
    for (int i = 0; i < 4; ++i) rl.admit(key(3), 10 * ms, on);
    rl.flush(400 * ms, on);
    CHECK(sums.empty());
    rl.flush(600 * ms, on);
    REQUIRE(sums.size() == 1);
    CHECK(sums[0].count == 4);
}

TEST_CASE("bucket memory is bounded: idle full buckets are evicted, busy ones kept") {
    RateLimiter rl({1000, 2}, {}, 4);
    auto none = [](const SuppressionSummary &) {};
    for (std::uint8_t i = 0; i < 4; ++i) rl.admit(key(i), 0, none);
    CHECK(rl.buckets() == 4);
    // 1 s later all four are full again and idle: a new container evicts them
    CHECK(rl.admit(key(100), 1000 * ms, none));
    CHECK(rl.buckets() == 1);
    CHECK(rl.evictions() == 4);
    // fill with busy buckets (open windows): a newcomer is admitted and counted as overflow
    RateLimiter busy({1, 1}, {}, 2);
    for (std::uint8_t i = 0; i < 2; ++i) {
        busy.admit(key(i), 0, none);
        busy.admit(key(i), 0, none); // suppressed: window open
    }
    CHECK(busy.admit(key(50), 0, none));
    CHECK(busy.unlimited_overflow() == 1);
    CHECK(busy.buckets() == 2);
}
