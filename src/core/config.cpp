// netlogd.yaml parsing: text in, Config out; every refusal names file:line:column and key.
#include <netlog/config.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "yaml_syntax.h"

#include <algorithm>
#include <set>
#include <stdexcept>

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

namespace {

struct ParseError {
    std::string message;
};

std::string where(std::string_view source, const YAML::Node &node) {
    const auto m = node.Mark();
    if (m.is_null()) return std::string(source);
    return fmt::format("{}:{}:{}", source, m.line + 1, m.column + 1);
}

[[noreturn]] void fail(std::string_view source, const YAML::Node &node, std::string_view key,
                       std::string_view what) {
    throw ParseError{fmt::format("{}: key '{}': {}", where(source, node), key, what)};
}

// Every key the parser accepts, by section: the single list that keys() checks against
// and config_known_keys() exports (a test compares it with netlogd.yaml(5) and the
// example config). A new key goes here first, or its section refuses it.
struct KeyTable {
    std::string_view section; // "" (top level), "nflog.", "outputs[].", ...
    std::initializer_list<std::string_view> keys;
};

const KeyTable key_tables[] = {
    {"",
     {"rules", "metadata", "host", "source", "nflog", "queue", "outputs", "rate_limit", "metrics",
      "unclassified", "user", "manage_rules", "connections"}},
    {"connections.", {"outcomes", "flow_end", "max_tracked"}},
    {"metadata.", {"source", "store", "socket", "labels", "grace"}},
    {"host.", {"ip", "guid"}},
    {"rate_limit.", {"rate", "burst", "classes"}},
    {"metrics.", {"listen"}},
    {"nflog.",
     {"copy_range", "queue_threshold", "flush_timeout_ms", "socket_buffer", "netlink_buffer"}},
    {"manage_rules.", {"backend", "mode", "family", "interval"}},
    {"unclassified.", {"action", "direction", "verdict"}},
    {"outputs[].",
     {"type", "path", "address", "format", "timestamp", "extras", "protocol", "facility",
      "severity", "app_name", "hostname", "buffer", "kernel_prefix", "identifier", "priority",
      "match", "max_files", "fallback"}},
    {"outputs[].match.", {"verdict", "direction", "classes"}},
    {"rate_limit.classes.<class>.", {"rate", "burst"}},
};

const KeyTable &key_table(std::string_view section) {
    for (const auto &t : key_tables)
        if (t.section == section) return t;
    throw std::logic_error(fmt::format("config: no key table for '{}'", section));
}

class Parser {
  public:
    explicit Parser(std::string_view source) : src_(source) {}

    Config parse(const YAML::Node &root) {
        Config c;
        c.source_name = src_;
        if (!root.IsMap())
            fail(src_, root, "(top level)",
                 "expected a mapping with at least 'rules' and 'outputs'");
        keys(root, "");

        const auto rules = root["rules"];
        if (!rules) fail(src_, root, "rules", "missing: the path of the rules file is required");
        c.rules_path = nonempty(rules, "rules");

        if (const auto m = root["metadata"]) metadata(m, c);
        if (const auto h = root["host"]) {
            map(h, "host");
            keys(h, "host.");
            if (h["ip"]) c.host_ip = text(h["ip"], "host.ip");
            if (h["guid"]) c.host_guid = text(h["guid"], "host.guid");
        }
        if (const auto s = root["source"]) c.source = text(s, "source");
        if (const auto n = root["nflog"]) nflog(n, c.nflog);
        if (const auto q = root["queue"])
            c.queue = number<std::size_t>(q, "queue", 1, std::size_t{1} << 24);

        const auto outs = root["outputs"];
        if (!outs) fail(src_, root, "outputs", "missing: at least one output is required");
        if (!outs.IsSequence()) fail(src_, outs, "outputs", "expected a list of outputs");
        if (outs.size() == 0) fail(src_, outs, "outputs", "the list is empty: add an output");
        std::set<std::string> paths;
        for (std::size_t i = 0; i < outs.size(); ++i) {
            auto o = output(outs[i], fmt::format("outputs[{}]", i));
            if (o.type == OutputType::file && !o.fallback.empty() &&
                !paths.insert(o.fallback).second)
                fail(src_, outs[i]["fallback"] ? outs[i]["fallback"] : outs[i]["path"],
                     fmt::format("outputs[{}].fallback", i),
                     fmt::format("'{}' is already the path of another output", o.fallback));
            if (o.type == OutputType::file && !paths.insert(o.path).second)
                fail(src_, outs[i]["path"], fmt::format("outputs[{}].path", i),
                     fmt::format("'{}' is already the path of another output", o.path));
            c.outputs.push_back(std::move(o));
        }

        if (const auto r = root["rate_limit"]) {
            map(r, "rate_limit");
            keys(r, "rate_limit.");
            RateLimitConfig rl;
            if (!r["rate"]) fail(src_, r, "rate_limit.rate", "missing (events per second)");
            rl.rate = positive_real(r["rate"], "rate_limit.rate");
            rl.burst = r["burst"]
                           ? number<std::uint32_t>(r["burst"], "rate_limit.burst", 1, 1u << 30)
                           : static_cast<std::uint32_t>(std::max(1.0, rl.rate * 2));
            if (const auto cl = r["classes"]) rate_limit_classes(cl, rl);
            c.rate_limit = rl;
        }
        if (const auto m = root["metrics"]) {
            map(m, "metrics");
            keys(m, "metrics.");
            c.metrics_listen = m["listen"] ? nonempty(m["listen"], "metrics.listen")
                                           : std::string(default_metrics_listen);
        }
        if (const auto u = root["unclassified"]) unclassified(u, c.unclassified);
        if (const auto u = root["user"]) c.user = nonempty(u, "user");
        if (const auto m = root["manage_rules"]) c.manage_rules = manage_rules(m);
        if (const auto n = root["connections"]) connections(n, c.connections);
        return c;
    }

