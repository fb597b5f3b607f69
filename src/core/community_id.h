// Community ID v1 (corelight/community-id-spec): a flow's hash that Zeek, Suricata,
// Elastic and Wireshark compute alike, so netlog's events join their flow records.
// "1:" + base64(SHA-1(seed · src addr · dst addr · proto · 0 · [src port · dst port])),
// the endpoints in a canonical order so both directions of a flow give one ID. Pure.
#pragma once

#include <netlog/packet.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace netlog {

// "1:" + 28 base64 characters.
inline constexpr std::size_t community_id_size = 30;

// One flow's endpoints as the hash sees them. `has_ports`: the protocol hashes ports
// (TCP 6, UDP 17, SCTP 132, ICMP 1, ICMPv6 58) and they are known; for ICMP/ICMPv6 the
// "ports" are the type and code, as the packet carries them (community_id_flow maps them).
struct FlowTuple {
    IpAddress src, dst;
    std::uint8_t protocol = 0;
    bool has_ports = false;
    std::uint16_t src_port = 0, dst_port = 0;
};

// The ID of `t` into `out` (community_id_size chars, no NUL). ICMP types with a counterpart
// (echo request/reply, ...) are hashed as (type, counter-type) and ordered like ports; other
// ICMP types as (type, code), never reordered (a one-way flow). Returns community_id_size,
// or 0 when the addresses are not both IPv4 or both IPv6.
std::size_t community_id_flow(const FlowTuple &t, char *out, std::uint16_t seed = 0);

// The ID of a decoded packet's flow; 0 (no ID) when it cannot be known as other tools
// know it: the protocol was not captured, or a protocol that hashes its ports (or ICMP
// type and code) lacks them (a later fragment, a capture cut short).
std::size_t community_id(const Packet &p, char *out, std::uint16_t seed = 0);

// SHA-1 (FIPS 180-4) of `data`: the hash the ID is made of. 20 bytes into `digest`.
void sha1(std::span<const std::uint8_t> data, std::uint8_t digest[20]);

} // namespace netlog
