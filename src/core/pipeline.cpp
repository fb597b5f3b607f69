// NFLOG messages -> Events -> rate limit -> formatted lines, and the account. No syscalls,
// no allocation per event once the output buffers and the classifier cache have grown.
#include "engine_index.h"
#include <netlog/pipeline.h>
#include <netlog/packet.h>
#include <netlog/ruleplan.h>
#include <netlog/summary.h>

#include "ratelimit.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace netlog {

namespace {

constexpr std::uint16_t unclassified_index = 0xffff;

RateLimitKey key_of(const Event &ev, const RulesFile &rules) {
    RateLimitKey k;
    k.ip = ev.direction == Direction::ingress ? ev.packet.dst : ev.packet.src;
    k.class_index =
        ev.cls ? static_cast<std::uint16_t>(ev.cls - rules.classes.data()) : unclassified_index;
    return k;
}

} // namespace

OutputSpec output_spec(const Config &c, const OutputConfig &out) {
    OutputSpec s;
    s.format = out.format;
    s.match = out.match;
    s.json.source = c.source;
    s.json.tcp_flags = out.extras.tcp_flags;
    s.json.length = out.extras.length;
    s.json.ttl = out.extras.ttl;
    s.json.interfaces = out.extras.interfaces;
    s.json.class_name = out.extras.class_name;
    s.json.prefix = out.extras.prefix;
    s.json.host = out.extras.host;
    s.json.community_id = out.extras.community_id;
    s.json.peer = out.extras.peer;
    s.json.rule = out.extras.rule;
    s.path = out.path_template;
    s.json.host_ip = c.host_ip;
    s.json.host_guid = c.host_guid;
    if (c.metadata_source == MetadataSource::docker || c.metadata_source == MetadataSource::podman)
        s.json.unknown_container = engine_unknown_container_json;
    json_prepare(s.json);
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
    s.kernel_prefix = out.format == OutputFormat::klog ? out.kernel_prefix : KernelPrefix::off;
    s.kernel_prefix_short = out.type == OutputType::syslog;
    s.kernel_host = out.syslog.hostname;
    return s;
}

Result<std::unique_ptr<Pipeline>> Pipeline::make(const RulesFile &rules, PipelineOptions options) {
    if (options.rate_limit)
        for (const auto &ov : options.rate_limit->classes) {
            const bool known = std::any_of(rules.classes.begin(), rules.classes.end(),
                                           [&](const ClassDef &d) { return d.name == ov.name; });
            if (!known) {
                std::string names;
                for (const auto &d : rules.classes)
                    names += fmt::format("{}{}", names.empty() ? "" : ", ", d.name);
                return make_error(
                    fmt::format("{}: key 'rate_limit.classes.{}': the rules file has no class '{}' "
                                "(its classes: {})",
                                ov.where, ov.name, ov.name, names));
            }
        }
    return std::make_unique<Pipeline>(rules, std::move(options));
}

Pipeline::Pipeline(const RulesFile &rules, PipelineOptions options)
    : rules_(&rules), classifier_(rules), opt_(std::move(options)) {
    // An unclassified event carries its prefix, so the reader can tell what it was.
    const auto own = [this](std::string_view &v) { v = owned_.emplace_back(v); };
    for (auto &o : opt_.outputs) {
        for (auto *v :
             {&o.json.source, &o.json.host_ip, &o.json.host_guid, &o.json.unknown_container,
              &o.iptables_logger.host_ip, &o.iptables_logger.host_guid, &o.ecs.host_ip,
              &o.ecs.host_guid, &o.journal.identifier, &o.journal.host_ip, &o.journal.host_guid})
            own(*v);
        json_prepare(o.json); // its head quotes the source
    }
    fallback_json_.reserve(opt_.outputs.size());
    for (const auto &o : opt_.outputs) {
        peers_wanted_ = peers_wanted_ || (o.format == OutputFormat::json && o.json.peer);
        auto j = o.json;
        j.prefix = true;
        fallback_json_.push_back(j);
        select_.emplace_back(o.match, rules);
        routers_.push_back(o.path.templated() ? std::make_unique<PathRouter>(o.path, rules)
                                              : nullptr);
        some_take_all_ = some_take_all_ || select_.back().takes_all();
    }

    if (opt_.connections.outcomes || opt_.connections.flow_end)
        tracker_ = std::make_unique<ConnectionTracker>(opt_.connections);

    rl_.classes.reserve(rules.classes.size() + 1);
    for (const auto &d : rules.classes) rl_.classes.push_back(d.name);
    rl_.classes.push_back("unclassified");
    rl_.suppressed.assign(rl_.classes.size(), 0);
    if (!opt_.rate_limit) return;
    rl_.enabled = true;
    std::vector<std::optional<RateLimitSettings>> per_class(rules.classes.size());
    for (const auto &ov : opt_.rate_limit->classes)
        for (std::size_t i = 0; i < rules.classes.size(); ++i)
            if (rules.classes[i].name == ov.name)
                per_class[i] = RateLimitSettings{ov.rate, static_cast<double>(ov.burst)};
    limiter_ = std::make_unique<RateLimiter>(
        RateLimitSettings{opt_.rate_limit->rate, static_cast<double>(opt_.rate_limit->burst)},
        std::move(per_class));
}

