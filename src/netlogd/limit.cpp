// The output stage: rate limiting with suppression summaries, and the kern.log prefix.
#include "limit.h"

#include "rsyslog_host.h"

#include <fmt/format.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace netlog::daemon {

namespace {

constexpr std::uint16_t unclassified_index = 0xffff;

std::int64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Timestamp to_timestamp(std::int64_t ns) {
    if (ns < 0) ns = 0;
    return {ns / 1'000'000'000, static_cast<std::uint32_t>(ns % 1'000'000'000)};
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    std::string s(buf);
    if (auto dot = s.find('.'); dot != std::string::npos) s.resize(dot); // like rsyslog's %HOSTNAME%
    return s.empty() ? "localhost" : s;
}

} // namespace

void apply_syslog_options(const SyslogOutputOptions &o, io::SyslogSettings &s) {
    if (o.rfc3164) s.protocol = io::SyslogSettings::Protocol::rfc3164;
    if (o.facility >= 0) s.facility = o.facility;
    if (o.severity >= 0) s.severity = o.severity;
    if (!o.app_name.empty()) s.app_name = o.app_name;
    if (!o.hostname.empty()) s.hostname = o.hostname;
    if (o.buffer) s.buffer_bytes = o.buffer;
}

Result<std::unique_ptr<OutputStage>> OutputStage::make(const Config &c, const RulesFile &rules) {
    if (c.rate_limit)
        for (const auto &ov : c.rate_limit->classes) {
            const bool known = std::any_of(rules.classes.begin(), rules.classes.end(),
                                           [&](const ClassDef &d) { return d.name == ov.name; });
            if (!known) {
                std::string names;
                for (const auto &d : rules.classes)
                    names += fmt::format("{}{}", names.empty() ? "" : ", ", d.name);
                return make_error(fmt::format(
                    "{}: key 'rate_limit.classes.{}': the rules file has no class '{}' "
                    "(its classes: {})",
                    ov.where, ov.name, ov.name, names));
            }
        }
    return std::unique_ptr<OutputStage>(new OutputStage(c, rules));
}

OutputStage::OutputStage(const Config &c, const RulesFile &rules) : rules_(&rules) {
    const auto host = host_name();
    std::optional<KernLogFormat> host_format;
    for (const auto &o : c.outputs) {
        specs_.push_back(output_spec(c, o));
        KernelPrefix k = o.format == OutputFormat::klog ? o.kernel_prefix : KernelPrefix::off;
        if (k == KernelPrefix::host) {
            if (!host_format) {
                host_format = io::host_kern_log_format();
                kprefix_note_ = fmt::format("kernel_prefix: {} ({})",
                                            to_string(host_format->style), host_format->why);
            }
            k = host_format->style;
        }
        kprefix_.push_back(k);
        kprefix_short_.push_back(o.type == OutputType::syslog);
        khost_.push_back(o.syslog.hostname.empty() ? host : o.syslog.hostname);
    }
    boot_wall_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);

    c_.classes.reserve(rules.classes.size() + 1);
    for (const auto &d : rules.classes) c_.classes.push_back(d.name);
    c_.classes.push_back("unclassified");
    c_.suppressed.assign(c_.classes.size(), 0);
    if (!c.rate_limit) return;
    c_.enabled = true;
    std::vector<std::optional<RateLimitSettings>> per_class(rules.classes.size());
    for (const auto &ov : c.rate_limit->classes)
        for (std::size_t i = 0; i < rules.classes.size(); ++i)
            if (rules.classes[i].name == ov.name)
                per_class[i] = RateLimitSettings{ov.rate, static_cast<double>(ov.burst)};
    limiter_.emplace(RateLimitSettings{c.rate_limit->rate, static_cast<double>(c.rate_limit->burst)},
                     std::move(per_class));
    unclassified_ = c.unclassified;
}

void OutputStage::append_summary(const SuppressionEvent &e, std::size_t i, std::string &out) const {
    const auto &o = specs_[i];
    const std::size_t message = o.journal.enabled ? journal_message_begin(out) : 0;
    switch (o.format) {
    case OutputFormat::json: format_suppression_json(e, o.json, out); break;
    case OutputFormat::iptables_logger: format_suppression_iptables_logger(e, o.iptables_logger, out); break;
    case OutputFormat::klog: format_suppression_klog(e, out); break;
    case OutputFormat::ecs: format_suppression_ecs(e, o.ecs, out); break;
    }
    if (o.journal.enabled) {
        journal_message_end(out, message);
        journal_summary_fields(e, o.journal, out);
    }
}

template <class Out>
void OutputStage::summarise(const SuppressionSummary &s, Out &&out) {
    SuppressionEvent e;
    if (s.key.class_index < rules_->classes.size()) {
        e.cls = &rules_->classes[s.key.class_index];
        e.direction = e.cls->direction;
        e.verdict = e.cls->verdict;
    } else {
        e.direction = unclassified_.direction;
        e.verdict = unclassified_.verdict;
    }
    e.container = containers_ ? containers_->by_ip(s.key.ip) : nullptr;
    e.ip = s.key.ip;
    e.count = s.count;
    e.first = to_timestamp(s.first_ns + wall_offset_ns_);
    e.last = to_timestamp(s.last_ns + wall_offset_ns_);
    ++c_.summaries;
    c_.summarised += s.count;
    out(e);
}

namespace {
RateLimitKey key_of(const Event &ev, const RulesFile &rules) {
    RateLimitKey k;
    k.ip = ev.direction == Direction::ingress ? ev.packet.dst : ev.packet.src;
    k.class_index = ev.cls ? static_cast<std::uint16_t>(ev.cls - rules.classes.data())
                           : unclassified_index;
    return k;
}
} // namespace

