// Shared by the fuzz targets: turn one parsed NFLOG message into every output format and
// check each one (the JSON lines must parse; every line ends with '\n').
#pragma once

#include <algorithm>
#include <cstdlib>
#include <netlog/format.h>
#include <netlog/nflog.h>
#include <netlog/packet.h>
#include <nlohmann/json.hpp>
#include <string>

namespace netlog::fuzz {

inline void require(bool ok, const char *what, const std::string &line) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n%s\n", what, line.c_str());
        std::abort();
    }
}

inline void check_outputs(const NflogMessage &msg) {
    static std::string out;
    static const Container container{"handle-\"quoted\"\\", "app\x01guid", "space\xff", "org", {}, {}, {}, {}, {}, {}};
    ClassDef cls;
    cls.name = std::string(msg.prefix);

    Event ev;
    ev.msg = &msg;
    ev.packet = packet_decode(msg.payload, msg.hw_protocol);
    ev.time = msg.timestamp.value_or(Timestamp{1, 2});
    ev.in_name = msg.prefix.substr(0, 4);
    ev.out_name = "eth0";

    for (int variant = 0; variant < 2; ++variant) {
        ev.cls = variant ? &cls : nullptr;
        ev.container = variant ? &container : nullptr;
        ev.direction = variant ? Direction::ingress : Direction::egress;
        ev.verdict = variant ? Verdict::allowed : Verdict::denied;

        JsonOptions opt;
        if (variant) {
            opt.tcp_flags = opt.length = opt.ttl = opt.interfaces = true;
            opt.class_name = opt.prefix = opt.host = true;
            opt.host_ip = "10.0.0.1";
            opt.host_guid = msg.prefix;
        }
        out.clear();
        format_json(ev, opt, out);
        require(!out.empty() && out.back() == '\n', "JSON line ends with a newline", out);
        require(nlohmann::json::accept(std::string_view(out).substr(0, out.size() - 1)),
                "format_json writes valid JSON", out);

        IptablesLoggerOptions ipt;
        ipt.time_style = variant ? IptablesLoggerOptions::TimeStyle::epoch
                                 : IptablesLoggerOptions::TimeStyle::rfc3339;
        out.clear();
        format_iptables_logger(ev, ipt, out);
        require(!out.empty() && out.back() == '\n', "iptables-logger line ends with a newline",
                out);
        require(nlohmann::json::accept(std::string_view(out).substr(0, out.size() - 1)),
                "format_iptables_logger writes valid JSON", out);

        out.clear();
        format_klog(ev, out, variant != 0);
        require(!out.empty() && out.back() == '\n', "klog line ends with a newline", out);
        // valid klog: one line (the prefix and interface names come from others: a newline
        // or an escape sequence in them must not split the line or reach a terminal)
        require(std::none_of(out.begin(), out.end() - 1,
                             [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }),
                "klog line has no control byte", out);
    }
}

} // namespace netlog::fuzz
