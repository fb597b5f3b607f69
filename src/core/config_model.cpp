// The config model's words: the names of its enums, relative paths resolved beside the file,
// and the summary netlogd logs at start (what it understood, one output a line).
#include <netlog/config.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace netlog {

std::string_view to_string(OutputType t) {
    switch (t) {
    case OutputType::file: return "file";
    case OutputType::stdout_: return "stdout";
    case OutputType::syslog: return "syslog";
    case OutputType::journal: return "journal";
    }
    return "?";
}

std::string_view to_string(OutputFormat f) {
    switch (f) {
    case OutputFormat::json: return "json";
    case OutputFormat::klog: return "klog";
    case OutputFormat::iptables_logger: return "iptables-logger";
    case OutputFormat::ecs: return "ecs";
    }
    return "?";
}

std::string_view to_string(KernelPrefix k) {
    switch (k) {
    case KernelPrefix::off: return "off";
    case KernelPrefix::host: return "as the host's rsyslog";
    case KernelPrefix::traditional: return "traditional";
    case KernelPrefix::rfc3339: return "rfc3339";
    }
    return "?";
}

std::string_view to_string(MetadataSource s) {
    switch (s) {
    case MetadataSource::none: return "none";
    case MetadataSource::cf_store: return "cf-store";
    case MetadataSource::docker: return "docker";
    case MetadataSource::podman: return "podman";
    }
    return "?";
}

std::optional<OutputFormat> output_format_parse(std::string_view name) {
    if (name == "json") return OutputFormat::json;
    if (name == "klog") return OutputFormat::klog;
    if (name == "iptables-logger") return OutputFormat::iptables_logger;
    if (name == "ecs") return OutputFormat::ecs;
    return std::nullopt;
}

std::string config_resolve_path(std::string_view config_path, std::string_view path) {
    if (path.empty() || path.front() == '/') return std::string(path);
    const auto slash = config_path.rfind('/');
    if (slash == std::string_view::npos) return std::string(path);
    return fmt::format("{}/{}", config_path.substr(0, slash), path);
}

