// The output formats' writer: pieces of a line go into a small stack buffer that is appended
// to the caller's reused std::string in a few large copies (std::string::append per piece
// costs a call and a capacity check each). Integers, hex, addresses and timestamps are
// written straight into it; nothing allocates once the caller's string has grown.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <netlog/nflog.h>
#include <netlog/packet.h>
#include <string>
#include <string_view>

namespace netlog::text {

class Out {
  public:
    static constexpr std::size_t cap = 1024;

    explicit Out(std::string &s) : s_(s) {}
    Out(const Out &) = delete;
    Out &operator=(const Out &) = delete;
    ~Out() { flush(); }

    void flush() {
        if (n_) s_.append(buf_, n_);
        n_ = 0;
    }
    // The string with everything written so far.
    std::string &str() {
        flush();
        return s_;
    }

    // Room for k <= cap bytes at the returned pointer; then commit() what was used.
    char *room(std::size_t k) {
        if (cap - n_ < k) flush();
        return buf_ + n_;
    }
    void commit(std::size_t k) { n_ += k; }

    void put(char c) {
        if (n_ == cap) flush();
        buf_[n_++] = c;
    }
    // Inlined everywhere: most pieces are literals, whose copy then needs no call.
    [[gnu::always_inline]] void put(std::string_view v) {
        if (v.empty()) return; // (a default string_view's data() is null: no memcpy)
        if (v.size() > cap - n_) [[unlikely]] {
            put_long(v);
            return;
        }
        std::memcpy(buf_ + n_, v.data(), v.size());
        n_ += v.size();
    }

    void uint(std::uint64_t v) {
        if (v < 100000) { // ports, ICMP types, lengths: the digits without a count first
            small(static_cast<std::uint32_t>(v));
            return;
        }
        const std::size_t n = decimal_digits(v);
        char *p = room(20);
        write_digits(p + n, v);
        commit(n);
    }
    void sint(std::int64_t v) {
        if (v < 0) {
            put('-');
            uint(0 - static_cast<std::uint64_t>(v));
        } else {
            uint(static_cast<std::uint64_t>(v));
        }
    }
    // printf "%x" / "%X"
    void hex(std::uint32_t v, bool upper = false) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        char tmp[8];
        char *end = tmp + sizeof tmp;
        char *p = end;
        do {
            *--p = digits[v & 0xf];
            v >>= 4;
        } while (v != 0);
        put(std::string_view(p, static_cast<std::size_t>(end - p)));
    }
    // printf "%02x" / "%02X"
    void hex2(std::uint8_t v, bool upper = false) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        char *p = room(2);
        p[0] = digits[v >> 4];
        p[1] = digits[v & 0xf];
        commit(2);
    }
    // Dotted quad / RFC 5952 text; nothing for an address of no family.
    void ip(const IpAddress &addr) {
        char *p = room(48);
        commit(ip_to_text(addr, p));
    }
    // "<sec>.<9-digit ns>". Events come in time order: the seconds' text is kept from the
    // last call (per thread) and copied while the second is the same.
    void epoch(const Timestamp &t) {
        struct Seconds {
            std::int64_t sec = -1;
            std::uint8_t len = 0;
            char text[20] = {};
        };
        thread_local constinit Seconds last;
        if (t.sec != last.sec || last.len == 0) {
            if (t.sec < 0) {
                sint(t.sec);
                fraction9(t.nsec);
                return;
            }
            const auto v = static_cast<std::uint64_t>(t.sec);
            last.len = static_cast<std::uint8_t>(decimal_digits(v));
            write_digits(last.text + last.len, v);
            last.sec = t.sec;
        }
        char *p = room(sizeof last.text); // a fixed-size copy (no memcpy call), len of it kept
        std::memcpy(p, last.text, sizeof last.text);
        commit(last.len);
        fraction9(t.nsec);
    }
    // ".<9-digit ns>": three groups of three digits, each one table read.
    void fraction9(std::uint32_t nsec) {
        nsec %= 1000000000u;
        char *p = room(12); // the last group's copy writes one byte past the ten
        p[0] = '.';
        std::memcpy(p + 1, digit_triples[nsec / 1000000u].data(), 4);
        std::memcpy(p + 4, digit_triples[nsec / 1000u % 1000u].data(), 4);
        std::memcpy(p + 7, digit_triples[nsec % 1000u].data(), 4);
        commit(10);
    }
    // Two decimal digits of 0..99.
    void two(unsigned v) {
        char *p = room(2);
        p[0] = static_cast<char>('0' + v / 10 % 10);
        p[1] = static_cast<char>('0' + v % 10);
        commit(2);
    }

  private:
    // v < 100000, in decimal.
    void small(std::uint32_t v) {
        char *p = room(5);
        const auto pair = [](char *at, std::uint32_t x) {
            std::memcpy(at, digit_pairs + 2 * x, 2);
        };
        if (v < 10) {
            p[0] = static_cast<char>('0' + v);
            commit(1);
        } else if (v < 100) {
            pair(p, v);
            commit(2);
        } else if (v < 1000) {
            p[0] = static_cast<char>('0' + v / 100);
            pair(p + 1, v % 100);
            commit(3);
        } else if (v < 10000) {
            pair(p, v / 100);
            pair(p + 2, v % 100);
            commit(4);
        } else {
            p[0] = static_cast<char>('0' + v / 10000);
            pair(p + 1, v / 100 % 100);
            pair(p + 3, v % 100);
            commit(5);
        }
    }
    // Two decimal digits per step: "00" "01" ... "99".
    static constexpr char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                             "2021222324252627282930313233343536373839"
                                             "4041424344454647484950515253545556575859"
                                             "6061626364656667686970717273747576777879"
                                             "8081828384858687888990919293949596979899";
    // "000" .. "999", each padded to four bytes (copied four at a time).
    static constexpr auto digit_triples = [] {
        std::array<std::array<char, 4>, 1000> t{};
        for (unsigned i = 0; i < 1000; ++i)
            t[i] = {static_cast<char>('0' + i / 100), static_cast<char>('0' + i / 10 % 10),
                    static_cast<char>('0' + i % 10), '\0'};
        return t;
    }();
    static std::size_t decimal_digits(std::uint64_t v) {
        std::size_t n = 1;
        for (;;) {
            if (v < 10) return n;
            if (v < 100) return n + 1;
            if (v < 1000) return n + 2;
            if (v < 10000) return n + 3;
            v /= 10000;
            n += 4;
        }
    }
    // The decimal digits of v, ending just before `end`.
    static void write_digits(char *end, std::uint64_t v) {
        while (v >= 100) {
            end -= 2;
            std::memcpy(end, digit_pairs + 2 * (v % 100), 2);
            v /= 100;
        }
        if (v >= 10) {
            end -= 2;
            std::memcpy(end, digit_pairs + 2 * v, 2);
        } else {
            *--end = static_cast<char>('0' + v);
        }
    }
    void put_long(std::string_view v) {
        flush();
        if (v.size() > cap) {
            s_.append(v);
            return;
        }
        std::memcpy(buf_, v.data(), v.size());
        n_ = v.size();
    }

    std::string &s_;
    std::size_t n_ = 0;
    char buf_[cap];
};

