// Cloud Foundry iptables-logger compatible JSON (facts/cloudfoundry.md §4): the fields that
// tool parsed out of kern.log, in its key order, so existing parsers see no difference.
#include "text_append.h"

#include <netlog/format.h>

namespace netlog {

namespace {

// The PROTO= word the kernel LOG target prints (what iptables-logger read from kern.log).
void put_proto_word(text::Out &out, const Packet &p) {
    if (p.protocol_unknown) return; // cut by the copy range before the protocol field
    switch (p.protocol) {
    case 6:
        out.put("TCP");
        return;
    case 17:
        out.put("UDP");
        return;
    case 136:
        out.put("UDPLITE");
        return;
    case 50:
        out.put("ESP");
        return;
    case 51:
        out.put("AH");
        return;
    case 1:
        if (p.l3 == L3::ipv4) {
            out.put("ICMP");
            return;
        }
        break;
    case 58:
        if (p.l3 == L3::ipv6) {
            out.put("ICMPv6");
            return;
        }
        break;
    default:
        break;
    }
    out.uint(p.protocol);
}

bool kernel_prints_ports(const Packet &p) {
    return p.has_ports && (p.protocol == 6 || p.protocol == 17 || p.protocol == 136);
}

bool is_icmp(const Packet &p) {
    return p.has_icmp &&
           ((p.l3 == L3::ipv4 && p.protocol == 1) || (p.l3 == L3::ipv6 && p.protocol == 58));
}

void put_member(text::Out &out, std::string_view key_and_colon, std::string_view value) {
    out.put(key_and_colon);
    text::json_string(value, out);
}

// 2024-05-03T23:35:07.123456789Z (UTC; days to civil date after H. Hinnant's algorithm).
void put_rfc3339(text::Out &out, const Timestamp &t) {
    std::int64_t days = t.sec / 86400;
    std::int64_t secs = t.sec % 86400;
    if (secs < 0) {
        secs += 86400;
        days -= 1;
    }
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const auto d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
    const auto m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
    const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);

    if (y >= 0 && y < 10000) {
        out.two(static_cast<unsigned>(y / 100));
        out.two(static_cast<unsigned>(y % 100));
    } else {
        out.sint(y);
    }
    out.put('-');
    out.two(m);
    out.put('-');
    out.two(d);
    out.put('T');
    out.two(static_cast<unsigned>(secs / 3600));
    out.put(':');
    out.two(static_cast<unsigned>(secs / 60 % 60));
    out.put(':');
    out.two(static_cast<unsigned>(secs % 60));
    out.fraction9(t.nsec);
    out.put('Z');
}

} // namespace

void format_iptables_logger(const Event &ev, const IptablesLoggerOptions &opt, std::string &str) {
    text::Out out(str);
    const Packet &p = ev.packet;
    const bool ingress = ev.direction == Direction::ingress;
    const bool rfc3339 = opt.time_style == IptablesLoggerOptions::TimeStyle::rfc3339;

    out.put("{\"timestamp\":\"");
    if (rfc3339) {
        put_rfc3339(out, ev.time);
        out.put("\",\"level\":\"info");
    } else {
        out.epoch(ev.time);
    }
    out.put("\",\"source\":\"cfnetworking.iptables\",\"message\":\"cfnetworking.iptables.");
    out.put(to_string(ev.direction));
    out.put('-');
    out.put(to_string(ev.verdict));
    out.put(rfc3339 ? "\",\"data\":{" : "\",\"log_level\":1,\"data\":{");

    out.put("\"packet\":{\"direction\":\"");
    out.put(to_string(ev.direction));
    out.put(ev.verdict == Verdict::allowed ? "\",\"allowed\":true" : "\",\"allowed\":false");
    out.put(",\"src_ip\":\"");
    out.ip(p.src);
    out.put("\",\"dst_ip\":\"");
    out.ip(p.dst);
    const bool ports = kernel_prints_ports(p);
    out.put("\",\"src_port\":");
    out.uint(ports ? p.src_port : 0);
    out.put(",\"dst_port\":");
    out.uint(ports ? p.dst_port : 0);
    out.put(",\"protocol\":\"");
    put_proto_word(out, p);
    out.put("\",\"mark\":\"");
    if (ev.msg && ev.msg->mark && *ev.msg->mark != 0) {
        out.put("0x");
        out.hex(*ev.msg->mark);
    }
    const bool icmp = is_icmp(p);
    out.put("\",\"icmp_type\":");
    out.uint(icmp ? p.icmp_type : 0);
    out.put(",\"icmp_code\":");
    out.uint(icmp ? p.icmp_code : 0);
    out.put('}');

    static const Container unknown{};
    const Container &c = ev.container ? *ev.container : unknown;
    out.put(ingress ? ",\"destination\":" : ",\"source\":");
    put_member(out, "{\"container_id\":", c.handle);
    put_member(out, ",\"app_guid\":", c.app_guid);
    put_member(out, ",\"space_guid\":", c.space_guid);
    put_member(out, ",\"organization_guid\":", c.organization_guid);
    put_member(out, ",\"host_ip\":", opt.host_ip);
    put_member(out, ",\"host_guid\":", opt.host_guid);
    out.put("}}}\n");
}

} // namespace netlog
