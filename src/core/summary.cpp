// Suppression summary lines in the json, iptables-logger and klog formats.
#include <netlog/summary.h>

#include "text_append.h"

namespace netlog {

namespace {

void append_str(std::string &out, std::string_view key, std::string_view v) {
    out += '"';
    out += key;
    out += "\":\"";
    json_escape(v, out);
    out += '"';
}

void append_container(std::string &out, const Container *c, bool host, std::string_view host_ip,
                      std::string_view host_guid) {
    const std::string_view none;
    out += '{';
    append_str(out, "container_id", c ? std::string_view(c->handle) : none);
    out += ',';
    append_str(out, "app_guid", c ? std::string_view(c->app_guid) : none);
    out += ',';
    append_str(out, "space_guid", c ? std::string_view(c->space_guid) : none);
    out += ',';
    append_str(out, "organization_guid", c ? std::string_view(c->organization_guid) : none);
    if (host) {
        out += ',';
        append_str(out, "host_ip", host_ip);
        out += ',';
        append_str(out, "host_guid", host_guid);
    }
    out += '}';
}

void append_message(std::string &out, const SuppressionEvent &s) {
    out += to_string(s.direction);
    out += '-';
    out += to_string(s.verdict);
    out += "-suppressed";
}

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t &y, unsigned &m, unsigned &d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

void append2(std::string &out, unsigned v) {
    out += static_cast<char>('0' + v / 10 % 10);
    out += static_cast<char>('0' + v % 10);
}

} // namespace

void append_rfc3339(std::string &out, const Timestamp &t) {
    std::int64_t days = t.sec / 86400, secs = t.sec % 86400;
    if (secs < 0) {
        secs += 86400;
        --days;
    }
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    text::append_int(out, y);
    out += '-';
    append2(out, m);
    out += '-';
    append2(out, d);
    out += 'T';
    append2(out, static_cast<unsigned>(secs / 3600));
    out += ':';
    append2(out, static_cast<unsigned>(secs / 60 % 60));
    out += ':';
    append2(out, static_cast<unsigned>(secs % 60));
    out += '.';
    char buf[9];
    std::uint32_t ns = t.nsec % 1000000000u;
    for (int i = 8; i >= 0; --i) {
        buf[i] = static_cast<char>('0' + ns % 10);
        ns /= 10;
    }
    out.append(buf, 9);
    out += 'Z';
}

void format_suppression_json(const SuppressionEvent &s, const JsonOptions &opt, std::string &out) {
    out += "{\"timestamp\":\"";
    text::append_epoch(out, s.last);
    out += "\",";
    append_str(out, "source", opt.source);
    out += ",\"message\":\"";
    append_message(out, s);
    out += "\",\"log_level\":1,\"data\":{\"";
    out += s.direction == Direction::ingress ? "destination" : "source";
    out += "\":";
    append_container(out, s.container, false, {}, {});
    out += ",\"count\":";
    text::append_uint(out, s.count);
    out += ",\"first\":\"";
    text::append_epoch(out, s.first);
    out += "\",\"last\":\"";
    text::append_epoch(out, s.last);
    out += "\",";
    append_str(out, "class", s.cls ? std::string_view(s.cls->name) : std::string_view());
    out += ",\"ip\":\"";
    text::append_ip(out, s.ip);
    out += "\"}}\n";
}

void format_suppression_iptables_logger(const SuppressionEvent &s, const IptablesLoggerOptions &opt,
                                        std::string &out) {
    out += "{\"timestamp\":\"";
    if (opt.time_style == IptablesLoggerOptions::TimeStyle::rfc3339) {
        append_rfc3339(out, s.last);
        out += "\",\"level\":\"info\",";
    } else {
        text::append_epoch(out, s.last);
        out += "\",";
    }
    out += "\"source\":\"cfnetworking.iptables\",\"message\":\"cfnetworking.iptables.";
    append_message(out, s);
    out += '"';
    if (opt.time_style == IptablesLoggerOptions::TimeStyle::epoch) out += ",\"log_level\":1";
    // data, as iptables-logger's Go map, has its keys sorted: the container first.
    out += ",\"data\":{\"";
    out += s.direction == Direction::ingress ? "destination" : "source";
    out += "\":";
    {
        text::Out o(out);
        if (s.container && !s.container->iptables_logger_json.empty())
            o.put(s.container->iptables_logger_json);
        else if (s.container)
            o.put(iptables_logger_container_json(*s.container));
        else
            o.put(R"({"container_id":"","app_guid":"","space_guid":"","organization_guid":"")");
        o.put(",\"host_ip\":\"");
        text::json_escape_go(opt.host_ip, o);
        o.put("\",\"host_guid\":\"");
        text::json_escape_go(opt.host_guid, o);
        o.put("\"}");
    }
    out += ",\"suppressed\":{\"direction\":\"";
    out += to_string(s.direction);
    out += "\",\"allowed\":";
    out += s.verdict == Verdict::allowed ? "true" : "false";
    out += ",\"count\":";
    text::append_uint(out, s.count);
    out += ",\"first\":\"";
    text::append_epoch(out, s.first);
    out += "\",\"last\":\"";
    text::append_epoch(out, s.last);
    out += "\",\"ip\":\"";
    text::append_ip(out, s.ip);
    out += "\"}}}\n";
}

void format_suppression_klog(const SuppressionEvent &s, std::string &out) {
    out += "netlog: suppressed ";
    text::append_uint(out, s.count);
    out += ' ';
    if (s.cls)
        out += s.cls->name;
    else {
        out += to_string(s.direction);
        out += '-';
        out += to_string(s.verdict);
    }
    out += " events for ";
    text::append_ip(out, s.ip);
    if (s.container) {
        out += " (container ";
        for (char c : s.container->handle) // klog lines are text: keep them printable
            out += (c >= 0x20 && c < 0x7f) ? c : '?';
        out += ')';
    }
    out += " from ";
    text::append_epoch(out, s.first);
    out += " to ";
    text::append_epoch(out, s.last);
    out += '\n';
}

} // namespace netlog
