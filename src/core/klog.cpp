// The kernel LOG target's text (net/netfilter/nf_log_syslog.c) rebuilt from NFLOG's bytes, word
// for word and flag for flag: the line's head (IN= OUT=), the link layer and ARP, the kernel's
// length cap and escapes. The IPv4 and IPv6 packet dumps are in klog_ip.cpp.
#include "klog_text.h"

#include <algorithm>
#include <netlog/format.h>
#include <netlog/prefix_tag.h>
#include <optional>

namespace netlog {

namespace {

// What the kernel's nf_log_buf holds at most: 1024 - sizeof(unsigned) - 1 bytes including
// the NUL, of which KERN_SOH and the level take 2.
constexpr std::size_t kernel_text_max = 1016;

using klog_text::be16;
using klog_text::Ctx;
using klog_text::dump_ipv4;
using klog_text::dump_ipv6;
using klog_text::Writer;

constexpr std::uint16_t arphrd_ether = 1;

// The link layer as --log-macdecode prints it for an Ethernet device: "MACSRC= MACDST=
// MACPROTO=". False when the rule does not decode or the device is not Ethernet (NFLOG's
// hardware type; none reported: a device without a link-layer header). A VLAN tag the
// kernel would print as "VPROTO= VID=" is not in NFLOG's message for the ip families.
bool dump_mac_decoded(Writer &w, std::uint8_t flags, const NflogMessage *msg) {
    if (!(flags & log_flag_macdecode) || !msg || msg->hwtype != arphrd_ether) return false;
    const Bytes hw = msg->hwheader;
    if (hw.size() < 14) return true; // no Ethernet header: the kernel prints nothing
    w.s("MACSRC=").mac(hw.data() + 6).s(" MACDST=").mac(hw.data()).s(" MACPROTO=");
    w.x02(hw[12]).x02(hw[13]).s(" ");
    return true;
}

// dump_mac_header(): decoded, or "MAC=" + the link-layer header.
void dump_mac(Writer &w, std::uint8_t flags, const NflogMessage *msg) {
    if (dump_mac_decoded(w, flags, msg)) return;
    const Bytes hw = msg ? msg->hwheader : Bytes{};
    w.s("MAC=");
    for (std::size_t i = 0; i < hw.size(); ++i) {
        if (i) w.s(":");
        w.x02(hw[i]);
    }
    w.s(" ");
}

// dump_arp_packet().
void dump_arp(Ctx &c, const NflogMessage *msg) {
    Writer &w = c.w;
    const std::uint8_t *ah = c.skb.header(0, 8);
    if (!ah) {
        w.s("TRUNCATED");
        return;
    }
    dump_mac_decoded(w, c.flags, msg);
    // %d of ntohs() values: never negative.
    w.s("ARP HTYPE=").u(be16(ah)).s(" PTYPE=0x").x02(ah[2]).x02(ah[3]);
    w.s(" OPCODE=").u(be16(ah + 6));
    if (be16(ah) != 1 || ah[4] != 6 || ah[5] != 4) return;
    const std::uint8_t *ap = c.skb.header(8, 20);
    if (!ap) {
        w.s(" INCOMPLETE [").u(c.skb.len - 8u).s(" bytes]");
        return;
    }
    w.s(" MACSRC=").mac(ap).s(" IPSRC=").ip4(ap + 6).s(" MACDST=").mac(ap + 10);
    w.s(" IPDST=").ip4(ap + 16);
}

enum class Kind { ipv4, ipv6, arp, other };

Kind kind_of(const Event &ev, Bytes bytes) {
    constexpr std::uint8_t af_inet = 2, nfproto_arp = 3, af_inet6 = 10;
    if (ev.msg) {
        switch (ev.msg->family) {
        case af_inet: return Kind::ipv4;
        case af_inet6: return Kind::ipv6;
        case nfproto_arp: return Kind::arp;
        default: break;
        }
        if (ev.msg->has_packet_hdr && ev.msg->family != 0) { // bridge, netdev: by ethertype
            switch (ev.msg->hw_protocol) {
            case 0x0800: return Kind::ipv4;
            case 0x86dd: return Kind::ipv6;
            case 0x0806:
            case 0x8035: return Kind::arp;
            default: return Kind::other;
            }
        }
    }
    if (ev.packet.l3 == L3::ipv4) return Kind::ipv4;
    if (ev.packet.l3 == L3::ipv6) return Kind::ipv6;
    if (!bytes.empty() && (bytes[0] >> 4) == 4) return Kind::ipv4;
    if (!bytes.empty() && (bytes[0] >> 4) == 6) return Kind::ipv6;
    return Kind::other;
}

} // namespace

void format_klog(const Event &ev, std::string &str, bool with_prefix) {
    const std::size_t start = str.size();
    text::Out out(str);
    const std::string_view prefix = ev.prefix;
    if (with_prefix) out.put(prefix);
    const std::size_t limit =
        kernel_text_max - (with_prefix ? 0 : std::min(prefix.size(), kernel_text_max));

    const Bytes bytes = ev.msg && !ev.msg->payload.empty() ? ev.msg->payload : ev.packet.network;
    const Kind kind = kind_of(ev, bytes);
    const bool bridge = ev.msg && ev.msg->family == 7;
    const bool has_in = ev.msg ? ev.msg->indev != 0 : !ev.in_name.empty();

    Writer w(out);
    // nf_log_dump_packet_common(). For the bridge family NFLOG reports the bridge as the
    // input/output device and the port as the physical one; LOG names the port.
    if (bridge) {
        w.s("IN=").s(ev.msg->physindev ? ev.physin_name : ev.in_name);
        w.s(" OUT=").s(ev.msg->physoutdev ? ev.physout_name : ev.out_name).s(" ");
    } else {
        w.s("IN=").s(ev.in_name).s(" OUT=").s(ev.out_name).s(" ");
        if (ev.msg && ev.msg->physindev && ev.msg->physindev != ev.msg->indev)
            w.s("PHYSIN=").s(ev.physin_name).s(" ");
        if (ev.msg && ev.msg->physoutdev && ev.msg->physoutdev != ev.msg->outdev)
            w.s("PHYSOUT=").s(ev.physout_name).s(" ");
    }

    Ctx c{w, {}, ev.msg && ev.msg->mark ? *ev.msg->mark : 0u, ev.log_flags, {}, {}};
    if (ev.msg) {
        c.uid = ev.msg->uid;
        c.gid = ev.msg->gid;
    }
    c.skb.data = bytes.data();
    c.skb.cap = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), 0xffffffffu));
    c.skb.len = c.skb.cap;
    switch (kind) {
    case Kind::ipv4:
        if (has_in) dump_mac(w, c.flags, ev.msg);
        if (bytes.size() >= 4 && be16(bytes.data() + 2) != 0) c.skb.len = be16(bytes.data() + 2);
        dump_ipv4(c, 0);
        break;
    case Kind::ipv6:
        if (has_in) dump_mac(w, c.flags, ev.msg);
        if (bytes.size() >= 6 && be16(bytes.data() + 4) != 0)
            c.skb.len = std::uint32_t{be16(bytes.data() + 4)} + 40;
        dump_ipv6(c, 0, true);
        break;
    case Kind::arp: dump_arp(c, ev.msg); break;
    case Kind::other: dump_mac(w, c.flags, ev.msg); break;
    }

    out.flush();
    if (str.size() - start > limit) str.resize(start + limit);
    // One event, one line: a control byte in the prefix or an interface name (a newline in
    // an iptables --nflog-prefix, an ESC in a link name) is written as \xNN, the kernel's
    // own escape in /dev/kmsg, so it can neither split the line nor reach a terminal.
    if (std::any_of(str.begin() + static_cast<std::ptrdiff_t>(start), str.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
        std::string esc;
        esc.reserve(str.size() - start + 16);
        for (std::size_t i = start; i < str.size(); ++i) {
            const auto ch = static_cast<unsigned char>(str[i]);
            if (ch < 0x20 || ch == 0x7f) {
                constexpr char hex[] = "0123456789abcdef";
                esc += {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
            } else {
                esc.push_back(static_cast<char>(ch));
            }
        }
        str.replace(start, std::string::npos, esc);
    }
    str.push_back('\n');
}

} // namespace netlog