Pipeline::~Pipeline() = default;

bool Pipeline::build(const NflogMessage &msg, Timestamp receive_time, Event &ev) {
    return build_event(msg, receive_time, ev);
}

// build(), inline in process_message (the hot path: one call and its register saves less
// per event).
[[gnu::always_inline]] inline bool Pipeline::build_event(const NflogMessage &msg,
                                                         Timestamp receive_time, Event &ev) {
    ++c_.processed;
    ev.msg = &msg;
    packet_decode(msg.payload, msg.hw_protocol, ev.packet);
    // Not IP, no bytes, or an IP header that is garbage: a decode error. A header the
    // copy range cut is not: it is reported as far as the bytes go.
    if (ev.packet.l3 == L3::none || ev.packet.malformed) {
        ++c_.decode_errors;
        return false;
    }
    ev.time = msg.timestamp ? *msg.timestamp : receive_time;
    // An ICMP error quoting a followed connection's packet, whatever becomes of the event.
    if (tracker_ && !tracker_->empty()) tracker_->icmp(ev.packet);
    // netlog's own ICMP error rule logs for the line above, not for the outputs.
    if (msg.prefix == icmp_error_prefix) {
        ++c_.connection_signals;
        return false;
    }

    // A companion's prefix carries its LOG rule's level and flags (prefix_tag.h): split
    // off here, so that classes, enrichment and every output see the LOG rule's prefix.
    const LogOptionsView tag = prefix_tag_split(msg.prefix);
    ev.prefix = tag.prefix;
    ev.log_level = tag.level;
    ev.log_flags = tag.flags;
    ev.cls = classifier_.classify(ev.prefix, &ev.captures);
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
    if (!some_take_all_ && std::none_of(select_.begin(), select_.end(), [&](const auto &s) {
            return s.selects(ev.cls, ev.direction, ev.verdict);
        })) {
        ++c_.filtered;
        return false;
    }

    ev.container = nullptr;
    if (containers_) {
        const auto &ip = ev.direction == Direction::ingress ? ev.packet.dst : ev.packet.src;
        ev.container = containers_->by_ip(ip);
        if (!ev.container && ev.cls) {
            ev.container = container_from_prefix(*containers_, *ev.cls, ev.captures, ev.prefix);
            if (ev.container) ++c_.enriched_by_prefix;
        }
        if (ev.container) ++c_.enriched;
    }

    ev.peer = nullptr;
    ev.peer_app = {};
    if (peers_wanted_) enrich_peer(msg, ev);

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

// kern.log as rsyslog writes kernel lines (imklog) to a file:
//   traditional (RSYSLOG_TraditionalFileFormat): "May  3 23:34:07 HOST kernel: [87921.493829] "
//   rfc3339 (RSYSLOG_FileFormat, the default):   "2024-05-03T23:34:07.493829+00:00 HOST kernel: [87921.493829] "
// The time is the event's, in local time (rsyslog's is when it read the line); NFLOG does
// not carry the kernel's printk clock, so "[uptime]" is the event time minus the wall-clock
// time of CLOCK_MONOTONIC zero (close to, not equal to, what printk would show). Tools
// filtering on "kernel:" and the DENY_/OK_ prefix see the lines they expect. A syslog
// output gets only "[uptime] " (its server writes the rest of the header).
void Pipeline::kernel_prefix(const Event &ev, std::size_t i, std::string &out) const {
    const auto &o = opt_.outputs[i];
    if (!o.kernel_prefix_short) {
        std::tm lt{};
        if (local_time_) {
            local_time_->convert(ev.time.sec, lt);
        } else {
            const auto t = static_cast<std::time_t>(ev.time.sec);
            gmtime_r(&t, &lt);
        }
        if (o.kernel_prefix == KernelPrefix::rfc3339) {
            const long off = lt.tm_gmtoff / 60;
            fmt::format_to(std::back_inserter(out),
                           "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02} {} kernel: ",
                           lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min,
                           lt.tm_sec, ev.time.nsec / 1000, off < 0 ? '-' : '+',
                           (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60, o.kernel_host);
        } else {
            static constexpr const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
            fmt::format_to(std::back_inserter(out),
                           "{} {:>2} {:02}:{:02}:{:02} {} kernel: ", months[lt.tm_mon % 12],
                           lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec, o.kernel_host);
        }
    }
    std::int64_t up = ev.time.sec * 1'000'000'000 + ev.time.nsec - opt_.boot_wall_ns;
    if (up < 0) up = 0;
    fmt::format_to(std::back_inserter(out), "[{:>5}.{:06}] ", up / 1'000'000'000,
                   up % 1'000'000'000 / 1000);
}

void Pipeline::enrich_peer(const NflogMessage &msg, Event &ev) {
    if (ev.direction == Direction::egress) {
        if (containers_) ev.peer = containers_->by_ip(ev.packet.dst);
        return;
    }
    if (containers_) ev.peer = containers_->by_ip(ev.packet.src);
    if (!ev.peer && marks_ && msg.mark) ev.peer_app = marks_->app(*msg.mark);
    if (ev.peer || !ev.peer_app.empty())
        ++c_.sources_resolved;
    else
        ++c_.sources_unresolved;
}

void Pipeline::format_framed(const Event &ev, std::size_t i, std::string &out) const {
    const auto &o = opt_.outputs[i];
    if (o.kernel_prefix != KernelPrefix::off) kernel_prefix(ev, i, out);
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
    for (std::size_t i = 0; i < n; ++i)
        if (selects(ev_, i)) format(ev_, i, outs[i]);
    return true;
}

void Pipeline::append_summary(const SuppressionEvent &e, LineOutputs &outs) {
    for (std::size_t i = 0; i < opt_.outputs.size(); ++i) {
        // a summary goes where the events it stands for would have gone
        if (!select_[i].selects(e.cls, e.direction, e.verdict)) continue;
        const auto &o = opt_.outputs[i];
        std::string &out = outs.line(i, -1, route(i, e.cls, nullptr));
        const std::size_t message = o.journal.enabled ? journal_message_begin(out) : 0;
        switch (o.format) {
        case OutputFormat::json: format_suppression_json(e, o.json, out); break;
        case OutputFormat::iptables_logger:
            format_suppression_iptables_logger(e, o.iptables_logger, out);
            break;
        case OutputFormat::klog: format_suppression_klog(e, out); break;
        case OutputFormat::ecs: format_suppression_ecs(e, o.ecs, out); break;
        }
        if (o.journal.enabled) {
            journal_message_end(out, message);
            journal_summary_fields(e, o.journal, out);
        }
    }
}

template <class Emit>
void Pipeline::summarise(const SuppressionSummary &s, const BatchTime &t, Emit &&emit) {
    SuppressionEvent e;
    if (s.key.class_index < rules_->classes.size()) {
        e.cls = &rules_->classes[s.key.class_index];
        e.direction = e.cls->direction;
        e.verdict = e.cls->verdict;
    } else {
        e.direction = opt_.unclassified.direction;
        e.verdict = opt_.unclassified.verdict;
    }
    e.container = containers_ ? containers_->by_ip(s.key.ip) : nullptr;
    e.ip = s.key.ip;
    e.count = s.count;
    e.first = to_timestamp(s.first_ns + t.wall_offset_ns);
    e.last = to_timestamp(s.last_ns + t.wall_offset_ns);
    ++rl_.summaries;
    rl_.summarised += s.count;
    emit(e);
}

bool Pipeline::process_message(const NflogMessage &msg, const BatchTime &t, LineOutputs &out) {
    if (!build_event(msg, t.received, ev_)) return false;
    if (limiter_) {
        const auto key = key_of(ev_, *rules_);
        const bool ok = limiter_->admit(key, t.now_ns, [&](const SuppressionSummary &s) {
            summarise(s, t, [&](const SuppressionEvent &e) { append_summary(e, out); });
        });
        if (!ok) {
            ++rl_.suppressed[std::min<std::size_t>(key.class_index, rl_.suppressed.size() - 1)];
            ++rl_.suppressed_total;
            return false;
        }
    }
    for (std::size_t i = 0; i < opt_.outputs.size(); ++i) {
        if (!selects(ev_, i)) continue; // outputs[i].match
        format(ev_, i, out.line(i, ev_.log_level, route(i, ev_.cls, &ev_.captures)));
        out.line_done(i);
    }
    if (tracker_ && ev_.verdict == Verdict::allowed &&
        ConnectionTracker::starts_connection(ev_.packet))
        follow(t, out);
    return true;
}

const Container *container_from_prefix(const ContainerIndex &index, const ClassDef &cls,
                                       const Captures &caps, std::string_view prefix) {
    // The kernel LOG target keeps 29 prefix characters, 28 of the name and a space: a name
    // that ends there may have been cut.
    constexpr std::size_t log_prefix_name = 28;
    const auto group = [&](int rank, bool &cut) {
        if (rank < 0 || static_cast<std::size_t>(rank) >= caps.n) return std::string_view();
        auto v = caps.value[static_cast<std::size_t>(rank)];
        while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.remove_suffix(1);
        cut = !v.empty() &&
              static_cast<std::size_t>(v.data() - prefix.data()) + v.size() == log_prefix_name;
        return v;
    };
    bool cut = false;
    if (const auto h = group(cls.handle_group, cut); !h.empty())
        return index.by_handle_in_prefix(h, cut);
    if (const auto a = group(cls.app_group, cut); !a.empty()) return index.by_app_in_prefix(a, cut);
    return nullptr;
}

std::string_view Pipeline::routed(std::size_t i, const ClassDef *cls, const Captures *caps) {
    // A summary (no captures) finds its file when the path names only the class's constants.
    return routers_[i]->route(cls, caps, route_) ? std::string_view(route_) : std::string_view();
}

void Pipeline::process_batch(Bytes batch, const BatchTime &t, LineOutputs &out) {
    nflog_parse_batch(
        batch, [&](const NflogMessage &m) { process_message(m, t, out); },
        [&](const Error &) { count_bad_message(); });
}

void Pipeline::flush(const BatchTime &t, LineOutputs &out, bool all) {
    if (!limiter_) return;
    limiter_->flush(
        t.now_ns,
        [&](const SuppressionSummary &s) {
            summarise(s, t, [&](const SuppressionEvent &e) { append_summary(e, out); });
        },
        all);
}

const RateLimitCounters &Pipeline::rate_limit_counters() {
    if (limiter_) {
        rl_.buckets = limiter_->buckets();
        rl_.evictions = evictions_base_ + limiter_->evictions();
        rl_.overflow = overflow_base_ + limiter_->unlimited_overflow();
    }
    return rl_;
}

Accounting Pipeline::accounting() {
    Accounting a;
    a.kernel_logged = c_.processed;
    a.suppressed = rl_.suppressed_total;
    a.emitted = c_.emitted - std::min(c_.emitted, a.suppressed);
    a.drops(DropReason::decode_error) = c_.decode_errors;
    a.drops(DropReason::unclassified) = c_.unclassified_dropped;
    a.drops(DropReason::filtered) = c_.filtered;
    a.drops(DropReason::connection_signal) = c_.connection_signals;
    return a;
}

void Pipeline::carry_over(Pipeline &old) {
    c_ = old.c_;
    // The connections followed go on being followed (with this pipeline's options).
    if (tracker_ && old.tracker_) {
        auto c = old.tracker_->counters();
        tracker_ = std::move(old.tracker_);
        tracker_->set_options(opt_.connections);
        tracker_->set_counters(c);
    } else if (tracker_) {
        tracker_->set_counters(c_.connections);
    }
    const auto &c = old.rate_limit_counters();
    for (std::size_t i = 0; i < c.classes.size() && i < c.suppressed.size(); ++i) {
        auto it = std::find(rl_.classes.begin(), rl_.classes.end(), c.classes[i]);
        // A class the new rules no longer have keeps its count in suppressed_total only.
        if (it != rl_.classes.end())
            rl_.suppressed[static_cast<std::size_t>(it - rl_.classes.begin())] += c.suppressed[i];
    }
    rl_.suppressed_total += c.suppressed_total;
    rl_.summaries += c.summaries;
    rl_.summarised += c.summarised;
    evictions_base_ += c.evictions;
    overflow_base_ += c.overflow;
}

} // namespace netlog
