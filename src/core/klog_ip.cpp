// The LOG target's dump of an IPv4 or IPv6 packet (net/netfilter/nf_log_syslog.c's
// dump_ipv4_packet, dump_ipv6_packet): the IP header and its options or extension headers,
// then TCP, UDP, ICMP (with the packet inside an error), AH, ESP, and the UID/MARK trailer.
#include "klog_text.h"

namespace netlog::klog_text {

namespace {

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

} // namespace

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

namespace {

bool ipv6_ext_hdr(std::uint8_t h) { // nf_ip6_ext_hdr()
    return h == ip_hopopts || h == ip_routing || h == ip_fragment || h == ip_esp || h == ip_ah ||
           h == ip_none || h == ip_dstopts;
}

} // namespace

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

} // namespace netlog::klog_text
