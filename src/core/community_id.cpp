// Community ID v1 and the SHA-1 it needs (one 64-byte block for any flow tuple).
#include "community_id.h"

#include <array>
#include <cstring>

namespace netlog {

namespace {

constexpr std::uint32_t rol(std::uint32_t v, int n) {
    return (v << n) | (v >> (32 - n));
}

void sha1_block(std::uint32_t h[5], const std::uint8_t *block) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i)
        w[i] = std::uint32_t{block[4 * i]} << 24 | std::uint32_t{block[4 * i + 1]} << 16 |
               std::uint32_t{block[4 * i + 2]} << 8 | std::uint32_t{block[4 * i + 3]};
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
        std::uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void base64(const std::uint8_t *in, std::size_t n, char *out) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const std::uint32_t v =
            std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
        *out++ = alphabet[v & 63];
    }
    if (const std::size_t rest = n - i) {
        const std::uint32_t v =
            std::uint32_t{in[i]} << 16 | (rest == 2 ? std::uint32_t{in[i + 1]} << 8 : 0);
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = rest == 2 ? alphabet[v >> 6 & 63] : '=';
        *out++ = '=';
    }
}

// The ICMP type's counterpart (request <-> reply), or -1 when the type has none
// (pycommunityid icmp.py / icmp6.py, the spec's reference implementation).
int icmp_counter_type(std::uint8_t type) {
    switch (type) {
    case 8: return 0; // echo request / reply
    case 0: return 8;
    case 13: return 14; // timestamp
    case 14: return 13;
    case 15: return 16; // information
    case 16: return 15;
    case 10: return 9; // router solicitation / advertisement
    case 9: return 10;
    case 17: return 18; // address mask
    case 18: return 17;
    default: return -1;
    }
}

int icmp6_counter_type(std::uint8_t type) {
    switch (type) {
    case 128: return 129; // echo request / reply
    case 129: return 128;
    case 130: return 131; // MLD query / report
    case 131: return 130;
    case 133: return 134; // router solicitation / advertisement
    case 134: return 133;
    case 135: return 136; // neighbor solicitation / advertisement
    case 136: return 135;
    case 139: return 140; // node information query / response
    case 140: return 139;
    case 144: return 145; // home agent address discovery request / reply
    case 145: return 144;
    default: return -1;
    }
}

bool hashes_ports(std::uint8_t protocol) {
    return protocol == 6 || protocol == 17 || protocol == 132 || protocol == 1 || protocol == 58;
}

} // namespace

void sha1(std::span<const std::uint8_t> data, std::uint8_t digest[20]) {
    std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::size_t off = 0;
    for (; data.size() - off >= 64; off += 64) sha1_block(h, data.data() + off);
    std::uint8_t tail[128] = {};
    const std::size_t rest = data.size() - off;
    if (rest) std::memcpy(tail, data.data() + off, rest);
    tail[rest] = 0x80;
    const std::size_t blocks = rest + 9 <= 64 ? 1 : 2;
    const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    for (int i = 0; i < 8; ++i)
        tail[blocks * 64 - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
    for (std::size_t b = 0; b < blocks; ++b) sha1_block(h, tail + 64 * b);
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j)
            digest[4 * i + j] = static_cast<std::uint8_t>(h[i] >> (24 - 8 * j));
}

std::size_t community_id_flow(const FlowTuple &t, char *out, std::uint16_t seed) {
    if (t.src.family == L3::none || t.src.family != t.dst.family) return 0;
    const std::size_t alen = t.src.family == L3::ipv4 ? 4 : 16;
    std::uint16_t sport = t.src_port, dport = t.dst_port;
    bool one_way = false;
    const bool ports = t.has_ports && hashes_ports(t.protocol);
    if (ports && (t.protocol == 1 || t.protocol == 58)) {
        const int counter = t.protocol == 1 ? icmp_counter_type(static_cast<std::uint8_t>(sport))
                                            : icmp6_counter_type(static_cast<std::uint8_t>(sport));
        if (counter >= 0)
            dport = static_cast<std::uint16_t>(counter);
        else
            one_way = true; // (type, code) as they are
    }
    const std::uint8_t *sa = t.src.bytes.data(), *da = t.dst.bytes.data();
    const int cmp = std::memcmp(sa, da, alen);
    if (!one_way && !(cmp < 0 || (cmp == 0 && ports && sport < dport))) {
        std::swap(sa, da);
        std::swap(sport, dport);
    }
    std::array<std::uint8_t, 40> in{};
    std::size_t n = 0;
    in[n++] = static_cast<std::uint8_t>(seed >> 8);
    in[n++] = static_cast<std::uint8_t>(seed);
    std::memcpy(in.data() + n, sa, alen);
    n += alen;
    std::memcpy(in.data() + n, da, alen);
    n += alen;
    in[n++] = t.protocol;
    in[n++] = 0;
    if (ports) {
        in[n++] = static_cast<std::uint8_t>(sport >> 8);
        in[n++] = static_cast<std::uint8_t>(sport);
        in[n++] = static_cast<std::uint8_t>(dport >> 8);
        in[n++] = static_cast<std::uint8_t>(dport);
    }
    std::uint8_t digest[20];
    sha1(std::span<const std::uint8_t>(in.data(), n), digest);
    out[0] = '1';
    out[1] = ':';
    base64(digest, sizeof digest, out + 2);
    return community_id_size;
}

std::size_t community_id(const Packet &p, char *out, std::uint16_t seed) {
    if (p.l3 == L3::none || p.protocol_unknown) return 0;
    FlowTuple t;
    t.src = p.src;
    t.dst = p.dst;
    t.protocol = p.protocol;
    const bool icmp =
        (p.l3 == L3::ipv4 && p.protocol == 1) || (p.l3 == L3::ipv6 && p.protocol == 58);
    if (icmp) {
        if (!p.has_icmp) return 0;
        t.has_ports = true;
        t.src_port = p.icmp_type;
        t.dst_port = p.icmp_code;
    } else if (hashes_ports(p.protocol)) {
        // (also ICMP's number inside IPv6 and ICMPv6's inside IPv4: nothing to hash there)
        if (!p.has_ports) return 0;
        t.has_ports = true;
        t.src_port = p.src_port;
        t.dst_port = p.dst_port;
    }
    return community_id_flow(t, out, seed);
}

} // namespace netlog
