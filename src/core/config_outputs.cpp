// netlogd.yaml's outputs[] entries: type and path, format and its options, match, and the
// syslog and journal options; the checks between an entry's keys happen here.
#include "config_parser.h"

#include <string>

namespace netlog::config_yaml {

OutputConfig Parser::output(const YAML::Node &o, const std::string &at) {
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
                out.max_files = number<std::uint32_t>(o["max_files"], at + ".max_files", 1, 4096);
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
                     fmt::format("unknown extra '{}' (expected one of: tcp_flags, length, "
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
OutputMatch Parser::match(const YAML::Node &m, const std::string &at) {
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
void Parser::journal_options(const YAML::Node &o, const std::string &at, OutputConfig &out) {
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

// --- syslog options, kernel_prefix ---
void Parser::syslog_options(const YAML::Node &o, const std::string &at, OutputConfig &out) {
    for (const char *k : {"protocol", "facility", "severity", "app_name", "buffer"})
        if (o[k] && out.type != OutputType::syslog &&
            !(out.type == OutputType::journal && std::string_view(k) == "buffer"))
            fail(src_, o[k], at + "." + k,
                 std::string_view(k) == "buffer" ? "only a syslog or journal output has a buffer"
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
        s.severity = named_number(o["severity"], at + ".severity", names,
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

} // namespace netlog::config_yaml
