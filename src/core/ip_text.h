// IPv4 dotted-quad text, inline: the hot path writes two addresses per event and a call
// cost as much as the copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace netlog {

// "0." .. "255." and their lengths without the dot: a dotted quad is four 4-byte copies.
struct Octets {
    char text[256][4];
    std::uint8_t len[256];
};
constexpr Octets make_octets() {
    Octets t{};
    for (unsigned v = 0; v < 256; ++v) {
        unsigned n = 0;
        if (v >= 100) t.text[v][n++] = static_cast<char>('0' + v / 100);
        if (v >= 10) t.text[v][n++] = static_cast<char>('0' + v / 10 % 10);
        t.text[v][n++] = static_cast<char>('0' + v % 10);
        t.text[v][n] = '.';
        t.len[v] = static_cast<std::uint8_t>(n);
    }
    return t;
}
inline constexpr Octets octets = make_octets();

// The dotted quad of b[0..4) at out; writes up to 16 bytes, returns the text's length.
// Unrolled by hand (-O2 keeps the loop, whose control cost a third).
inline std::size_t ipv4_text(const std::uint8_t *b, char *out) {
    char *o = out;
    const auto octet = [&o](std::uint8_t v) {
        std::memcpy(o, octets.text[v], 4);
        o += octets.len[v] + 1;
    };
    octet(b[0]);
    octet(b[1]);
    octet(b[2]);
    octet(b[3]);
    return static_cast<std::size_t>(o - out) - 1;
}

} // namespace netlog