// The same, straight onto a std::string (for code that writes a few pieces only).
inline void append_uint(std::string &s, std::uint64_t v) {
    Out(s).uint(v);
}
inline void append_int(std::string &s, std::int64_t v) {
    Out(s).sint(v);
}
inline void append_hex(std::string &s, std::uint32_t v, bool upper = false) {
    Out(s).hex(v, upper);
}
inline void append_hex2(std::string &s, std::uint8_t v, bool upper = false) {
    Out(s).hex2(v, upper);
}
inline void append_ip(std::string &s, const IpAddress &addr) {
    Out(s).ip(addr);
}
inline void append_epoch(std::string &s, const Timestamp &t) {
    Out(s).epoch(t);
}

// JSON string body of `s` (see json_escape in format.h).
void json_escape(std::string_view s, Out &out);

// JSON string body of `s` as Go's encoding/json (json.Marshal, Go >= 1.22) writes it: as
// json_escape, and also <, > and & as \u003c, \u003e, \u0026, U+2028 and U+2029 as
// \u2028 and \u2029, and each byte that does not begin a well-formed UTF-8 sequence as
// one \ufffd (Go's utf8.DecodeRuneInString errors are one byte long).
void json_escape_go(std::string_view s, Out &out);

// 2024-05-03T23:35:07.123456789Z: UTC, the year in four digits (more past 9999), always
// nine fraction digits (iptables-logger's Go time text, ECS's @timestamp).
void put_rfc3339(Out &out, const Timestamp &t);

// `"` + escaped value + `"`
inline void json_string(std::string_view s, Out &out) {
    out.put('"');
    json_escape(s, out);
    out.put('"');
}

} // namespace netlog::text
