// Network packet decoding: IPv4/IPv6 (with extension headers) and the transport header.
// Every read goes through Reader, which checks the length first.
#include "ip_text.h"
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <netlog/packet.h>

namespace netlog {
namespace {

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;

namespace proto {
constexpr std::uint8_t hopopts = 0, icmp = 1, tcp = 6, udp = 17, dccp = 33, routing = 43,
                       fragment = 44, esp = 50, ah = 51, icmpv6 = 58, none = 59, dstopts = 60,
                       sctp = 132, udplite = 136;
}

// `t` as Packet{} (every member's default is zero: first enumerators, false, 0, empty
// spans), by 16-byte stores. GCC clears a struct this size with `rep stos`, whose start-up
// costs more than the stores (and valgrind counts each of its 21 steps).
template <class T, std::size_t... I> void zero(T &t, std::index_sequence<I...>) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) >= 16);
    const std::uint64_t z[2] = {};
    auto *d = reinterpret_cast<unsigned char *>(&t);
    (std::memcpy(d + I * 16, z, 16), ...);
    if constexpr (sizeof(T) % 16 != 0) std::memcpy(d + sizeof(T) - 16, z, 16);
}

template <class T> void zero(T &t) {
    zero(t, std::make_index_sequence<sizeof(T) / 16>());
}

std::uint16_t be16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

std::uint32_t be32(const std::uint8_t *p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
           std::uint32_t{p[3]};
}

bool is_echo(L3 l3, std::uint8_t type) {
    if (l3 == L3::ipv4) return type == 0 || type == 8; // echo reply, echo request
    return type == 128 || type == 129;
}

// The first `need` bytes of a transport header with a port pair (TCP, UDP, UDPLite, SCTP,
// DCCP): the ports when 4 bytes are there; true when all `need` bytes are (has_transport),
// false with the truncation marked when they are not.
bool port_header(Packet &p, const std::uint8_t *b, std::size_t n, std::size_t need) {
    if (n >= 4) {
        p.has_ports = true;
        p.src_port = be16(b);
        p.dst_port = be16(b + 2);
    }
    if (n < need) {
        p.truncation = Truncation::transport;
        return false;
    }
    p.has_transport = true;
    return true;
}

// The transport header at `t` (already the first fragment). Reads what is there: one
// switch on the protocol, each case with its fixed header size (TCP 20, UDP/UDPLite/ICMP/
// ICMPv6 8, SCTP 12, DCCP 12: its generic header with X=0; ports are all we read).
// Inlined into both IP decoders: no call for every packet.
[[gnu::always_inline]] inline void decode_transport(Packet &p, Bytes t) {
    p.transport = t;
    const std::uint8_t *b = t.data();
    const std::size_t n = t.size();
    switch (p.protocol) {
    case proto::tcp: {
        if (!port_header(p, b, n, 20)) return;
        p.tcp_seq = be32(b + 4);
        p.tcp_ack = be32(b + 8);
        p.tcp_reserved = static_cast<std::uint8_t>((b[12] & 0x0e) << 2);
        p.tcp_ae = (b[12] & 0x01) != 0;
        p.tcp_flags = b[13];
        p.tcp_window = be16(b + 14);
        p.tcp_urgent = be16(b + 18);
        const std::size_t hdr_len = std::size_t{b[12]} / 16 * 4;
        if (hdr_len > 20) {
            const std::size_t have = std::min(hdr_len, n);
            p.tcp_options = t.subspan(20, have - 20);
            if (have < hdr_len) p.truncation = Truncation::transport;
        }
        return;
    }
    case proto::udp:
    case proto::udplite:
        if (port_header(p, b, n, 8)) p.udp_length = be16(b + 4);
        return;
    case proto::sctp:
    case proto::dccp: port_header(p, b, n, 12); return;
    case proto::icmp:
    case proto::icmpv6:
        if (n >= 2) {
            p.has_icmp = true;
            p.icmp_type = b[0];
            p.icmp_code = b[1];
        }
        if (n < 8) {
            p.truncation = Truncation::transport;
            return;
        }
        p.has_transport = true;
        if (is_echo(p.l3, p.icmp_type)) {
            p.icmp_id = be16(b + 4);
            p.icmp_seq = be16(b + 6);
        }
        return;
    default: return; // a protocol we do not look inside
    }
}

