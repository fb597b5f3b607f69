// The output formats' writer: pieces of a line go into a small stack buffer that is appended
// to the caller's reused std::string in a few large copies (std::string::append per piece
// costs a call and a capacity check each). Integers, hex, addresses and timestamps are
// written straight into it; nothing allocates once the caller's string has grown.
#pragma once

#include "ip_text.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <netlog/nflog.h>
#include <netlog/packet.h>
#include <string>
#include <string_view>

namespace netlog::text {

// Two decimal digits per step: "00" "01" ... "99".
inline constexpr char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                         "2021222324252627282930313233343536373839"
                                         "4041424344454647484950515253545556575859"
                                         "6061626364656667686970717273747576777879"
                                         "8081828384858687888990919293949596979899";
// "000" .. "999", each padded to four bytes (copied four at a time).
inline constexpr auto digit_triples = [] {
    std::array<std::array<char, 4>, 1000> t{};
    for (unsigned i = 0; i < 1000; ++i)
        t[i] = {static_cast<char>('0' + i / 100), static_cast<char>('0' + i / 10 % 10),
                static_cast<char>('0' + i % 10), '\0'};
    return t;
}();

// Unchecked writes at a position the caller has reserved room for (Out::begin: a fixed
// bound per piece). The position is a local value the compiler keeps in a register across
// pieces; a count kept in a member beside the bytes is reloaded after every byte store
// (a char store may alias it), which cost more than the copies themselves. Each piece
// says how many bytes it may write.
struct Cursor {
    char *p;

    // v.size() bytes. A literal's copy is a few moves (no memcpy call).
    [[gnu::always_inline]] void put(std::string_view v) {
        if (!v.empty()) std::memcpy(p, v.data(), v.size()); // (a default view's data() is null)
        p += v.size();
    }
    // 1 byte.
    [[gnu::always_inline]] void put(char c) { *p++ = c; }

    // v < 100000, in decimal: 5 bytes (ports, ICMP types, lengths: no digit count first).
    [[gnu::always_inline]] void small(std::uint32_t v) {
        const auto pair = [](char *at, std::uint32_t x) {
            std::memcpy(at, digit_pairs + 2 * x, 2);
        };
        if (v < 10) {
            *p++ = static_cast<char>('0' + v);
        } else if (v < 100) {
            pair(p, v);
            p += 2;
        } else if (v < 1000) {
            p[0] = static_cast<char>('0' + v / 100);
            pair(p + 1, v % 100);
            p += 3;
        } else if (v < 10000) {
            pair(p, v / 100);
            pair(p + 2, v % 100);
            p += 4;
        } else {
            p[0] = static_cast<char>('0' + v / 10000);
            pair(p + 1, v / 100 % 100);
            pair(p + 3, v % 100);
            p += 5;
        }
    }
    // In decimal: 20 bytes.
    void uint(std::uint64_t v) {
        if (v < 100000) {
            small(static_cast<std::uint32_t>(v));
            return;
        }
        p += decimal_digits(v);
        write_digits(p, v);
    }
    // 21 bytes.
    void sint(std::int64_t v) {
        if (v < 0) {
            *p++ = '-';
            uint(0 - static_cast<std::uint64_t>(v));
        } else {
            uint(static_cast<std::uint64_t>(v));
        }
    }
    // printf "%x" / "%X": 8 bytes.
    void hex(std::uint32_t v, bool upper = false) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        const std::size_t n = v ? (static_cast<std::size_t>(std::bit_width(v)) + 3) / 4 : 1;
        for (std::size_t i = n; i-- > 0; v >>= 4) p[i] = digits[v & 0xf];
        p += n;
    }
    // printf "%02x" / "%02X": 2 bytes.
    void hex2(std::uint8_t v, bool upper = false) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        p[0] = digits[v >> 4];
        p[1] = digits[v & 0xf];
        p += 2;
    }
    // Dotted quad / RFC 5952 text; nothing for an address of no family: 48 bytes.
    void ip(const IpAddress &addr) {
        p += addr.family == L3::ipv4 ? ipv4_text(addr.bytes.data(), p) : ip_to_text(addr, p);
    }
    // "<sec>.<9-digit ns>": 32 bytes. Events come in time order: the seconds' text is kept
    // from the last call (per thread) and copied while the second is the same.
    [[gnu::always_inline]] void epoch(const Timestamp &t) {
        if (t.sec < 0) [[unlikely]] { // (not kept)
            sint(t.sec);
        } else {
            const Seconds &s = seconds(t.sec);
            std::memcpy(p, s.text, sizeof s.text); // a fixed-size copy, len of it kept
            p += s.len;
        }
        fraction9(t.nsec);
    }
    // ".<9-digit ns>": three groups of three digits, each one table read. 11 bytes (the
    // last group's copy writes one byte past the ten).
    void fraction9(std::uint32_t nsec) {
        nsec %= 1000000000u;
        p[0] = '.';
        std::memcpy(p + 1, digit_triples[nsec / 1000000u].data(), 4);
        std::memcpy(p + 4, digit_triples[nsec / 1000u % 1000u].data(), 4);
        std::memcpy(p + 7, digit_triples[nsec % 1000u].data(), 4);
        p += 10;
    }
    // Two decimal digits of 0..99: 2 bytes.
    void two(unsigned v) {
        p[0] = static_cast<char>('0' + v / 10 % 10);
        p[1] = static_cast<char>('0' + v % 10);
        p += 2;
    }

    // The text of the last second epoch() wrote, on this thread.
    struct Seconds {
        std::int64_t sec = -1;
        std::uint8_t len = 0;
        char text[20] = {};
    };
    static const Seconds &seconds(std::int64_t sec) { // sec >= 0
        thread_local constinit Seconds last;
        if (sec != last.sec) [[unlikely]]
            set_seconds(last, sec);
        return last;
    }
    [[gnu::noinline]] static void set_seconds(Seconds &s, std::int64_t sec) {
        const auto v = static_cast<std::uint64_t>(sec);
        s.len = static_cast<std::uint8_t>(decimal_digits(v));
        write_digits(s.text + s.len, v);
        s.sec = sec;
    }

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
};

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
    // The same as a Cursor: room for k <= cap bytes, then end() with the moved cursor.
    Cursor begin(std::size_t k) { return Cursor{room(k)}; }
    void end(Cursor c) { n_ = static_cast<std::size_t>(c.p - buf_); }

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
        piece(20, [v](Cursor &c) { c.uint(v); });
    }
    void sint(std::int64_t v) {
        piece(21, [v](Cursor &c) { c.sint(v); });
    }
    void hex(std::uint32_t v, bool upper = false) {
        piece(8, [v, upper](Cursor &c) { c.hex(v, upper); });
    }
    void hex2(std::uint8_t v, bool upper = false) {
        piece(2, [v, upper](Cursor &c) { c.hex2(v, upper); });
    }
    void ip(const IpAddress &addr) {
        piece(48, [&addr](Cursor &c) { c.ip(addr); });
    }
    void epoch(const Timestamp &t) {
        piece(32, [&t](Cursor &c) { c.epoch(t); });
    }
    void fraction9(std::uint32_t nsec) {
        piece(11, [nsec](Cursor &c) { c.fraction9(nsec); });
    }
    void two(unsigned v) {
        piece(2, [v](Cursor &c) { c.two(v); });
    }

  private:
    template <typename F> void piece(std::size_t k, F write) {
        Cursor c = begin(k);
        write(c);
        end(c);
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
