// What the kernel LOG target's text is written with: the packet seen as its skb
// (skb_header_pointer), printk's %pI4/%pI6/%pM/%02x as a Writer, and the walk's context;
// shared by the line's head and link layer (klog.cpp) and the IP packet dumps (klog_ip.cpp).
#pragma once

#include "text_append.h"

#include <netlog/format.h>
#include <netlog/prefix_tag.h>
#include <optional>

namespace netlog::klog_text {

constexpr std::uint8_t ip_tcp = 6, ip_udp = 17, ip_udplite = 136, ip_icmp = 1, ip_ah = 51,
                       ip_esp = 50, ip_icmpv6 = 58, ip_hopopts = 0, ip_routing = 43,
                       ip_fragment = 44, ip_none = 59, ip_dstopts = 60;

inline std::uint16_t be16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t be32(const std::uint8_t *p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// The packet as the kernel's skb: `len` is skb->len (what the IP header says the packet is),
// `cap` how many bytes we actually have.
struct Skb {
    const std::uint8_t *data = nullptr;
    std::uint32_t cap = 0;
    std::uint32_t len = 0;

    // skb_header_pointer(): the n bytes at off, or nullptr if the packet (or capture) ends first.
    const std::uint8_t *header(std::uint32_t off, std::uint32_t n) const {
        if (off > len || n > len - off || off > cap || n > cap - off) return nullptr;
        return data + off;
    }
};

class Writer {
  public:
    explicit Writer(text::Out &out) : out_(out) {}
    Writer &s(std::string_view t) {
        out_.put(t);
        return *this;
    }
    Writer &u(std::uint64_t v) {
        out_.uint(v);
        return *this;
    }
    Writer &x(std::uint32_t v) { // %x
        out_.hex(v);
        return *this;
    }
    Writer &x02(std::uint8_t v, bool upper = false) { // %02x / %02X
        out_.hex2(v, upper);
        return *this;
    }
    Writer &x08(std::uint32_t v) { // %08x
        for (int shift = 24; shift >= 0; shift -= 8) x02(static_cast<std::uint8_t>(v >> shift));
        return *this;
    }
    Writer &ip4(const std::uint8_t *p) { // %pI4
        for (int i = 0; i < 4; ++i) {
            if (i) out_.put('.');
            u(p[i]);
        }
        return *this;
    }
    Writer &ip6(const std::uint8_t *p) { // %pI6: eight groups of four lowercase hex digits
        for (int i = 0; i < 16; i += 2) {
            if (i) out_.put(':');
            x02(p[i]).x02(p[i + 1]);
        }
        return *this;
    }
    Writer &mac(const std::uint8_t *p) { // %pM
        for (int i = 0; i < 6; ++i) {
            if (i) out_.put(':');
            x02(p[i]);
        }
        return *this;
    }

  private:
    text::Out &out_;
};

struct Ctx {
    Writer &w;
    Skb skb;
    std::uint32_t mark = 0;
    std::uint8_t flags = 0;                // the LOG rule's flags (prefix_tag.h log_flag_*)
    std::optional<std::uint32_t> uid, gid; // NFULA_UID/GID: the socket's, when it has one
};

// dump_ipv4_packet(); `iphoff` 0 is the packet itself, non-zero the packet inside an ICMP error.
void dump_ipv4(Ctx &c, std::uint32_t iphoff);
// dump_ipv6_packet()
void dump_ipv6(Ctx &c, std::uint32_t ip6hoff, bool recurse);

} // namespace netlog::klog_text