// `in` is not empty (packet_decode).
void decode_ipv4(Packet &p, Bytes in) {
    p.l3 = L3::ipv4;
    const std::uint8_t *b = in.data();
    // Version 4 and IHL 5..15 (bytes 0x45..0x4f) in one compare.
    if (static_cast<std::uint8_t>(b[0] - 0x45) > 0x4f - 0x45) {
        p.malformed = true; // not an IPv4 header: version or IHL impossible
        p.truncation = Truncation::network;
        return;
    }
    if (in.size() < 20) { // cut by the copy range: as far as the bytes go
        p.truncation = Truncation::network;
        const auto n = in.size();
        if (n >= 2) p.tos = b[1];
        if (n >= 4) p.length = be16(b + 2);
        if (n >= 6) p.ip_id = be16(b + 4);
        if (n >= 9) p.ttl = b[8];
        p.protocol_unknown = n < 10;
        if (n >= 10) p.protocol = b[9];
        if (n >= 16) {
            p.src.family = L3::ipv4;
            std::memcpy(p.src.bytes.data(), b + 12, 4);
        }
        return;
    }
    p.tos = b[1];
    p.length = be16(b + 2);
    p.ip_id = be16(b + 4);
    const std::uint16_t frag = be16(b + 6);
    p.ip_ce = (frag & 0x8000) != 0;
    p.ip_df = (frag & 0x4000) != 0;
    p.ip_mf = (frag & 0x2000) != 0;
    p.frag_offset = frag & 0x1fff;
    p.is_fragment = (frag & 0x3fff) != 0; // MF or an offset
    p.ttl = b[8];
    p.protocol = b[9];
    p.src.family = p.dst.family = L3::ipv4;
    std::memcpy(p.src.bytes.data(), b + 12, 4);
    std::memcpy(p.dst.bytes.data(), b + 16, 4);

    const std::size_t ihl = std::size_t{b[0] & 0x0fu} * 4;
    if (in.size() < ihl) {
        p.ip_options = in.subspan(20);
        p.truncation = Truncation::network;
        return;
    }
    p.ip_options = in.subspan(20, ihl - 20);
    if (p.frag_offset != 0) return;
    // The packet ends at tot_len when the capture holds more (it never should).
    std::size_t end = in.size();
    if (p.length >= ihl && p.length < end) end = p.length;
    decode_transport(p, in.subspan(ihl, end - ihl));
}

// `in` is not empty (packet_decode).
void decode_ipv6(Packet &p, Bytes in) {
    p.l3 = L3::ipv6;
    const std::uint8_t *b = in.data();
    if (b[0] >> 4 != 6) {
        p.malformed = true; // not an IPv6 header
        p.truncation = Truncation::network;
        return;
    }
    if (in.size() < 40) { // cut by the copy range: as far as the bytes go
        p.truncation = Truncation::network;
        p.protocol_unknown = true; // the chain of extension headers cannot be followed
        const auto n = in.size();
        if (n >= 2) p.tos = static_cast<std::uint8_t>((b[0] & 0x0f) << 4 | b[1] >> 4);
        if (n >= 4)
            p.flow_label = std::uint32_t{b[1] & 0x0fu} << 16 | std::uint32_t{b[2]} << 8 | b[3];
        if (n >= 6) p.length = static_cast<std::uint16_t>(be16(b + 4) + 40);
        if (n >= 8) p.ttl = b[7];
        if (n >= 24) {
            p.src.family = L3::ipv6;
            std::memcpy(p.src.bytes.data(), b + 8, 16);
        }
        return;
    }
    p.tos = static_cast<std::uint8_t>((b[0] & 0x0f) << 4 | b[1] >> 4);
    p.flow_label = std::uint32_t{b[1] & 0x0fu} << 16 | std::uint32_t{b[2]} << 8 | b[3];
    const std::uint16_t payload_len = be16(b + 4);
    p.length = static_cast<std::uint16_t>(payload_len + 40);
    p.ttl = b[7];
    p.src.family = p.dst.family = L3::ipv6;
    std::memcpy(p.src.bytes.data(), b + 8, 16);
    std::memcpy(p.dst.bytes.data(), b + 24, 16);

    std::uint8_t next = b[6];
    std::size_t off = 40;
    std::size_t end = in.size();
    if (payload_len != 0 && std::size_t{payload_len} + 40 < end)
        end = std::size_t{payload_len} + 40;
    for (;;) {
        p.protocol = next;
        const std::size_t left = end - off;
        const std::uint8_t *h = b + off;
        std::size_t size = 0;
        switch (next) {
        case proto::hopopts:
        case proto::routing:
        case proto::dstopts:
            if (left < 2) {
                p.truncation = Truncation::extension;
                return;
            }
            size = (std::size_t{h[1]} + 1) * 8;
            break;
        case proto::ah:
            if (left < 2) {
                p.truncation = Truncation::extension;
                return;
            }
            size = (std::size_t{h[1]} + 2) * 4;
            break;
        case proto::fragment: {
            if (left < 8) {
                p.truncation = Truncation::extension;
                return;
            }
            const std::uint16_t offset_flags = be16(h + 2);
            p.is_fragment = true;
            p.frag_offset = offset_flags >> 3;
            p.ip_mf = (offset_flags & 1) != 0;
            p.frag_id = be32(h + 4);
            if (p.frag_offset != 0) {
                p.protocol = h[0];
                return; // a later fragment: no transport header here
            }
            size = 8;
            break;
        }
        case proto::esp:
        case proto::none: return; // nothing we can read beyond
        default: decode_transport(p, in.subspan(off, left)); return;
        }
        if (left < size) {
            p.truncation = Truncation::extension;
            return;
        }
        next = h[0];
        off += size;
    }
}

} // namespace

