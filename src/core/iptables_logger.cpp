// Cloud Foundry iptables-logger compatible JSON (facts/cloudfoundry.md §4). The real program
// reads kern.log: it keeps the FIRST value of every KEY=value word of the kernel's line
// (kernel_line_fields.h) and writes them through Go's encoding/json, with a Go map for
// `data` (keys sorted) and structs inside (fields in declaration order).
#include "iptables_logger_text.h"
#include "kernel_line_fields.h"
#include "text_append.h"

#include <netlog/format.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace netlog {

namespace {

void put_go_string(text::Out &out, std::string_view key_and_colon, std::string_view value) {
    out.put(key_and_colon);
    out.put('"');
    text::json_escape_go(value, out);
    out.put('"');
}

// parser.ParsedData (a struct: fields in declaration order). `plain`: the strings are
// the kernel's own words (addresses, PROTO=, MARK=), nothing in them to escape.
void put_packet(text::Out &out, const Event &ev, const KernelLineFields &f, bool plain) {
    const auto str = [&](std::string_view key, std::string_view v) {
        if (!plain) return put_go_string(out, key, v);
        out.put(key);
        out.put('"');
        out.put(v);
        out.put('"');
    };
    out.put("\"packet\":{\"direction\":\"");
    out.put(to_string(ev.direction));
    out.put(ev.verdict == Verdict::allowed ? "\",\"allowed\":true" : "\",\"allowed\":false");
    str(",\"src_ip\":", f.src);
    str(",\"dst_ip\":", f.dst);
    out.put(",\"src_port\":");
    out.sint(f.spt);
    out.put(",\"dst_port\":");
    out.sint(f.dpt);
    str(",\"protocol\":", f.proto);
    str(",\"mark\":", f.mark);
    out.put(",\"icmp_type\":");
    out.sint(f.type);
    out.put(",\"icmp_code\":");
    out.sint(f.code);
    out.put('}');
}

void put_container_fields(text::Out &out, const Container &c) {
    put_go_string(out, "{\"container_id\":", c.handle);
    put_go_string(out, ",\"app_guid\":", c.app_guid);
    put_go_string(out, ",\"space_guid\":", c.space_guid);
    put_go_string(out, ",\"organization_guid\":", c.organization_guid);
}

} // namespace

// 2024-05-03T23:35:07.123456789Z (UTC; days to civil date after H. Hinnant's algorithm).
void text::put_rfc3339(text::Out &out, const Timestamp &t) {
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

// repository.Container with the host fields (a struct).
void put_iptables_logger_container(text::Out &out, const Container *c,
                                   const IptablesLoggerOptions &opt) {
    if (c && !c->iptables_logger_json.empty())
        out.put(c->iptables_logger_json);
    else if (c)
        put_container_fields(out, *c);
    else
        out.put(R"({"container_id":"","app_guid":"","space_guid":"","organization_guid":"")");
    put_go_string(out, ",\"host_ip\":", opt.host_ip);
    put_go_string(out, ",\"host_guid\":", opt.host_guid);
    out.put('}');
}

std::string iptables_logger_container_json(const Container &c) {
    std::string s;
    text::Out out(s);
    put_container_fields(out, c);
    return out.str();
}

void format_iptables_logger(const Event &ev, const IptablesLoggerOptions &opt, std::string &str) {
    const std::size_t start = str.size();
    KernelLineFields f;
    KernelLineBuffer known;
    // The kernel's line is written only when its fields are not known without it; then it
    // goes where the JSON will, is read, and is written over: no memory but the buffer's.
    std::array<char, 4 * 1024> copy; // the line's values, while the JSON may move the buffer
    std::size_t line_end = start;
    const bool read = opt.read_kernel_line || !kernel_line_fields_known(ev, f, known);
    if (read) {
        format_klog(ev, str);
        line_end = str.size();
        f = kernel_line_fields_read(std::string_view(str).substr(start, line_end - start));
        // the kernel's text is at most 1016 bytes, each at most 4 once escaped (\xNN)
        std::size_t used = 0;
        for (std::string_view *v : {&f.src, &f.dst, &f.proto, &f.mark}) {
            const std::size_t n = std::min(v->size(), copy.size() - used);
            if (n) std::memcpy(copy.data() + used, v->data(), n);
            *v = std::string_view(copy.data() + used, n);
            used += n;
        }
    }
    {
        text::Out out(str);
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
        // data is a Go map: its keys come out sorted (destination < packet < source).
        if (ev.direction == Direction::ingress) {
            out.put("\"destination\":");
            put_iptables_logger_container(out, ev.container, opt);
            out.put(',');
            put_packet(out, ev, f, !read);
        } else {
            put_packet(out, ev, f, !read);
            out.put(",\"source\":");
            put_iptables_logger_container(out, ev.container, opt);
        }
        out.put("}}\n");
    }
    if (line_end != start) str.erase(start, line_end - start);
}

} // namespace netlog
