// An ECS document's iptables.* fields: the packet's details under the names Filebeat's
// iptables module gives them (lengths, TOS, fragment flags, TCP, UDP, ICMP).
#include "ecs_doc.h"

#include <array>

namespace netlog::ecs_doc {

namespace {

bool is_icmp(const Packet &p) {
    return (p.l3 == L3::ipv4 && p.protocol == 1) || (p.l3 == L3::ipv6 && p.protocol == 58);
}

void put_tcp_flags(text::Out &o, std::uint8_t f) {
    // The kernel LOG target's order (and Filebeat's array from it).
    static constexpr std::array<std::pair<std::uint8_t, std::string_view>, 8> names = {{
        {tcp_flag::cwr, "CWR"},
        {tcp_flag::ece, "ECE"},
        {tcp_flag::urg, "URG"},
        {tcp_flag::ack, "ACK"},
        {tcp_flag::psh, "PSH"},
        {tcp_flag::rst, "RST"},
        {tcp_flag::syn, "SYN"},
        {tcp_flag::fin, "FIN"},
    }};
    o.put('[');
    bool first = true;
    for (const auto &[bit, name] : names) {
        if (!(f & bit)) continue;
        if (!first) o.put(',');
        first = false;
        o.put('"');
        o.put(name);
        o.put('"');
    }
    o.put(']');
}

} // namespace

void put_iptables(Doc &d, const Event &ev, Bytes eth) {
    const Packet &p = ev.packet;
    d.open("iptables");
    if (!eth.empty()) d.num("ether_type", std::uint32_t{eth[12]} << 8 | eth[13]);
    d.str("input_device", ev.in_name);
    d.str("output_device", ev.out_name);
    d.num("length", p.length);
    if (p.l3 == L3::ipv4) {
        d.num("tos", p.tos & 0x1e); // as the kernel prints TOS= and PREC=
        d.num("precedence_bits", p.tos & 0xe0);
    } else {
        d.num("tos", p.tos); // IPv6 TC=
    }
    d.num("ttl", p.ttl);
    if (p.l3 == L3::ipv4) {
        d.num("id", p.ip_id);
        if (p.ip_ce || p.ip_df || p.ip_mf) {
            d.key("fragment_flags");
            auto &o = d.out();
            o.put('[');
            bool first = true;
            for (const auto &[on, name] :
                 {std::pair{p.ip_ce, "\"CE\""}, {p.ip_df, "\"DF\""}, {p.ip_mf, "\"MF\""}}) {
                if (!on) continue;
                if (!first) o.put(',');
                first = false;
                o.put(std::string_view(name));
            }
            o.put(']');
        }
    }
    if (p.frag_offset) d.num("fragment_offset", p.frag_offset);
    if (p.l3 == L3::ipv6) d.num("flow_label", p.flow_label);
    if (p.protocol == 6 && p.has_transport) {
        d.open("tcp");
        d.num("seq", p.tcp_seq);
        d.num("ack", p.tcp_ack);
        d.num("window", p.tcp_window);
        d.num("reserved_bits", p.tcp_reserved);
        // a segment with no flag set (a scan, or a fuzzed header) has no flags field: an
        // empty array is what ECS calls an empty value, absent instead
        if (p.tcp_flags) {
            d.key("flags");
            put_tcp_flags(d.out(), p.tcp_flags);
        }
        d.close();
    } else if (p.protocol == 17 && p.has_transport) {
        d.open("udp");
        d.num("length", p.udp_length);
        d.close();
    } else if (is_icmp(p) && p.has_icmp) {
        d.open("icmp");
        d.num("type", p.icmp_type);
        d.num("code", p.icmp_code);
        const bool echo = p.l3 == L3::ipv4 ? (p.icmp_type == 0 || p.icmp_type == 8)
                                           : (p.icmp_type == 128 || p.icmp_type == 129);
        if (echo && p.has_transport) {
            d.num("id", p.icmp_id);
            d.num("seq", p.icmp_seq);
        }
        if (p.l3 == L3::ipv4 && p.transport.size() >= 8) {
            if (p.icmp_type == 12) d.num("parameter", p.transport[4]); // parameter problem
            if (p.icmp_type == 5) {                                    // redirect: the gateway
                IpAddress gw;
                gw.family = L3::ipv4;
                for (int i = 0; i < 4; ++i)
                    gw.bytes[static_cast<std::size_t>(i)] =
                        p.transport[4 + static_cast<std::size_t>(i)];
                d.ip("redirect", gw);
            }
        }
        d.close();
    }
    d.close();
}

} // namespace netlog::ecs_doc
