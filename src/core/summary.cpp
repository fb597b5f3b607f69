// Suppression summary lines in the json, iptables-logger and klog formats.
#include <netlog/summary.h>

#include "iptables_logger_text.h"
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

void append_message(std::string &out, const SuppressionEvent &s) {
    out += to_string(s.direction);
    out += '-';
    out += to_string(s.verdict);
    out += "-suppressed";
}

} // namespace

void append_rfc3339(std::string &out, const Timestamp &t) {
    text::Out o(out);
    text::put_rfc3339(o, t);
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
    static const std::string unknown = container_json(Container{});
    out += s.container ? container_json(*s.container) : unknown;
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
        put_iptables_logger_container(o, s.container, opt);
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