std::string config_summary(const Config &c) {
    std::string s = fmt::format("config {}: rules {}", c.source_name, c.rules_path);
    switch (c.metadata_source) {
    case MetadataSource::none: s += ", no container metadata"; break;
    case MetadataSource::cf_store: s += fmt::format(", metadata store {}", c.store_path); break;
    case MetadataSource::docker:
    case MetadataSource::podman:
        s += fmt::format(", metadata from {} at unix://{} (labels: {}; grace {} s)",
                         to_string(c.metadata_source), c.engine.socket,
                         c.engine.labels.empty()
                             ? std::string("none")
                             : fmt::format("{}", fmt::join(c.engine.labels, ", ")),
                         c.engine.grace);
        break;
    }
    if (!c.host_ip.empty() || !c.host_guid.empty())
        s += fmt::format(", host {} {}", c.host_ip, c.host_guid);
    s += fmt::format(", source \"{}\"", c.source);
    s += fmt::format(", nflog copy_range {} queue_threshold {} flush_timeout {} ms socket_buffer "
                     "{} netlink_buffer {}, queue {} events",
                     c.nflog.copy_range, c.nflog.queue_threshold, c.nflog.flush_timeout_ms,
                     c.nflog.socket_buffer,
                     c.nflog.netlink_buffer ? fmt::format("{}", c.nflog.netlink_buffer)
                                            : std::string("default"),
                     c.queue);
    for (const auto &o : c.outputs) {
        s += fmt::format("\n  output {} {}", to_string(o.type), to_string(o.format));
        if (!o.path.empty()) s += " " + o.path;
        if (o.path_template.templated())
            s += fmt::format(" (one file per value, at most {}; else {})", o.max_files, o.fallback);
        if (!o.address.empty()) s += " " + o.address;
        if (o.format == OutputFormat::iptables_logger)
            s += o.timestamp == IptablesLoggerOptions::TimeStyle::rfc3339 ? ", timestamp rfc3339"
                                                                          : ", timestamp epoch";
        const auto &x = o.extras;
        std::string extras;
        for (const auto &[on, name] : {std::pair{x.tcp_flags, "tcp_flags"},
                                       {x.length, "length"},
                                       {x.ttl, "ttl"},
                                       {x.interfaces, "interfaces"},
                                       {x.class_name, "class"},
                                       {x.prefix, "prefix"},
                                       {x.host, "host"},
                                       {x.community_id, "community_id"},
                                       {x.peer, "peer"},
                                       {x.rule, "rule"}})
            if (on) extras += fmt::format("{}{}", extras.empty() ? "" : ",", name);
        if (!extras.empty()) s += ", extras " + extras;
        if (o.kernel_prefix != KernelPrefix::off)
            s += fmt::format(", kernel_prefix {}", to_string(o.kernel_prefix));
        if (const auto &m = o.match; !m.any()) {
            std::string what;
            if (m.verdict) what += fmt::format(" {}", to_string(*m.verdict));
            if (m.direction) what += fmt::format(" {}", to_string(*m.direction));
            for (const auto &n : m.classes)
                what += fmt::format("{}{}", &n == &m.classes.front() ? " classes " : ",", n.name);
            s += ", only" + what;
        }
        if (o.type != OutputType::syslog && !o.syslog.hostname.empty())
            s += fmt::format(", hostname {}", o.syslog.hostname);
        if (o.type == OutputType::syslog) {
            const auto &y = o.syslog;
            s += y.rfc3164 ? ", protocol rfc3164" : ", protocol rfc5424";
            if (y.facility >= 0) s += fmt::format(", facility {}", y.facility);
            if (y.severity >= 0) s += fmt::format(", severity {}", y.severity);
            if (!y.app_name.empty()) s += fmt::format(", app_name {}", y.app_name);
            if (!y.hostname.empty()) s += fmt::format(", hostname {}", y.hostname);
            if (y.buffer) s += fmt::format(", buffer {} bytes", y.buffer);
        }
        if (o.type == OutputType::journal) {
            s += fmt::format(", identifier {}",
                             o.journal.identifier.empty() ? "netlogd" : o.journal.identifier);
            if (o.journal.priority >= 0) s += fmt::format(", priority {}", o.journal.priority);
            if (o.syslog.buffer) s += fmt::format(", buffer {} bytes", o.syslog.buffer);
        }
    }
    s += fmt::format("\n  unclassified events: {}",
                     c.unclassified.emit
                         ? fmt::format("emitted as {}-{}", to_string(c.unclassified.direction),
                                       to_string(c.unclassified.verdict))
                         : std::string("counted and dropped"));
    if (c.rate_limit) {
        s += fmt::format("\n  rate limit {}/s burst {} per container and class", c.rate_limit->rate,
                         c.rate_limit->burst);
        for (const auto &ov : c.rate_limit->classes)
            s += ov.rate > 0 ? fmt::format("; {} {}/s burst {}", ov.name, ov.rate, ov.burst)
                             : fmt::format("; {} unlimited", ov.name);
    }
    if (!c.metrics_listen.empty()) s += fmt::format("\n  metrics on {}", c.metrics_listen);
    if (!c.user.empty()) s += fmt::format("\n  runs as user {} once its sockets are bound", c.user);
    if (c.connections.enabled())
        s += fmt::format("\n  connections followed through conntrack:{}{} (at most {} at once)",
                         c.connections.outcomes ? " failed (outcomes)" : "",
                         c.connections.flow_end ? " closed (flow_end)" : "",
                         c.connections.max_tracked);
    if (c.manage_rules) {
        const auto &m = *c.manage_rules;
        s +=
            fmt::format("\n  manages rules: backend {}, mode {}, family {}, interval {} s",
                        m.backend, to_string(m.mode),
                        m.families.size() == 2 ? std::string_view("all") : to_string(m.families[0]),
                        m.interval);
    }
    return s;
}

} // namespace netlog
