// Shared by the fuzz targets: turn one parsed NFLOG message into every output format and
// check each one (the JSON lines must parse; every line ends with '\n').
#pragma once

#include <algorithm>
#include <cstdlib>
#include <netlog/ecs.h>
#include <netlog/format.h>
#include <netlog/journal.h>
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
    static const Container container{
        "handle-\"quoted\"\\", "app\x01guid", "space\xff", "org", {}, {}, {}, {}, {}, {}, {}};
    ClassDef cls;
    cls.name = std::string(msg.prefix);

    Event ev;
    ev.msg = &msg;
    const LogOptionsView tag = prefix_tag_split(msg.prefix);
    ev.prefix = tag.prefix;
    ev.log_level = tag.level;
    ev.packet = packet_decode(msg.payload, msg.hw_protocol);
    ev.time = msg.timestamp.value_or(Timestamp{1, 2});
    ev.in_name = msg.prefix.substr(0, 4);
    ev.out_name = "eth0";

    for (int variant = 0; variant < 2; ++variant) {
        ev.cls = variant ? &cls : nullptr;
        ev.container = variant ? &container : nullptr;
        ev.direction = variant ? Direction::ingress : Direction::egress;
        ev.verdict = variant ? Verdict::allowed : Verdict::denied;
        ev.log_flags = variant ? log_flags_known : tag.flags; // every LOG flag's text once

        JsonOptions opt;
        if (variant) {
            opt.tcp_flags = opt.length = opt.ttl = opt.interfaces = true;
            opt.class_name = opt.prefix = opt.host = opt.community_id = true;
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
        // the fields it knows without writing the kernel's line are the ones read from it
        static std::string read;
        read.clear();
        ipt.read_kernel_line = true;
        format_iptables_logger(ev, ipt, read);
        require(read == out, "iptables-logger: known fields = fields read from the kernel line",
                out + read);

        out.clear();
        format_klog(ev, out, variant != 0);
        require(!out.empty() && out.back() == '\n', "klog line ends with a newline", out);
        // valid klog: one line (the prefix and interface names come from others: a newline
        // or an escape sequence in them must not split the line or reach a terminal)
        require(
            std::none_of(out.begin(), out.end() - 1,
                         [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }),
            "klog line has no control byte", out);

        // ECS: one valid JSON object whose values are never "" or null (absent instead)
        EcsOptions ecs;
        if (variant) {
            ecs.host_ip = "10.0.0.1";
            ecs.host_guid = msg.prefix;
        }
        out.clear();
        format_ecs(ev, ecs, out);
        require(!out.empty() && out.back() == '\n', "ECS line ends with a newline", out);
        const auto doc = nlohmann::json::parse(out, nullptr, false);
        require(!doc.is_discarded() && doc.is_object(), "format_ecs writes a JSON object", out);
        for (const auto &v : doc.flatten())
            require(!v.is_null() && !(v.is_string() && v.get<std::string>().empty()),
                    "format_ecs writes no empty value", out);

        // journal framing: the entry reads back, MESSAGE holds the whole line
        out.clear();
        JournalOptions jo;
        jo.enabled = true;
        jo.klog = variant != 0;
        const auto at = journal_message_begin(out);
        format_json(ev, opt, out);
        journal_message_end(out, at);
        journal_event_fields(ev, jo, out);
        JournalEntries entries(out);
        std::vector<std::string_view> fields;
        require(entries.next(fields) && !entries.next(fields) && !entries.broken(),
                "one journal entry reads back", out);
    }
}

} // namespace netlog::fuzz