Packet packet_decode(Bytes payload, std::uint16_t hw_protocol) {
    Packet p;
    packet_decode(payload, hw_protocol, p);
    return p;
}

void packet_decode(Bytes payload, std::uint16_t hw_protocol, Packet &p) {
    zero(p);
    p.network = payload;
    if (payload.empty()) { // no packet bytes at all: nothing to report
        p.truncation = Truncation::network;
        return;
    }
    // One call site each: both are inlined here.
    const unsigned version = payload[0] >> 4;
    const bool v4 =
        hw_protocol == ethertype_ipv4 || (hw_protocol != ethertype_ipv6 && version == 4);
    if (v4)
        decode_ipv4(p, payload);
    else if (hw_protocol == ethertype_ipv6 || version == 6)
        decode_ipv6(p, payload);
    else
        p.truncation = Truncation::network;
}

std::string_view protocol_name(std::uint8_t protocol) {
    // IANA "Assigned Internet Protocol Numbers", keyword column, lowercased.
    switch (protocol) {
    case 0: return "hopopt";
    case 1: return "icmp";
    case 2: return "igmp";
    case 4: return "ipv4";
    case 6: return "tcp";
    case 8: return "egp";
    case 9: return "igp";
    case 17: return "udp";
    case 27: return "rdp";
    case 33: return "dccp";
    case 41: return "ipv6";
    case 43: return "ipv6-route";
    case 44: return "ipv6-frag";
    case 46: return "rsvp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmpv6";
    case 59: return "ipv6-nonxt";
    case 60: return "ipv6-opts";
    case 88: return "eigrp";
    case 89: return "ospfigp";
    case 94: return "ipip";
    case 97: return "etherip";
    case 103: return "pim";
    case 108: return "ipcomp";
    case 112: return "vrrp";
    case 115: return "l2tp";
    case 132: return "sctp";
    case 135: return "mobility-header";
    case 136: return "udplite";
    case 137: return "mpls-in-ip";
    case 143: return "ethernet";
    default: return {};
    }
}

namespace {

std::size_t ipv6_text(const std::uint8_t *b, char *out) {
    std::uint16_t g[8];
    for (int i = 0; i < 8; ++i) g[i] = be16(b + 2 * i);

    // IPv4-mapped ::ffff:a.b.c.d (RFC 5952 §5).
    if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff) {
        std::memcpy(out, "::ffff:", 7);
        return 7 + ipv4_text(b + 12, out + 7);
    }

    // Longest run of two or more zero groups; the first one on a tie.
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (g[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && g[j] == 0) ++j;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }

    static constexpr char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            *o++ = ':';
            *o++ = ':';
            i += best_len - 1;
            continue;
        }
        if (i != 0 && i != best + best_len) *o++ = ':';
        const unsigned v = g[i];
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned nibble = (v >> shift) & 0xf;
            if (nibble || started || shift == 0) {
                *o++ = hex[nibble];
                started = true;
            }
        }
    }
    return static_cast<std::size_t>(o - out);
}

} // namespace

std::size_t ip_to_text(const IpAddress &addr, char *out) {
    switch (addr.family) {
    case L3::ipv4: return ipv4_text(addr.bytes.data(), out);
    case L3::ipv6: return ipv6_text(addr.bytes.data(), out);
    default: return 0;
    }
}

} // namespace netlog