bool OutputStage::admit(const Event &ev, std::int64_t now_ns,
                        std::span<std::unique_ptr<io::Sink>> sinks) {
    if (!limiter_) return true;
    const auto key = key_of(ev, *rules_);
    const bool ok = limiter_->admit(key, now_ns, [&](const SuppressionSummary &s) {
        summarise(s, [&](const SuppressionEvent &e) {
            for (std::size_t i = 0; i < sinks.size() && i < specs_.size(); ++i)
                append_summary(e, i, sinks[i]->buffer());
        });
    });
    if (!ok) {
        ++c_.suppressed[std::min<std::size_t>(key.class_index, c_.suppressed.size() - 1)];
        ++c_.suppressed_total;
    }
    return ok;
}

bool OutputStage::admit(const Event &ev, std::int64_t now_ns, std::string &out) {
    if (!limiter_) return true;
    const auto key = key_of(ev, *rules_);
    const bool ok = limiter_->admit(key, now_ns, [&](const SuppressionSummary &s) {
        summarise(s, [&](const SuppressionEvent &e) { append_summary(e, 0, out); });
    });
    if (!ok) {
        ++c_.suppressed[std::min<std::size_t>(key.class_index, c_.suppressed.size() - 1)];
        ++c_.suppressed_total;
    }
    return ok;
}

void OutputStage::flush(std::int64_t now_ns, std::span<std::unique_ptr<io::Sink>> sinks, bool all) {
    if (!limiter_) return;
    limiter_->flush(
        now_ns,
        [&](const SuppressionSummary &s) {
            summarise(s, [&](const SuppressionEvent &e) {
                for (std::size_t i = 0; i < sinks.size() && i < specs_.size(); ++i)
                    if (sinks[i]) append_summary(e, i, sinks[i]->buffer());
            });
        },
        all);
}

void OutputStage::flush(std::int64_t now_ns, std::string &out, bool all) {
    if (!limiter_) return;
    limiter_->flush(
        now_ns,
        [&](const SuppressionSummary &s) {
            summarise(s, [&](const SuppressionEvent &e) { append_summary(e, 0, out); });
        },
        all);
}

// kern.log as rsyslog writes kernel lines (imklog) to a file:
//   traditional (RSYSLOG_TraditionalFileFormat): "May  3 23:34:07 HOST kernel: [87921.493829] "
//   rfc3339 (RSYSLOG_FileFormat, the default):   "2024-05-03T23:34:07.493829+00:00 HOST kernel: [87921.493829] "
// The time is the event's, in local time (rsyslog's is when it read the line); NFLOG does
// not carry the kernel's printk clock, so "[uptime]" is the event time minus the wall-clock
// time of CLOCK_MONOTONIC zero (close to, not equal to, what printk would show). Tools
// filtering on "kernel:" and the DENY_/OK_ prefix see the lines they expect. A syslog
// output gets only "[uptime] " (its server writes the rest of the header).
void OutputStage::kernel_prefix(const Event &ev, std::size_t i, std::string &out) const {
    if (!kprefix_short_[i]) {
        const time_t t = static_cast<time_t>(ev.time.sec);
        tm lt{};
        localtime_r(&t, &lt);
        if (kprefix_[i] == KernelPrefix::rfc3339) {
            const long off = lt.tm_gmtoff / 60;
            fmt::format_to(std::back_inserter(out),
                           "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02} {} kernel: ",
                           lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min,
                           lt.tm_sec, ev.time.nsec / 1000, off < 0 ? '-' : '+',
                           (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60, khost_[i]);
        } else {
            static constexpr const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
            fmt::format_to(std::back_inserter(out), "{} {:>2} {:02}:{:02}:{:02} {} kernel: ",
                           months[lt.tm_mon % 12], lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec,
                           khost_[i]);
        }
    }
    std::int64_t up = ev.time.sec * 1'000'000'000 + ev.time.nsec - boot_wall_ns_;
    if (up < 0) up = 0;
    fmt::format_to(std::back_inserter(out), "[{:>5}.{:06}] ", up / 1'000'000'000,
                   up % 1'000'000'000 / 1000);
}

void OutputStage::format(const Pipeline &p, const Event &ev, std::size_t i, std::string &out) const {
    if (i < kprefix_.size() && kprefix_[i] != KernelPrefix::off) kernel_prefix(ev, i, out);
    p.format(ev, i, out);
}

const RateLimitCounters &OutputStage::counters() {
    if (limiter_) {
        c_.buckets = limiter_->buckets();
        c_.evictions = evictions_base_ + limiter_->evictions();
        c_.overflow = overflow_base_ + limiter_->unlimited_overflow();
    }
    return c_;
}

void OutputStage::add_counters(const RateLimitCounters &c) {
    for (std::size_t i = 0; i < c.classes.size() && i < c.suppressed.size(); ++i) {
        auto it = std::find(c_.classes.begin(), c_.classes.end(), c.classes[i]);
        // A class the new rules no longer have keeps its count in suppressed_total only.
        if (it != c_.classes.end())
            c_.suppressed[static_cast<std::size_t>(it - c_.classes.begin())] += c.suppressed[i];
    }
    c_.suppressed_total += c.suppressed_total;
    c_.summaries += c.summaries;
    c_.summarised += c.summarised;
    evictions_base_ += c.evictions;
    overflow_base_ += c.overflow;
}

} // namespace netlog::daemon
