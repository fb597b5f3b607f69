// The ECS document of an event or a summary (ecs.h), in field order: event, rule, endpoints,
// network and observer here; metadata and iptables.* from their own files. Keys are fixed ASCII;
// every value from outside (prefix, class, container metadata, names) goes through json_escape.
#include "community_id.h"
#include "ecs_doc.h"
#include <netlog/ecs.h>
#include <netlog/prefix_tag.h>

#include "text_append.h"

namespace netlog {

namespace {

using ecs_doc::Doc;
using ecs_doc::put_container;
using ecs_doc::put_host;
using ecs_doc::put_iptables;

constexpr std::uint16_t arphrd_ether = 1;

// ECS network.transport: the IANA keyword, lowercase; ICMPv6's is "ipv6-icmp".
std::string_view transport_name(const Packet &p) {
    if (p.protocol == 58) return "ipv6-icmp";
    return protocol_name(p.protocol);
}

// The Ethernet header NFLOG gives for packets that came in on an Ethernet device.
Bytes ether_header(const Event &ev) {
    if (!ev.msg || ev.msg->hwheader.size() != 14) return {};
    if (!ev.msg->hwtype || *ev.msg->hwtype != arphrd_ether) return {};
    return ev.msg->hwheader;
}

// RFC 7042 notation, as ECS suggests: 00-00-5E-00-53-23.
void put_mac(Doc &d, std::string_view k, const std::uint8_t *m) {
    d.key(k);
    auto &o = d.out();
    o.put('"');
    for (int i = 0; i < 6; ++i) {
        if (i) o.put('-');
        o.hex2(m[i], true);
    }
    o.put('"');
}

// Absent when the capture ended before the address (an IPv6 header cut short).
void put_endpoint(Doc &d, std::string_view k, const IpAddress &a, bool port, std::uint16_t p,
                  const std::uint8_t *mac) {
    if (a.family == L3::none) return;
    d.open(k);
    d.ip("ip", a);
    if (port) d.num("port", p);
    if (mac) put_mac(d, "mac", mac);
    d.close();
}

void put_endpoint_text(text::Out &o, const Packet &p, const IpAddress &a, std::uint16_t port) {
    const bool v6 = a.family == L3::ipv6;
    if (a.family == L3::none) {
        o.put('?');
        return;
    }
    if (p.has_ports && v6) o.put('[');
    o.ip(a);
    if (p.has_ports) {
        if (v6) o.put(']');
        o.put(':');
        o.uint(port);
    }
}

void put_message(Doc &d, const Event &ev) {
    const Packet &p = ev.packet;
    d.key("message");
    auto &o = d.out();
    o.put('"');
    o.put(to_string(ev.direction));
    o.put('-');
    o.put(to_string(ev.verdict));
    o.put(' ');
    if (p.protocol_unknown)
        o.put('?');
    else if (const auto n = protocol_name(p.protocol); !n.empty())
        o.put(n);
    else
        o.uint(p.protocol);
    o.put(' ');
    put_endpoint_text(o, p, p.src, p.src_port);
    o.put(" -> ");
    put_endpoint_text(o, p, p.dst, p.dst_port);
    o.put('"');
}

// rule.name (the class), rule.id (its field rule_id, if it has one) and the class's other
// fields in `labels` (constants, then named groups; field names carry no '.', as ECS asks).
void put_rule(Doc &d, const ClassDef &c, const Captures &caps) {
    std::string_view id;
    bool labels = false;
    const auto each = [&](auto &&fn) {
        for (const auto &f : c.fields) fn(std::string_view(f.name), std::string_view(f.value));
        for (std::size_t k = 0; k < caps.n; ++k)
            if (c.is_rule_field(k)) fn(std::string_view(c.group_names[k]), caps.value[k]);
    };
    each([&](std::string_view name, std::string_view value) {
        if (name == "rule_id")
            id = value;
        else
            labels = labels || !value.empty();
    });
    d.open("rule");
    d.str("name", c.name);
    d.str("id", id);
    d.close();
    if (!labels) return;
    d.open("labels");
    each([&](std::string_view name, std::string_view value) {
        if (name != "rule_id") d.str(name, value);
    });
    d.close();
}

void put_event(Doc &d, Direction dir, Verdict v, bool suppressed) {
    d.open("event");
    d.raw("kind", "\"event\"");
    d.raw("category", "[\"network\"]");
    d.raw("type",
          v == Verdict::allowed ? "[\"connection\",\"allowed\"]" : "[\"connection\",\"denied\"]");
    d.key("action");
    auto &o = d.out();
    o.put('"');
    o.put(to_string(dir));
    o.put('-');
    o.put(to_string(v));
    if (suppressed) o.put("-suppressed");
    o.put('"');
    d.raw("outcome", v == Verdict::allowed ? "\"success\"" : "\"failure\"");
}

void put_netlog(Doc &d, const Event &ev) {
    const auto prefix = event_log_prefix(ev);
    const bool mark = ev.msg && ev.msg->mark && *ev.msg->mark != 0;
    if (prefix.empty() && !mark) return;
    d.open("netlog");
    d.str("prefix", prefix);
    if (mark) {
        d.key("mark");
        d.out().put("\"0x");
        d.out().hex(*ev.msg->mark);
        d.out().put('"');
    }
    d.close();
}

void put_timestamp(Doc &d, std::string_view k, const Timestamp &t) {
    d.key(k);
    d.out().put('"');
    text::put_rfc3339(d.out(), t);
    d.out().put('"');
}

constexpr std::string_view level_names[] = {"emerg",   "alert",  "crit", "err",
                                            "warning", "notice", "info", "debug"};

} // namespace

// The one place the outputs read an event's LOG level and LOG prefix (ECS log.level and
// netlog.prefix, journal PRIORITY and NETLOG_PREFIX): from the options tag of the NFLOG
// prefix. Should Event carry the level and the stripped prefix itself, read them here.
std::optional<std::uint8_t> event_log_level(const Event &ev) {
    // The pipeline split an options tag off the NFLOG prefix: the event's level is its LOG
    // rule's. Without one (an NFLOG rule of the operator's own) there is no LOG level.
    if (!ev.msg || ev.msg->prefix.size() == ev.prefix.size()) return std::nullopt;
    return ev.log_level;
}

std::string_view event_log_prefix(const Event &ev) {
    return ev.prefix;
}

void format_ecs(const Event &ev, const EcsOptions &opt, std::string &str) {
    const Packet &p = ev.packet;
    text::Out out(str);
    out.put('{');
    Doc d(out);
    put_timestamp(d, "@timestamp", ev.time);
    if (const auto level = event_log_level(ev); level && *level < 8) {
        d.open("log");
        d.str("level", level_names[*level]);
        d.close();
    }
    put_message(d, ev);
    d.open("ecs");
    d.str("version", ecs_version);
    d.close();
    put_event(d, ev.direction, ev.verdict, false);
    d.close();
    if (ev.cls && !ev.cls->name.empty()) put_rule(d, *ev.cls, ev.captures);

    const Bytes eth = ether_header(ev);
    const bool ports = p.has_ports;
    put_endpoint(d, "source", p.src, ports, p.src_port, eth.empty() ? nullptr : eth.data() + 6);
    put_endpoint(d, "destination", p.dst, ports, p.dst_port, eth.empty() ? nullptr : eth.data());

    d.open("network");
    const bool proto = !p.protocol_unknown && p.l3 != L3::none;
    if (proto) d.str("transport", transport_name(p));
    if (p.l3 != L3::none) d.raw("type", p.l3 == L3::ipv4 ? "\"ipv4\"" : "\"ipv6\"");
    d.raw("direction", ev.direction == Direction::ingress ? "\"ingress\"" : "\"egress\"");
    if (proto) {
        d.key("iana_number");
        out.put('"');
        out.uint(p.protocol);
        out.put('"');
    }
    char cid[community_id_size];
    if (community_id(p, cid) == community_id_size)
        d.str("community_id", std::string_view(cid, community_id_size));
    d.close();

    if (!ev.in_name.empty() || !ev.out_name.empty()) {
        d.open("observer");
        for (const auto &[k, name] :
             {std::pair<std::string_view, std::string_view>{"ingress", ev.in_name},
              {"egress", ev.out_name}}) {
            if (name.empty()) continue;
            d.open(k);
            d.open("interface");
            d.str("name", name);
            d.close();
            d.close();
        }
        d.close();
    }

    if (p.src.family != L3::none || p.dst.family != L3::none) {
        d.open("related");
        d.key("ip");
        out.put('[');
        bool first = true;
        for (const IpAddress *a : {&p.src, &p.dst}) {
            if (a->family == L3::none || (a == &p.dst && p.src == p.dst)) continue;
            if (!first) out.put(',');
            first = false;
            out.put('"');
            out.ip(*a);
            out.put('"');
        }
        out.put(']');
        d.close();
    }

    put_container(d, ev.container);
    put_host(d, opt);
    put_iptables(d, ev, eth);
    put_netlog(d, ev);
    out.put("}\n");
}

void format_suppression_ecs(const SuppressionEvent &s, const EcsOptions &opt, std::string &str) {
    text::Out out(str);
    out.put('{');
    Doc d(out);
    put_timestamp(d, "@timestamp", s.last);
    d.key("message");
    out.put('"');
    out.put(to_string(s.direction));
    out.put('-');
    out.put(to_string(s.verdict));
    out.put("-suppressed ");
    out.uint(s.count);
    out.put(" events for ");
    out.ip(s.ip);
    out.put('"');
    d.open("ecs");
    d.str("version", ecs_version);
    d.close();
    put_event(d, s.direction, s.verdict, true);
    put_timestamp(d, "start", s.first);
    put_timestamp(d, "end", s.last);
    d.close();
    if (s.cls && !s.cls->name.empty()) {
        d.open("rule");
        d.str("name", s.cls->name);
        d.close();
    }
    if (s.ip.family != L3::none) {
        d.open(s.direction == Direction::ingress ? "destination" : "source");
        d.ip("ip", s.ip);
        d.close();
        d.open("network");
        d.raw("type", s.ip.family == L3::ipv4 ? "\"ipv4\"" : "\"ipv6\"");
        d.raw("direction", s.direction == Direction::ingress ? "\"ingress\"" : "\"egress\"");
        d.close();
    }
    put_container(d, s.container);
    put_host(d, opt);
    d.open("netlog");
    d.num("suppressed", s.count);
    d.close();
    out.put("}\n");
}

} // namespace netlog
