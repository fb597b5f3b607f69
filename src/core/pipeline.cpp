// NflogMessage -> Event -> formatted lines. No syscalls, no allocation per event once the
// output buffers and the classifier cache have grown.
#include "engine_index.h"
#include <netlog/pipeline.h>
#include <netlog/packet.h>

#include <algorithm>

namespace netlog {

OutputSpec output_spec(const Config &c, const OutputConfig &out) {
    OutputSpec s;
    s.format = out.format;
    s.json.source = c.source;
    s.json.tcp_flags = out.extras.tcp_flags;
    s.json.length = out.extras.length;
    s.json.ttl = out.extras.ttl;
    s.json.interfaces = out.extras.interfaces;
    s.json.class_name = out.extras.class_name;
    s.json.prefix = out.extras.prefix;
    s.json.host = out.extras.host;
    s.json.community_id = out.extras.community_id;
    s.json.host_ip = c.host_ip;
    s.json.host_guid = c.host_guid;
    if (c.metadata_source == MetadataSource::docker || c.metadata_source == MetadataSource::podman)
        s.json.unknown_container = engine_unknown_container_json;
    s.iptables_logger.time_style = out.timestamp;
    s.iptables_logger.host_ip = c.host_ip;
    s.iptables_logger.host_guid = c.host_guid;
    s.ecs.host_ip = c.host_ip;
    s.ecs.host_guid = c.host_guid;
    if (out.type == OutputType::journal) {
        s.journal.enabled = true;
        if (!out.journal.identifier.empty()) s.journal.identifier = out.journal.identifier;
        s.journal.priority = out.journal.priority;
        s.journal.klog = out.format == OutputFormat::klog;
        s.journal.host_ip = c.host_ip;
        s.journal.host_guid = c.host_guid;
    }
    return s;
}

Pipeline::Pipeline(const RulesFile &rules, PipelineOptions options)
    : classifier_(rules), opt_(std::move(options)) {
    // An unclassified event carries its prefix, so the reader can tell what it was.
    fallback_json_.reserve(opt_.outputs.size());
    for (const auto &o : opt_.outputs) {
        auto j = o.json;
        j.prefix = true;
        fallback_json_.push_back(j);
    }
}

bool Pipeline::build(const NflogMessage &msg, Timestamp receive_time, Event &ev) {
    ++c_.processed;
    ev.msg = &msg;
    ev.packet = packet_decode(msg.payload, msg.hw_protocol);
    // Not IP, no bytes, or an IP header that is garbage: a decode error. A header the
    // copy range cut is not: it is reported as far as the bytes go.
    if (ev.packet.l3 == L3::none || ev.packet.malformed) {
        ++c_.decode_errors;
        return false;
    }
    ev.time = msg.timestamp ? *msg.timestamp : receive_time;

    // A companion's prefix carries its LOG rule's level and flags (prefix_tag.h): split
    // off here, so that classes, enrichment and every output see the LOG rule's prefix.
    const LogOptionsView tag = prefix_tag_split(msg.prefix);
    ev.prefix = tag.prefix;
    ev.log_level = tag.level;
    ev.log_flags = tag.flags;
    ev.cls = classifier_.classify(ev.prefix);
    if (ev.cls) {
        ev.direction = ev.cls->direction;
        ev.verdict = ev.cls->verdict;
    } else {
        ++c_.unclassified;
        if (!opt_.unclassified.emit) {
            ++c_.unclassified_dropped;
            return false;
        }
        ev.direction = opt_.unclassified.direction;
        ev.verdict = opt_.unclassified.verdict;
    }

    ev.container = nullptr;
    if (containers_) {
        const auto &ip = ev.direction == Direction::ingress ? ev.packet.dst : ev.packet.src;
        ev.container = containers_->by_ip(ip);
        if (!ev.container && !ev.prefix.empty()) {
            ev.container = containers_->by_prefix(ev.prefix);
            if (ev.container) ++c_.enriched_by_prefix;
        }
        if (ev.container) ++c_.enriched;
    }

    if (names_) {
        ev.in_name = msg.indev ? names_->name(msg.indev) : std::string_view{};
        ev.out_name = msg.outdev ? names_->name(msg.outdev) : std::string_view{};
        ev.physin_name = msg.physindev ? names_->name(msg.physindev) : std::string_view{};
        ev.physout_name = msg.physoutdev ? names_->name(msg.physoutdev) : std::string_view{};
    } else {
        ev.in_name = ev.out_name = ev.physin_name = ev.physout_name = {};
    }
    ++c_.emitted;
    return true;
}

void Pipeline::format(const Event &ev, std::size_t i, std::string &out) const {
    const auto &o = opt_.outputs[i];
    // A journal output: the line is the entry's MESSAGE, the event's fields follow.
    const std::size_t message = o.journal.enabled ? journal_message_begin(out) : 0;
    switch (o.format) {
    case OutputFormat::json: format_json(ev, ev.cls ? o.json : fallback_json_[i], out); break;
    case OutputFormat::klog: format_klog(ev, out); break;
    case OutputFormat::iptables_logger: format_iptables_logger(ev, o.iptables_logger, out); break;
    case OutputFormat::ecs: format_ecs(ev, o.ecs, out); break;
    }
    if (o.journal.enabled) {
        journal_message_end(out, message);
        journal_event_fields(ev, o.journal, out);
    }
}

bool Pipeline::process(const NflogMessage &msg, Timestamp receive_time,
                       std::span<std::string> outs) {
    if (!build(msg, receive_time, ev_)) return false;
    const auto n = std::min(outs.size(), opt_.outputs.size());
    for (std::size_t i = 0; i < n; ++i) format(ev_, i, outs[i]);
    return true;
}

} // namespace netlog
