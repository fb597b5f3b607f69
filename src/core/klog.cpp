// The kernel LOG target's text (net/netfilter/nf_log_syslog.c), rebuilt from the bytes NFLOG
// hands over: the same walk over the same headers, the same words, the same spaces, the same
// early returns, for every LOG flag (--log-tcp-sequence, --log-tcp-options, --log-ip-options,
// --log-uid, --log-macdecode; nft `log flags`).
#include "text_append.h"

#include <algorithm>
#include <netlog/format.h>
#include <netlog/prefix_tag.h>
#include <optional>

namespace netlog {

namespace {

// What the kernel's nf_log_buf holds at most: 1024 - sizeof(unsigned) - 1 bytes including
// the NUL, of which KERN_SOH and the level take 2.
constexpr std::size_t kernel_text_max = 1016;

constexpr std::uint8_t ip_tcp = 6, ip_udp = 17, ip_udplite = 136, ip_icmp = 1, ip_ah = 51,
                       ip_esp = 50, ip_icmpv6 = 58, ip_hopopts = 0, ip_routing = 43,
                       ip_fragment = 44, ip_none = 59, ip_dstopts = 60;

std::uint16_t be16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t be32(const std::uint8_t *p) {
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

// "OPT (" + the bytes as %02X + ") ", the kernel's dump of IP and TCP options.
void dump_opt_bytes(Writer &w, const std::uint8_t *op, std::uint32_t n) {
    w.s("OPT (");
    for (std::uint32_t i = 0; i < n; ++i) w.x02(op[i], true);
    w.s(") ");
}

// nf_log_dump_tcp_header(): true when the caller must stop (header missing).
bool dump_tcp(Ctx &c, bool fragment, std::uint32_t off) {
    c.w.s("PROTO=TCP ");
    if (fragment) return false;
    const std::uint8_t *th = c.skb.header(off, 20);
    if (!th) {
        c.w.s("INCOMPLETE [").u(c.skb.len - off).s(" bytes] ");
        return true;
    }
    c.w.s("SPT=").u(be16(th)).s(" DPT=").u(be16(th + 2)).s(" ");
    if (c.flags & log_flag_tcpseq) c.w.s("SEQ=").u(be32(th + 4)).s(" ACK=").u(be32(th + 8)).s(" ");
    c.w.s("WINDOW=").u(be16(th + 14)).s(" ");
    // Reserved bits 0x0E000000 of the flag word >> 22 (the fourth, AE, is a flag since 6.x).
    c.w.s("RES=0x").x02(static_cast<std::uint8_t>((th[12] & 0x0e) << 2)).s(" ");
    const std::uint8_t f = th[13];
    if (th[12] & 0x01) c.w.s("AE ");
    if (f & 0x80) c.w.s("CWR ");
    if (f & 0x40) c.w.s("ECE ");
    if (f & 0x20) c.w.s("URG ");
    if (f & 0x10) c.w.s("ACK ");
    if (f & 0x08) c.w.s("PSH ");
    if (f & 0x04) c.w.s("RST ");
    if (f & 0x02) c.w.s("SYN ");
    if (f & 0x01) c.w.s("FIN ");
    c.w.s("URGP=").u(be16(th + 18)).s(" ");
    const std::uint32_t doff4 = static_cast<std::uint32_t>(th[12] >> 4) * 4;
    if ((c.flags & log_flag_tcpopt) && doff4 > 20) {
        const std::uint8_t *op = c.skb.header(off + 20, doff4 - 20);
        if (!op) {
            c.w.s("OPT (TRUNCATED)");
            return true;
        }
        dump_opt_bytes(c.w, op, doff4 - 20);
    }
    return false;
}

// nf_log_dump_udp_header()
bool dump_udp(Ctx &c, std::uint8_t proto, bool fragment, std::uint32_t off) {
    c.w.s(proto == ip_udp ? "PROTO=UDP " : "PROTO=UDPLITE ");
    if (fragment) return false;
    const std::uint8_t *uh = c.skb.header(off, 8);
    if (!uh) {
        c.w.s("INCOMPLETE [").u(c.skb.len - off).s(" bytes] ");
        return true;
    }
    c.w.s("SPT=").u(be16(uh)).s(" DPT=").u(be16(uh + 2)).s(" LEN=").u(be16(uh + 4)).s(" ");
    return false;
}

// Bytes an ICMP message of each type needs before its fields are printed (NR_ICMP_TYPES = 18).
std::uint32_t icmp_required_len(std::uint8_t type) {
    switch (type) {
    case 0:
    case 8: return 4; // echo reply / request
    case 3:
    case 4:
    case 5:
    case 11:
    case 12: return 8 + 20; // errors: header + inner IP header
    case 13:
    case 14: return 20; // timestamp
    case 17:
    case 18: return 12; // address mask
    default: return 0;
    }
}

// The packet's own trailer (not inside an ICMP error): "UID= GID= " with --log-uid when the
// packet belongs to a local socket (NFLOG reports the same socket's ids), then MARK=.
void dump_uid_mark(Ctx &c) {
    if ((c.flags & log_flag_uid) && c.uid && c.gid)
        c.w.s("UID=").u(*c.uid).s(" GID=").u(*c.gid).s(" ");
    if (c.mark != 0) c.w.s("MARK=0x").x(c.mark).s(" ");
}

// dump_ipv4_packet(); `iphoff` 0 is the packet itself, non-zero the packet inside an ICMP error.
void dump_ipv4(Ctx &c, std::uint32_t iphoff) {
    Writer &w = c.w;
    const std::uint8_t *ih = c.skb.header(iphoff, 20);
    if (!ih) {
        w.s("TRUNCATED");
        return;
    }
    const std::uint32_t ihl4 = static_cast<std::uint32_t>(ih[0] & 0x0f) * 4;
    const std::uint16_t frag = be16(ih + 6);
    const bool fragment = (frag & 0x1fff) != 0;
    const std::uint8_t protocol = ih[9];
    const std::uint32_t off = iphoff + ihl4;

    w.s("SRC=").ip4(ih + 12).s(" DST=").ip4(ih + 16).s(" ");
    w.s("LEN=").u(be16(ih + 2)).s(" TOS=0x").x02(ih[1] & 0x1e, true).s(" PREC=0x");
    w.x02(ih[1] & 0xe0, true).s(" TTL=").u(ih[8]).s(" ID=").u(be16(ih + 4)).s(" ");
    if (frag & 0x8000) w.s("CE ");
    if (frag & 0x4000) w.s("DF ");
    if (frag & 0x2000) w.s("MF ");
    if (fragment) w.s("FRAG:").u(frag & 0x1fff).s(" ");
    if ((c.flags & log_flag_ipopt) && ihl4 > 20) {
        const std::uint8_t *op = c.skb.header(iphoff + 20, ihl4 - 20);
        if (!op) {
            w.s("TRUNCATED");
            return;
        }
        dump_opt_bytes(w, op, ihl4 - 20);
    }

    switch (protocol) {
    case ip_tcp:
        if (dump_tcp(c, fragment, off)) return;
        break;
    case ip_udp:
    case ip_udplite:
        if (dump_udp(c, protocol, fragment, off)) return;
        break;
    case ip_icmp: {
        w.s("PROTO=ICMP ");
        if (fragment) break;
        const std::uint32_t avail = c.skb.len - iphoff - ihl4;
        const std::uint8_t *ich = c.skb.header(off, 8);
        if (!ich) {
            w.s("INCOMPLETE [").u(avail).s(" bytes] ");
            break;
        }
        const std::uint8_t type = ich[0];
        w.s("TYPE=").u(type).s(" CODE=").u(ich[1]).s(" ");
        if (const auto need = icmp_required_len(type); need != 0 && avail < need) {
            w.s("INCOMPLETE [").u(avail).s(" bytes] ");
            break;
        }
        switch (type) {
        case 0:
        case 8: w.s("ID=").u(be16(ich + 4)).s(" SEQ=").u(be16(ich + 6)).s(" "); break;
        case 12: w.s("PARAMETER=").u(ich[4]).s(" "); break;
        case 5: w.s("GATEWAY=").ip4(ich + 4).s(" "); [[fallthrough]];
        case 3:
        case 4:
        case 11:
            if (iphoff == 0) { // only one level of recursion
                w.s("[");
                dump_ipv4(c, off + 8);
                w.s("] ");
            }
            if (type == 3 && ich[1] == 4) w.s("MTU=").u(be16(ich + 6)).s(" ");
            break;
        default: break;
        }
        break;
    }
    case ip_ah: {
        if (fragment) break;
        w.s("PROTO=AH ");
        const std::uint8_t *ah = c.skb.header(off, 12);
        if (!ah) {
            w.s("INCOMPLETE [").u(c.skb.len - iphoff - ihl4).s(" bytes] ");
            break;
        }
        w.s("SPI=0x").x(be32(ah + 4)).s(" ");
        break;
    }
    case ip_esp: {
        w.s("PROTO=ESP ");
        if (fragment) break;
        const std::uint8_t *eh = c.skb.header(off, 8);
        if (!eh) {
            w.s("INCOMPLETE [").u(c.skb.len - iphoff - ihl4).s(" bytes] ");
            break;
        }
        w.s("SPI=0x").x(be32(eh)).s(" ");
        break;
    }
    default: w.s("PROTO=").u(protocol).s(" ");
    }

    if (iphoff == 0) dump_uid_mark(c);
}

bool ipv6_ext_hdr(std::uint8_t h) { // nf_ip6_ext_hdr()
    return h == ip_hopopts || h == ip_routing || h == ip_fragment || h == ip_esp || h == ip_ah ||
           h == ip_none || h == ip_dstopts;
}

// dump_ipv6_packet()
void dump_ipv6(Ctx &c, std::uint32_t ip6hoff, bool recurse) {
    Writer &w = c.w;
    const std::uint8_t *ih = c.skb.header(ip6hoff, 40);
    if (!ih) {
        w.s("TRUNCATED");
        return;
    }
    const std::uint32_t word0 = be32(ih);
    w.s("SRC=").ip6(ih + 8).s(" DST=").ip6(ih + 24).s(" ");
    w.s("LEN=").u(std::uint64_t{be16(ih + 4)} + 40).s(" TC=").u((word0 & 0x0ff00000) >> 20);
    w.s(" HOPLIMIT=").u(ih[7]).s(" FLOWLBL=").u(word0 & 0x000fffff).s(" ");

    bool fragment = false;
    std::uint32_t ptr = ip6hoff + 40;
    std::uint8_t current = ih[6];
    while (current != ip_none && ipv6_ext_hdr(current)) {
        const std::uint8_t *hp = c.skb.header(ptr, 2);
        if (!hp) {
            w.s("TRUNCATED");
            return;
        }
        const bool opt = c.flags & log_flag_ipopt;
        if (opt) w.s("OPT ( ");
        std::uint32_t hdrlen = 0;
        switch (current) {
        case ip_fragment: {
            w.s("FRAG:");
            const std::uint8_t *fh = c.skb.header(ptr, 8);
            if (!fh) {
                w.s("TRUNCATED ");
                return;
            }
            const std::uint16_t frag_off = be16(fh + 2);
            w.u(frag_off & 0xfff8).s(" ");
            if (frag_off & 0x0001) w.s("INCOMPLETE ");
            w.s("ID:").x08(be32(fh + 4)).s(" ");
            if (frag_off & 0xfff8) fragment = true;
            hdrlen = 8;
            break;
        }
        case ip_dstopts:
        case ip_routing:
        case ip_hopopts:
            if (fragment) {
                if (opt) w.s(")");
                return;
            }
            hdrlen = (std::uint32_t{hp[1]} + 1) << 3;
            break;
        case ip_ah:
            if (opt) {
                w.s("AH ");
                if (fragment) {
                    w.s(")");
                    return;
                }
                const std::uint8_t *ah = c.skb.header(ptr, 12);
                if (!ah) {
                    w.s("INCOMPLETE [").u(c.skb.len - ptr).s(" bytes] )");
                    return;
                }
                w.s("SPI=0x").x(be32(ah + 4)).s(" ");
            }
            hdrlen = (std::uint32_t{hp[1]} + 2) << 2;
            break;
        default: // ESP: nothing past it can be read
            if (opt) {
                w.s("ESP ");
                if (fragment) {
                    w.s(")");
                    return;
                }
                const std::uint8_t *eh = c.skb.header(ptr, 8);
                if (!eh) {
                    w.s("INCOMPLETE [").u(c.skb.len - ptr).s(" bytes] )");
                    return;
                }
                w.s("SPI=0x").x(be32(eh)).s(" )");
            }
            return;
        }
        if (opt) w.s(") ");
        current = hp[0];
        ptr += hdrlen;
    }

    switch (current) {
    case ip_tcp:
        if (dump_tcp(c, fragment, ptr)) return;
        break;
    case ip_udp:
    case ip_udplite:
        if (dump_udp(c, current, fragment, ptr)) return;
        break;
    case ip_icmpv6: {
        w.s("PROTO=ICMPv6 ");
        if (fragment) break;
        const std::uint8_t *ic = c.skb.header(ptr, 8);
        if (!ic) {
            w.s("INCOMPLETE [").u(c.skb.len - ptr).s(" bytes] ");
            return;
        }
        const std::uint8_t type = ic[0];
        w.s("TYPE=").u(type).s(" CODE=").u(ic[1]).s(" ");
        switch (type) {
        case 128:
        case 129: w.s("ID=").u(be16(ic + 4)).s(" SEQ=").u(be16(ic + 6)).s(" "); break;
        case 4: w.s("POINTER=").x08(be32(ic + 4)).s(" "); [[fallthrough]];
        case 1:
        case 2:
        case 3:
            if (recurse) {
                w.s("[");
                dump_ipv6(c, ptr + 8, false);
                w.s("] ");
            }
            if (type == 2) w.s("MTU=").u(be32(ic + 4)).s(" ");
            break;
        default: // includes MLD 130-132: nothing more
            break;
        }
        break;
    }
    default: w.s("PROTO=").u(current).s(" ");
    }

    if (recurse) dump_uid_mark(c);
}

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
