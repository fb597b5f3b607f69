// netlogd.yaml parsing, text in, Config out: the top level and the daemon's own sections
// (metadata, nflog, rate_limit, ...); each outputs[] entry is read in config_outputs.cpp.
#include <netlog/config.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config_parser.h"
#include "yaml_syntax.h"

#include <algorithm>
#include <set>

namespace netlog {

namespace config_yaml {

Config Parser::parse(const YAML::Node &root) {
    Config c;
    c.source_name = src_;
    if (!root.IsMap())
        fail(src_, root, "(top level)", "expected a mapping with at least 'rules' and 'outputs'");
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
        if (o.type == OutputType::file && !o.fallback.empty() && !paths.insert(o.fallback).second)
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
        rl.burst = r["burst"] ? number<std::uint32_t>(r["burst"], "rate_limit.burst", 1, 1u << 30)
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

// `metadata: {source, store, socket, labels, grace}`. `store` alone is the CF store
// (as before there was a `source`); docker and podman read the daemon's API socket.
void Parser::metadata(const YAML::Node &m, Config &c) {
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
    e.socket =
        c.metadata_source == MetadataSource::docker ? default_docker_socket : default_podman_socket;
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

void Parser::nflog(const YAML::Node &n, NflogSocketConfig &s) {
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

void Parser::connections(const YAML::Node &n, ConnectionsConfig &c) {
    map(n, "connections");
    keys(n, "connections.");
    if (n["outcomes"]) c.outcomes = boolean(n["outcomes"], "connections.outcomes");
    if (n["flow_end"]) c.flow_end = boolean(n["flow_end"], "connections.flow_end");
    if (n["max_tracked"])
        c.max_tracked =
            number<std::uint32_t>(n["max_tracked"], "connections.max_tracked", 1, 1u << 24);
}

// `manage_rules: {backend, mode, family, interval}`; `manage_rules: {}` takes the defaults.
ManageRulesConfig Parser::manage_rules(const YAML::Node &n) {
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
                 fmt::format("{} is out of range [0.01, 3600] (seconds)", n["interval"].Scalar()));
    }
    return m;
}

void Parser::unclassified(const YAML::Node &n, UnclassifiedPolicy &u) {
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

void Parser::rate_limit_classes(const YAML::Node &cl, RateLimitConfig &rl) {
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

} // namespace config_yaml

using config_yaml::ParseError;
using config_yaml::Parser;

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

} // namespace netlog
