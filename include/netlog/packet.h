// A decoded network packet (IPv4/IPv6 + TCP/UDP/ICMP/ICMPv6 or any other protocol),
// from the bytes NFLOG hands over (starting at the network header). Pure: bytes in,
// value out; a short capture decodes as far as the bytes go and says where it stopped.
#pragma once

#include <netlog/nflog.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace netlog {

enum class L3 : std::uint8_t { none, ipv4, ipv6 };

// Where decoding stopped early. `complete` means every header we look at was present.
enum class Truncation : std::uint8_t {
    complete,
    network,   // the IPv4/IPv6 header itself is cut (or the payload is not IP at all)
    extension, // an IPv6 extension header is cut
    transport, // the TCP/UDP/ICMP header is cut
};

struct IpAddress {
    L3 family = L3::none;
    std::array<std::uint8_t, 16> bytes{}; // IPv4 uses the first 4
    // Two 8-byte compares, inline (the defaulted comparison calls memcmp for the array).
    bool operator==(const IpAddress &o) const {
        std::uint64_t a[2], b[2];
        std::memcpy(a, bytes.data(), sizeof a);
        std::memcpy(b, o.bytes.data(), sizeof b);
        return family == o.family && a[0] == b[0] && a[1] == b[1];
    }
};

namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10,
                              urg = 0x20, ece = 0x40, cwr = 0x80;
}

struct Packet {
    L3 l3 = L3::none;
    Truncation truncation = Truncation::complete;
    // The IP header is garbage, not merely cut: its version nibble disagrees with the
    // ethertype NFLOG reports, or an IPv4 IHL is below 5. Such a packet is a decode error;
    // a header cut by the copy range is not (it decodes as far as the bytes go).
    bool malformed = false;
    // The capture ends before the protocol field (IPv4 header cut before byte 10, IPv6
    // header cut before the end of its extension headers' chain could be read).
    bool protocol_unknown = false;

    IpAddress src, dst;
    std::uint16_t length = 0;     // IPv4 tot_len; IPv6 payload_len + 40 (as the kernel's LEN=)
    std::uint8_t tos = 0;         // IPv4 TOS / IPv6 traffic class
    std::uint8_t ttl = 0;         // IPv4 TTL / IPv6 hop limit
    std::uint16_t ip_id = 0;      // IPv4 ID
    std::uint32_t flow_label = 0; // IPv6
    bool ip_ce = false, ip_df = false, ip_mf = false; // IPv4 flag bits (CE = reserved bit);
                                                      // ip_mf also = IPv6 fragment M flag
    std::uint16_t frag_offset = 0; // in 8-byte units (IPv4, or IPv6 fragment header)
    bool is_fragment = false;      // IPv4 MF or offset, or an IPv6 fragment header
    std::uint32_t frag_id = 0;     // IPv6 fragment header identification
    Bytes ip_options;              // IPv4 options bytes

    std::uint8_t protocol = 0;  // transport protocol number (IPv6: after extension headers)
    bool has_transport = false; // first fragment with a complete fixed transport header
                                // (TCP 20, UDP/UDPLite/ICMP/ICMPv6 8, SCTP/DCCP 12 bytes)
    bool has_ports = false;     // TCP/UDP/UDPLite/SCTP/DCCP ports were read (>= 4 bytes,
                                // so possibly without has_transport on a short capture)
    std::uint16_t src_port = 0, dst_port = 0;

    // TCP
    std::uint32_t tcp_seq = 0, tcp_ack = 0;
    std::uint16_t tcp_window = 0, tcp_urgent = 0;
    std::uint8_t tcp_flags = 0; // tcp_flag:: bits
    // Byte 12's low nibble is 3 reserved bits and AE (AccECN, RFC 9768; formerly NS).
    // tcp_reserved is what Linux >= 6.18 prints in RES= (mask 0x0E000000, >> 22, so
    // 0x00..0x38); tcp_ae is the bit it prints as "AE". Older kernels print
    // RES=(tcp_reserved | tcp_ae << 2) and no AE. (Checked with the LOG target on 6.18.)
    std::uint8_t tcp_reserved = 0;
    bool tcp_ae = false;
    Bytes tcp_options;

    // UDP
    std::uint16_t udp_length = 0;

    // ICMP / ICMPv6
    bool has_icmp = false; // type and code were read (>= 2 bytes)
    std::uint8_t icmp_type = 0, icmp_code = 0;
    std::uint16_t icmp_id = 0, icmp_seq = 0; // echo request/reply only

    Bytes network;   // the whole captured network packet (payload as given)
    Bytes transport; // bytes from the transport header on (empty if not reached)
};

// Decode `payload` (network header first). `hw_protocol` is the ethertype NFLOG reports
// (0x0800, 0x86dd); 0 means "look at the IP version nibble".
Packet packet_decode(Bytes payload, std::uint16_t hw_protocol = 0);
// The same into `p` (reset first): no Packet copied out, for a caller that decodes into
// its event.
void packet_decode(Bytes payload, std::uint16_t hw_protocol, Packet &p);

// Lowercase protocol keyword ("tcp", "udp", "icmp", "icmpv6", IANA keyword for others),
// or empty if none is known (callers then print the number).
std::string_view protocol_name(std::uint8_t protocol);

// RFC 5952 text for IPv6, dotted quad for IPv4, into `out` (appends). Returns chars written.
std::size_t ip_to_text(const IpAddress &addr, char *out); // out must hold 46 bytes

} // namespace netlog
