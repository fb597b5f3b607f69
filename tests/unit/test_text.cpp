// The output formats' writer (src/core/text_append.h) against libc: every number is checked
// against snprintf's "%llu", "%lld", "%x", "%X", "%02x" and "%lld.%09u", every address
// against inet_ntop (RFC 5952 text, the same rules as the kernel's %pI6c). The writer keeps
// state between calls (the seconds' text of the last timestamp, per thread), so timestamps
// are checked in sequences that go forward, back, across zero and repeat.
#include "text_append.h"

#include <algorithm>
#include <arpa/inet.h>
#include <climits>
#include <cstdio>
#include <doctest/doctest.h>
#include <random>
#include <string>
#include <vector>

using netlog::IpAddress;
using netlog::L3;
using netlog::Timestamp;

namespace {

template <typename... A> std::string printf_text(const char *format, A... a) {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, format, a...);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string inet_text(const IpAddress &a) {
    char buf[INET6_ADDRSTRLEN];
    const int af = a.family == L3::ipv4 ? AF_INET : AF_INET6;
    REQUIRE(inet_ntop(af, a.bytes.data(), buf, sizeof buf) != nullptr);
    return buf;
}

template <typename F> std::string written(F f) {
    std::string s = "x"; // the writer appends
    {
        netlog::text::Out out(s);
        f(out);
    }
    return s.substr(1);
}

// Interesting values of each width: the digit-count boundaries and random ones.
std::vector<std::uint64_t> samples(std::uint64_t max) {
    std::vector<std::uint64_t> v = {0, max, max - 1};
    for (std::uint64_t p = 1; p != 0 && p <= max / 10 + 1; p *= 10) {
        for (std::uint64_t x : {p - 1, p, p + 1, 2 * p - 1})
            if (x <= max) v.push_back(x);
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) v.push_back(max == UINT64_MAX ? rng() : rng() % (max + 1));
    return v;
}

} // namespace

TEST_CASE("integers are written as printf writes them") {
    for (const std::uint64_t v : samples(UINT64_MAX)) {
        CHECK(written([v](auto &o) { o.uint(v); }) == printf_text("%llu", (unsigned long long)v));
        const auto s = static_cast<std::int64_t>(v);
        CHECK(written([s](auto &o) { o.sint(s); }) == printf_text("%lld", (long long)s));
    }
    CHECK(written([](auto &o) { o.sint(INT64_MIN); }) == printf_text("%lld", (long long)INT64_MIN));
    for (const std::uint64_t v : samples(UINT32_MAX)) {
        const auto x = static_cast<std::uint32_t>(v);
        CHECK(written([x](auto &o) { o.hex(x); }) == printf_text("%x", x));
        CHECK(written([x](auto &o) { o.hex(x, true); }) == printf_text("%X", x));
    }
    for (unsigned x = 0; x < 256; ++x) {
        const auto b = static_cast<std::uint8_t>(x);
        CHECK(written([b](auto &o) { o.hex2(b); }) == printf_text("%02x", x));
        CHECK(written([b](auto &o) { o.hex2(b, true); }) == printf_text("%02X", x));
    }
    for (unsigned x = 0; x < 100; ++x)
        CHECK(written([x](auto &o) { o.two(x); }) == printf_text("%02u", x));
}

TEST_CASE("timestamps are written as \"%lld.%09u\" in any order of seconds") {
    const std::vector<std::int64_t> secs = {
        -1, -1, 0,     0,      1, 1795420800, 1795420800, 1795420801, 1795420800,   -86401,
        9,  10, 99999, 100000, 0, INT64_MAX,  INT64_MAX,  1,          INT64_MIN + 1};
    const std::vector<std::uint32_t> nsecs = {0, 1, 999999999, 8000, 123456789, 100000000};
    std::size_t k = 0;
    for (const std::int64_t s : secs) {
        const std::uint32_t ns = nsecs[k++ % nsecs.size()];
        const Timestamp t{s, ns};
        CHECK(written([&t](auto &o) { o.epoch(t); }) == printf_text("%lld.%09u", (long long)s, ns));
    }
}

TEST_CASE("addresses are written as inet_ntop writes them") {
    IpAddress a;
    a.family = L3::ipv4;
    for (unsigned x = 0; x < 256; ++x) { // every octet value in every place
        for (int place = 0; place < 4; ++place) {
            a.bytes = {};
            a.bytes[0] = 10;
            a.bytes[place] = static_cast<std::uint8_t>(x);
            CHECK(written([&a](auto &o) { o.ip(a); }) == inet_text(a));
        }
    }
    std::mt19937 rng(11);
    a.family = L3::ipv6;
    for (int i = 0; i < 5000; ++i) { // zero groups in every pattern: each group zero or not
        const unsigned zeros = rng() & 0xff;
        for (int g = 0; g < 8; ++g) {
            const bool zero = zeros & (1u << g);
            a.bytes[2 * g] = zero ? 0 : static_cast<std::uint8_t>(rng() % 3 == 0 ? 0 : rng());
            a.bytes[2 * g + 1] = zero ? 0 : static_cast<std::uint8_t>(rng() | 1);
        }
        // glibc writes the deprecated IPv4-compatible form (96 zero bits, then a nonzero
        // group before the last) as ::a.b.c.d; RFC 5952 and tshark do not: not compared.
        const bool compat = std::all_of(a.bytes.begin(), a.bytes.begin() + 12,
                                        [](std::uint8_t b) { return b == 0; }) &&
                            (a.bytes[12] | a.bytes[13]) != 0;
        if (!compat) CHECK(written([&a](auto &o) { o.ip(a); }) == inet_text(a));
    }
    a.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}; // IPv4-mapped
    CHECK(written([&a](auto &o) { o.ip(a); }) == inet_text(a));
}

TEST_CASE("pieces longer than the buffer and many small ones reach the string in order") {
    std::string expect;
    std::string s;
    {
        netlog::text::Out out(s);
        for (unsigned i = 0; i < 3000; ++i) {
            out.uint(i);
            expect += std::to_string(i);
            if (i % 500 == 0) {
                const std::string big(netlog::text::Out::cap + i, static_cast<char>('a' + i % 26));
                out.put(big);
                expect += big;
            }
            out.put(',');
            expect += ',';
        }
    }
    CHECK(s == expect);
}