  private:
    void map(const YAML::Node &n, std::string_view key) {
        if (!n.IsMap()) fail(src_, n, key, "expected a mapping");
    }

    // The keys of mapping `m` must be in the table of `section`; `prefix` is how the
    // message names the section ("outputs[2]." for the table "outputs[].").
    void keys(const YAML::Node &m, std::string_view prefix) { keys(m, prefix, prefix); }
    void keys(const YAML::Node &m, std::string_view prefix, std::string_view section) {
        const auto &allowed = key_table(section).keys;
        for (const auto &kv : m) {
            const auto k = kv.first.Scalar();
            if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
            std::string list;
            for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
            fail(src_, kv.first, fmt::format("{}{}", prefix, k),
                 fmt::format("unknown key (expected one of: {})", list));
        }
    }

    std::string text(const YAML::Node &n, std::string_view key) {
        if (!n.IsScalar()) fail(src_, n, key, "expected a string");
        return n.Scalar();
    }

    std::string nonempty(const YAML::Node &n, std::string_view key) {
        auto s = text(n, key);
        if (s.empty()) fail(src_, n, key, "must not be empty");
        return s;
    }

    template <class T> T number(const YAML::Node &n, std::string_view key, T lo, T hi) {
        if (!n.IsScalar()) fail(src_, n, key, "expected a number");
        long long v = 0;
        try {
            v = n.as<long long>();
        } catch (const YAML::Exception &) {
            fail(src_, n, key, fmt::format("'{}' is not a whole number", n.Scalar()));
        }
        if (v < static_cast<long long>(lo) || v > static_cast<long long>(hi))
            fail(src_, n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
        return static_cast<T>(v);
    }

    double positive_real(const YAML::Node &n, std::string_view key) {
        if (!n.IsScalar()) fail(src_, n, key, "expected a number");
        double v = 0;
        try {
            v = n.as<double>();
        } catch (const YAML::Exception &) {
            fail(src_, n, key, fmt::format("'{}' is not a number", n.Scalar()));
        }
        if (!(v > 0) || v > 1e9) fail(src_, n, key, fmt::format("{} must be > 0", n.Scalar()));
        return v;
    }

    // `metadata: {source, store, socket, labels, grace}`. `store` alone is the CF store
    // (as before there was a `source`); docker and podman read the daemon's API socket.
    void metadata(const YAML::Node &m, Config &c) {
        map(m, "metadata");
        keys(m, "metadata.");
        std::string source = m["source"]  ? text(m["source"], "metadata.source")
                             : m["store"] ? "cf-store"
                                          : "";
        if (source.empty() && m.size() == 0) return; // `metadata: {}`: no enrichment
        if (source.empty())
            fail(src_, m, "metadata.source", "missing: cf-store (with 'store'), docker or podman");
        const auto only = [&](const char *key, const char *who) {
            if (m[key])
                fail(src_, m[key], fmt::format("metadata.{}", key),
                     fmt::format("only for source {} (this one is {})", who, source));
        };
        if (source == "cf-store") {
            c.metadata_source = MetadataSource::cf_store;
            if (!m["store"])
                fail(src_, m, "metadata.store", "missing: source cf-store reads the store file");
            c.store_path = nonempty(m["store"], "metadata.store");
            for (const char *k : {"socket", "labels", "grace"}) only(k, "docker or podman");
            return;
        }
        if (source == "docker")
            c.metadata_source = MetadataSource::docker;
        else if (source == "podman")
            c.metadata_source = MetadataSource::podman;
        else
            fail(src_, m["source"], "metadata.source",
                 fmt::format("'{}' is not cf-store, docker or podman", source));
        only("store", "cf-store");
        auto &e = c.engine;
        e.socket = c.metadata_source == MetadataSource::docker ? default_docker_socket
                                                               : default_podman_socket;
        if (m["socket"]) {
            auto sock = nonempty(m["socket"], "metadata.socket");
            if (sock.starts_with("unix://")) sock.erase(0, 7);
            if (sock.empty() || sock.front() != '/')
                fail(src_, m["socket"], "metadata.socket",
                     fmt::format("'{}' is not a unix socket (unix:///path/to/{}.sock); "
                                 "netlogd reads the API only over a local socket",
                                 m["socket"].Scalar(), source));
            e.socket = std::move(sock);
        }
        if (const auto l = m["labels"]) {
            if (!l.IsSequence()) fail(src_, l, "metadata.labels", "expected a list of label keys");
            for (std::size_t i = 0; i < l.size(); ++i) {
                auto k = nonempty(l[i], fmt::format("metadata.labels[{}]", i));
                if (std::find(e.labels.begin(), e.labels.end(), k) == e.labels.end())
                    e.labels.push_back(std::move(k));
            }
        }
        if (const auto g = m["grace"]) {
            if (!g.IsScalar()) fail(src_, g, "metadata.grace", "expected a number of seconds");
            try {
                e.grace = g.as<double>();
            } catch (const YAML::Exception &) {
                fail(src_, g, "metadata.grace", fmt::format("'{}' is not a number", g.Scalar()));
            }
            if (!(e.grace >= 0) || e.grace > 86400)
                fail(src_, g, "metadata.grace",
                     fmt::format("{} is out of range [0, 86400] (seconds)", g.Scalar()));
        }
    }

    void nflog(const YAML::Node &n, NflogSocketConfig &s) {
        map(n, "nflog");
        keys(n, "nflog.");
        if (n["copy_range"])
            s.copy_range = number<std::uint32_t>(n["copy_range"], "nflog.copy_range", 1, 65535);
        if (n["queue_threshold"])
            s.queue_threshold =
                number<std::uint32_t>(n["queue_threshold"], "nflog.queue_threshold", 1, 65535);
        if (n["flush_timeout_ms"])
            s.flush_timeout_ms =
                number<std::uint32_t>(n["flush_timeout_ms"], "nflog.flush_timeout_ms", 0, 60000);
        if (n["socket_buffer"])
            s.socket_buffer =
                number<std::uint32_t>(n["socket_buffer"], "nflog.socket_buffer", 65536, 1u << 30);
        if (n["netlink_buffer"])
            s.netlink_buffer =
                number<std::uint32_t>(n["netlink_buffer"], "nflog.netlink_buffer", 4096, 131072);
    }

    bool boolean(const YAML::Node &n, std::string_view key) {
        if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false"))
            return n.Scalar() == "true";
        fail(src_, n, key,
             fmt::format("expected true or false, not '{}'",
                         n.IsScalar() ? n.Scalar() : "a collection"));
    }

    void connections(const YAML::Node &n, ConnectionsConfig &c) {
        map(n, "connections");
        keys(n, "connections.");
        if (n["outcomes"]) c.outcomes = boolean(n["outcomes"], "connections.outcomes");
        if (n["flow_end"]) c.flow_end = boolean(n["flow_end"], "connections.flow_end");
        if (n["max_tracked"])
            c.max_tracked =
                number<std::uint32_t>(n["max_tracked"], "connections.max_tracked", 1, 1u << 24);
    }

    // `manage_rules: {backend, mode, family, interval}`; `manage_rules: {}` takes the defaults.
    ManageRulesConfig manage_rules(const YAML::Node &n) {
        map(n, "manage_rules");
        keys(n, "manage_rules.");
        ManageRulesConfig m;
        if (n["backend"]) {
            m.backend = text(n["backend"], "manage_rules.backend");
            if (m.backend != "auto" && m.backend != "nft" && m.backend != "legacy")
                fail(src_, n["backend"], "manage_rules.backend",
                     fmt::format("'{}' is not auto, nft or legacy", m.backend));
        }
        if (n["mode"]) {
            const auto v = text(n["mode"], "manage_rules.mode");
            if (v == "alongside")
                m.mode = PlanMode::alongside;
            else if (v == "replace")
                m.mode = PlanMode::replace;
            else
                fail(src_, n["mode"], "manage_rules.mode",
                     fmt::format("'{}' is not alongside or replace", v));
        }
        if (n["family"]) {
            const auto v = text(n["family"], "manage_rules.family");
            if (v == "all")
                m.families = {Family::ipv4, Family::ipv6};
            else if (v == "ipv4")
                m.families = {Family::ipv4};
            else if (v == "ipv6")
                m.families = {Family::ipv6};
            else
                fail(src_, n["family"], "manage_rules.family",
                     fmt::format("'{}' is not all, ipv4 or ipv6", v));
        }
        if (n["interval"]) {
            m.interval = positive_real(n["interval"], "manage_rules.interval");
            if (m.interval < 0.01 || m.interval > 3600)
                fail(src_, n["interval"], "manage_rules.interval",
                     fmt::format("{} is out of range [0.01, 3600] (seconds)",
                                 n["interval"].Scalar()));
        }
        return m;
    }

    void unclassified(const YAML::Node &n, UnclassifiedPolicy &u) {
        map(n, "unclassified");
        keys(n, "unclassified.");
        if (n["action"]) {
            const auto a = text(n["action"], "unclassified.action");
            if (a == "emit")
                u.emit = true;
            else if (a == "drop")
                u.emit = false;
            else
                fail(src_, n["action"], "unclassified.action",
                     fmt::format("'{}' is not emit or drop", a));
        }
        if (n["direction"]) {
            const auto d = text(n["direction"], "unclassified.direction");
            if (d == "ingress")
                u.direction = Direction::ingress;
            else if (d == "egress")
                u.direction = Direction::egress;
            else
                fail(src_, n["direction"], "unclassified.direction",
                     fmt::format("'{}' is not ingress or egress", d));
        }
        if (n["verdict"]) {
            const auto v = text(n["verdict"], "unclassified.verdict");
            if (v == "allowed")
                u.verdict = Verdict::allowed;
            else if (v == "denied")
                u.verdict = Verdict::denied;
            else
                fail(src_, n["verdict"], "unclassified.verdict",
                     fmt::format("'{}' is not allowed or denied", v));
        }
    }

    OutputConfig output(const YAML::Node &o, const std::string &at) {
        OutputConfig out;
        out.where = where(src_, o);
        map(o, at);
        keys(o, at + ".", "outputs[].");
        if (!o["type"]) fail(src_, o, at + ".type", "missing (file, stdout, syslog or journal)");
        const auto type = text(o["type"], at + ".type");
        if (type == "file")
            out.type = OutputType::file;
        else if (type == "stdout")
            out.type = OutputType::stdout_;
        else if (type == "syslog")
            out.type = OutputType::syslog;
        else if (type == "journal")
            out.type = OutputType::journal;
        else
            fail(src_, o["type"], at + ".type",
                 fmt::format("'{}' is not file, stdout, syslog or journal", type));

        if (out.type == OutputType::file) {
            if (!o["path"]) fail(src_, o, at + ".path", "missing: a file output needs a path");
            out.path = nonempty(o["path"], at + ".path");
            out.path_where = where(src_, o["path"]);
            auto t = path_template_parse(out.path);
            if (!t) fail(src_, o["path"], at + ".path", t.error().message);
            out.path_template = std::move(*t);
            const bool routed = out.path_template.templated();
            for (const char *k : {"max_files", "fallback"})
                if (o[k] && !routed)
                    fail(src_, o[k], fmt::format("{}.{}", at, k),
                         "only a path that names a field ({name}) has one");
            if (routed) {
                if (o["max_files"])
                    out.max_files =
                        number<std::uint32_t>(o["max_files"], at + ".max_files", 1, 4096);
                out.fallback = o["fallback"] ? nonempty(o["fallback"], at + ".fallback")
                                             : out.path_template.fallback();
                if (out.fallback.find_first_of("{}") != std::string::npos)
                    fail(src_, o["fallback"], at + ".fallback",
                         "the fallback is one file: it names no field");
            }
        } else if (o["path"]) {
            fail(src_, o["path"], at + ".path",
                 fmt::format("only a file output has a path (this one is {})", type));
        }
        if (out.type == OutputType::syslog) {
            if (!o["address"])
                fail(src_, o, at + ".address",
                     "missing: a syslog output needs an address (e.g. \"udp://127.0.0.1:514\")");
            out.address = nonempty(o["address"], at + ".address");
        } else if (o["address"]) {
            fail(src_, o["address"], at + ".address",
                 fmt::format("only a syslog output has an address (this one is {})", type));
        }

        if (o["format"]) {
            const auto f = text(o["format"], at + ".format");
            const auto parsed = output_format_parse(f);
            if (!parsed)
                fail(src_, o["format"], at + ".format",
                     fmt::format("'{}' is not json, klog, iptables-logger or ecs", f));
            out.format = *parsed;
        }
        if (o["timestamp"]) {
            if (out.format != OutputFormat::iptables_logger)
                fail(src_, o["timestamp"], at + ".timestamp",
                     "only the iptables-logger format has a timestamp style");
            const auto t = text(o["timestamp"], at + ".timestamp");
            if (t == "rfc3339")
                out.timestamp = IptablesLoggerOptions::TimeStyle::rfc3339;
            else if (t == "epoch" || t == "deprecated")
                out.timestamp = IptablesLoggerOptions::TimeStyle::epoch;
            else
                fail(src_, o["timestamp"], at + ".timestamp",
                     fmt::format("'{}' is not rfc3339 or epoch", t));
        }
        if (const auto e = o["extras"]) {
            if (out.format != OutputFormat::json)
                fail(src_, e, at + ".extras", "only the json format has extras");
            if (!e.IsSequence()) fail(src_, e, at + ".extras", "expected a list of names");
            for (std::size_t i = 0; i < e.size(); ++i) {
                const auto key = fmt::format("{}.extras[{}]", at, i);
                const auto name = text(e[i], key);
                auto &x = out.extras;
                if (name == "tcp_flags")
                    x.tcp_flags = true;
                else if (name == "length")
                    x.length = true;
                else if (name == "ttl")
                    x.ttl = true;
                else if (name == "interfaces")
                    x.interfaces = true;
                else if (name == "class")
                    x.class_name = true;
                else if (name == "prefix")
                    x.prefix = true;
                else if (name == "host")
                    x.host = true;
                else if (name == "community_id")
                    x.community_id = true;
                else if (name == "peer")
                    x.peer = true;
                else if (name == "rule")
                    x.rule = true;
                else
                    fail(src_, e[i], key,
                         fmt::format(
                             "unknown extra '{}' (expected one of: tcp_flags, length, "
                             "ttl, interfaces, class, prefix, host, community_id, peer, rule)",
                             name));
            }
        }
        syslog_options(o, at, out);
        journal_options(o, at, out);
        if (const auto m = o["match"]) out.match = match(m, at + ".match");
        return out;
    }

    // `match: {verdict, direction, classes}` of an output (the names are checked against
    // the rules file by config_check_rules, once it is read).
    OutputMatch match(const YAML::Node &m, const std::string &at) {
        OutputMatch out;
        map(m, at);
        keys(m, at + ".", "outputs[].match.");
        if (const auto v = m["verdict"]) {
            const auto t = text(v, at + ".verdict");
            if (t == "allowed")
                out.verdict = Verdict::allowed;
            else if (t == "denied")
                out.verdict = Verdict::denied;
            else
                fail(src_, v, at + ".verdict", fmt::format("'{}' is not allowed or denied", t));
        }
        if (const auto d = m["direction"]) {
            const auto t = text(d, at + ".direction");
            if (t == "ingress")
                out.direction = Direction::ingress;
            else if (t == "egress")
                out.direction = Direction::egress;
            else
                fail(src_, d, at + ".direction", fmt::format("'{}' is not ingress or egress", t));
        }
        if (const auto cl = m["classes"]) {
            if (!cl.IsSequence() || cl.size() == 0)
                fail(src_, cl, at + ".classes",
                     "expected a list of class names from the rules file (leave the key out "
                     "for every class)");
            for (std::size_t i = 0; i < cl.size(); ++i) {
                const auto key = fmt::format("{}.classes[{}]", at, i);
                out.classes.push_back({nonempty(cl[i], key), where(src_, cl[i])});
            }
        }
        return out;
    }

    // `identifier` and `priority` of a journal output (SYSLOG_IDENTIFIER, PRIORITY).
    void journal_options(const YAML::Node &o, const std::string &at, OutputConfig &out) {
        for (const char *k : {"identifier", "priority"})
            if (o[k] && out.type != OutputType::journal)
                fail(src_, o[k], at + "." + k, "only a journal output has this option");
        if (o["identifier"]) out.journal.identifier = nonempty(o["identifier"], at + ".identifier");
        if (o["priority"]) {
            static constexpr std::string_view names[] = {"emerg",   "alert",  "crit", "err",
                                                         "warning", "notice", "info", "debug"};
            out.journal.priority =
                named_number(o["priority"], at + ".priority", names,
                             "emerg, alert, crit, err, warning, notice, info, debug or 0..7");
        }
        if (out.type == OutputType::journal && out.kernel_prefix != KernelPrefix::off)
            fail(src_, o["kernel_prefix"], at + ".kernel_prefix",
                 "a journal output has no kernel prefix (the journal stamps each entry itself)");
    }

    // --- syslog options, kernel_prefix, rate_limit.classes ---
    void syslog_options(const YAML::Node &o, const std::string &at, OutputConfig &out) {
        for (const char *k : {"protocol", "facility", "severity", "app_name", "buffer"})
            if (o[k] && out.type != OutputType::syslog &&
                !(out.type == OutputType::journal && std::string_view(k) == "buffer"))
                fail(src_, o[k], at + "." + k,
                     std::string_view(k) == "buffer"
                         ? "only a syslog or journal output has a buffer"
                         : "only a syslog output has this option");
        // A klog output's kernel prefix names the host too, in a file as on stdout.
        if (o["hostname"] && out.type != OutputType::syslog && out.format != OutputFormat::klog)
            fail(src_, o["hostname"], at + ".hostname",
                 "only a syslog output or a klog output (its kernel_prefix) has a host name");
        auto &s = out.syslog;
        if (o["protocol"]) {
            const auto p = text(o["protocol"], at + ".protocol");
            if (p == "rfc3164")
                s.rfc3164 = true;
            else if (p != "rfc5424")
                fail(src_, o["protocol"], at + ".protocol",
                     fmt::format("'{}' is not rfc5424 or rfc3164", p));
        }
        if (o["facility"]) {
            static constexpr std::string_view names[] = {
                "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
                "uucp",   "cron",   "authpriv", "ftp",    "",       "",       "",       "",
                "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};
            s.facility = named_number(o["facility"], at + ".facility", names,
                                      "kern, user, daemon, local0..local7 or 0..23");
        }
        if (o["severity"]) {
            static constexpr std::string_view names[] = {"emerg",   "alert",  "crit", "err",
                                                         "warning", "notice", "info", "debug"};
            s.severity =
                named_number(o["severity"], at + ".severity", names,
                             "emerg, alert, crit, err, warning, notice, info, debug or 0..7");
        }
        if (o["app_name"]) s.app_name = nonempty(o["app_name"], at + ".app_name");
        if (o["hostname"]) s.hostname = nonempty(o["hostname"], at + ".hostname");
        if (o["buffer"])
            s.buffer = number<std::size_t>(o["buffer"], at + ".buffer", 1024, std::size_t{1} << 30);
        if (const auto k = o["kernel_prefix"]) {
            if (out.format != OutputFormat::klog)
                fail(src_, k, at + ".kernel_prefix", "only the klog format has a kernel prefix");
            const auto v = text(k, at + ".kernel_prefix");
            if (v == "true")
                out.kernel_prefix = KernelPrefix::host;
            else if (v == "traditional")
                out.kernel_prefix = KernelPrefix::traditional;
            else if (v == "rfc3339")
                out.kernel_prefix = KernelPrefix::rfc3339;
            else if (v != "false")
                fail(src_, k, at + ".kernel_prefix",
                     fmt::format("'{}' is not true, false, traditional or rfc3339", v));
        }
    }

    template <std::size_t N>
    int named_number(const YAML::Node &n, const std::string &key,
                     const std::string_view (&names)[N], std::string_view expected) {
        const auto v = text(n, key);
        for (std::size_t i = 0; i < N; ++i)
            if (!names[i].empty() && v == names[i]) return static_cast<int>(i);
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() < 4 &&
            std::stoi(v) < static_cast<int>(N))
            return std::stoi(v);
        fail(src_, n, key, fmt::format("'{}' is not one of: {}", v, expected));
    }

    void rate_limit_classes(const YAML::Node &cl, RateLimitConfig &rl) {
        map(cl, "rate_limit.classes");
        for (const auto &kv : cl) {
            const auto name = kv.first.Scalar();
            const auto key = "rate_limit.classes." + name;
            map(kv.second, key);
            keys(kv.second, key + ".", "rate_limit.classes.<class>.");
            RateLimitConfig::ClassOverride ov;
            ov.name = name;
            ov.where = where(src_, kv.first);
            if (!kv.second["rate"])
                fail(src_, kv.second, key + ".rate", "missing (events per second, 0: no limit)");
            const auto &rn = kv.second["rate"];
            if (!(rn.IsScalar() && rn.Scalar() == "0")) ov.rate = positive_real(rn, key + ".rate");
            ov.burst = kv.second["burst"]
                           ? number<std::uint32_t>(kv.second["burst"], key + ".burst", 1, 1u << 30)
                           : static_cast<std::uint32_t>(std::max(1.0, ov.rate * 2));
            rl.classes.push_back(std::move(ov));
        }
    }

    std::string src_;
};

} // namespace

std::vector<std::string> config_known_keys() {
    std::vector<std::string> out;
    for (const auto &t : key_tables)
        for (auto k : t.keys) out.push_back(fmt::format("{}{}", t.section, k));
    return out;
}

Result<bool> config_check_rules(const Config &c, const RulesFile &rules) {
    for (std::size_t i = 0; i < c.outputs.size(); ++i) {
        for (const auto &f : c.outputs[i].path_template.fields()) {
            std::set<std::string> all{"name"}; // the class's own name, as data.rule.name
            for (const auto &d : rules.classes) {
                for (const auto &x : d.fields) all.insert(x.name);
                for (const auto &g : d.group_names) all.insert(g);
            }
            if (all.count(f)) continue;
            std::string list;
            for (const auto &n : all) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
            return make_error(fmt::format("{}: key 'outputs[{}].path': no class of the rules file "
                                          "has the field '{}' ({})",
                                          c.outputs[i].path_where, i, f, "their fields: " + list));
        }
        const auto &names = c.outputs[i].match.classes;
        for (std::size_t k = 0; k < names.size(); ++k) {
            const auto &n = names[k];
            const bool known = std::any_of(rules.classes.begin(), rules.classes.end(),
                                           [&](const ClassDef &d) { return d.name == n.name; });
            if (known) continue;
            std::string list;
            for (const auto &d : rules.classes)
                list += fmt::format("{}{}", list.empty() ? "" : ", ", d.name);
            return make_error(fmt::format("{}: key 'outputs[{}].match.classes[{}]': the rules "
                                          "file has no class '{}' (its classes: {})",
                                          n.where, i, k, n.name, list));
        }
    }
    return true;
}

Result<Config> config_parse(std::string_view yaml_text, std::string_view source_name) {
    try {
        const auto root = YAML::Load(std::string(yaml_text));
        if (!root || root.IsNull())
            return make_error(fmt::format("{}: the file is empty: it needs at least 'rules' and "
                                          "'outputs'",
                                          source_name));
        return Parser(source_name).parse(root);
    } catch (const ParseError &e) {
        return make_error(e.message);
    } catch (const YAML::Exception &e) {
        return make_error(yaml_error_text(e, source_name));
    }
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
