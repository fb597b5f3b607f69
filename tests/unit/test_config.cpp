// netlogd.yaml parsing (include/netlog/config.h). The full example is DESIGN.md's "Config".
#include <doctest/doctest.h>

#include <netlog/config.h>

#include <fmt/format.h>

#include <algorithm>

#include <string>

using namespace netlog;

namespace {

std::string error_of(std::string_view yaml) {
    auto r = config_parse(yaml, "netlogd.yaml");
    REQUIRE_MESSAGE(!r.ok(), "expected a refusal for:\n" << yaml);
    return r.error().message;
}

} // namespace

TEST_CASE("a config with only rules and outputs gets the documented defaults") {
    auto r = config_parse("rules: /etc/netlog/rules/cloudfoundry.yaml\n"
                          "outputs:\n"
                          "  - {type: stdout}\n",
                          "netlogd.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    const auto &c = *r;
    CHECK(c.rules_path == "/etc/netlog/rules/cloudfoundry.yaml");
    CHECK(c.store_path.empty());
    CHECK(c.host_ip.empty());
    CHECK(c.host_guid.empty());
    CHECK(c.source == "network-log-forwarder");
    CHECK(c.nflog.copy_range == 128);
    CHECK(c.nflog.queue_threshold == 64);
    CHECK(c.nflog.flush_timeout_ms == 20);
    CHECK(c.nflog.socket_buffer == 33554432);
    CHECK(c.queue == 65536);
    REQUIRE(c.outputs.size() == 1);
    CHECK(c.outputs[0].type == OutputType::stdout_);
    CHECK(c.outputs[0].format == OutputFormat::json);
    CHECK(c.unclassified.emit);
    CHECK_FALSE(c.rate_limit.has_value());
    CHECK(c.metrics_listen.empty());
}

TEST_CASE("the example config of DESIGN.md parses with every value") {
    // Verbatim from ../shared/DESIGN.md, section "Config".
    const char *yaml =
        R"(rules: /etc/netlog/rules/cloudfoundry.yaml      # classes, shared with netlog-rules
metadata:
  store: /var/vcap/data/container-metadata/store.json
host: {ip: 10.0.16.15, guid: 0455ec2b-11fa-41ab-9d1c-f3a575cd55ea}
source: network-log-forwarder
nflog: {copy_range: 128, queue_threshold: 64, flush_timeout_ms: 20, socket_buffer: 33554432}
queue: 65536
outputs:
  - {type: file, path: /var/log/netlog/netlog.log, format: json}
  - {type: file, path: /var/vcap/sys/log/iptables-logger/iptables.log, format: iptables-logger, timestamp: rfc3339}
  - {type: syslog, address: "tcp://127.0.0.1:5514", format: json}
  - {type: stdout, format: klog}
rate_limit: {rate: 100, burst: 200}              # per container and class; absent = off
metrics: {listen: "127.0.0.1:7561"}
)";
    auto r = config_parse(yaml, "netlogd.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    const auto &c = *r;
    CHECK(c.store_path == "/var/vcap/data/container-metadata/store.json");
    CHECK(c.host_ip == "10.0.16.15");
    CHECK(c.host_guid == "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea");
    REQUIRE(c.outputs.size() == 4);
    CHECK(c.outputs[0].type == OutputType::file);
    CHECK(c.outputs[0].path == "/var/log/netlog/netlog.log");
    CHECK(c.outputs[1].format == OutputFormat::iptables_logger);
    CHECK(c.outputs[1].timestamp == IptablesLoggerOptions::TimeStyle::rfc3339);
    CHECK(c.outputs[2].type == OutputType::syslog);
    CHECK(c.outputs[2].address == "tcp://127.0.0.1:5514");
    CHECK(c.outputs[3].type == OutputType::stdout_);
    CHECK(c.outputs[3].format == OutputFormat::klog);
    REQUIRE(c.rate_limit.has_value());
    CHECK(c.rate_limit->rate == 100);
    CHECK(c.rate_limit->burst == 200);
    CHECK(c.metrics_listen == "127.0.0.1:7561");
}

TEST_CASE("a missing rules key is refused, naming the file, position and key") {
    const auto e = error_of("outputs:\n  - {type: stdout}\n");
    CHECK(e.find("netlogd.yaml:1:1") == 0);
    CHECK(e.find("key 'rules'") != std::string::npos);
    CHECK(e.find("missing") != std::string::npos);
}

TEST_CASE("missing or empty outputs are refused") {
    CHECK(error_of("rules: r.yaml\n").find("key 'outputs'") != std::string::npos);
    const auto e = error_of("rules: r.yaml\noutputs: []\n");
    CHECK(e.find("netlogd.yaml:2:10") == 0);
    CHECK(e.find("empty") != std::string::npos);
}

TEST_CASE("an unknown key is refused at its own line and column") {
    const auto e = error_of("rules: r.yaml\noutputs: [{type: stdout}]\nqueu: 5\n");
    CHECK(e.find("netlogd.yaml:3:1: key 'queu': unknown key") == 0);
    CHECK(e.find("queue") != std::string::npos); // the list of what is allowed
    const auto n = error_of("rules: r.yaml\noutputs: [{type: stdout}]\nnflog: {copy_rang: 5}\n");
    CHECK(n.find("netlogd.yaml:3:9: key 'nflog.copy_rang'") == 0);
    const auto o = error_of("rules: r.yaml\noutputs:\n  - {type: stdout, colour: red}\n");
    CHECK(o.find("netlogd.yaml:3:20: key 'outputs[0].colour'") == 0);
}

TEST_CASE("numbers out of range or of the wrong type are refused with the key") {
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nqueue: lots\n")
              .find("netlogd.yaml:3:8: key 'queue': 'lots' is not a whole number") == 0);
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nnflog: {copy_range: 0}\n")
              .find("key 'nflog.copy_range': 0 is out of range") != std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nnflog: {socket_buffer: 10}\n")
              .find("key 'nflog.socket_buffer'") != std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nrate_limit: {rate: -1}\n")
              .find("key 'rate_limit.rate'") != std::string::npos);
    CHECK(error_of("rules: [a, b]\noutputs: [{type: stdout}]\n")
              .find("key 'rules': expected a string") != std::string::npos);
}

TEST_CASE("each output type needs its own keys and only those") {
    CHECK(
        error_of("rules: r\noutputs:\n  - {type: file}\n").find("key 'outputs[0].path': missing") !=
        std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {type: stdout, path: /x}\n")
              .find("key 'outputs[0].path': only a file output has a path") != std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {type: syslog}\n")
              .find("key 'outputs[0].address': missing") != std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {type: pigeon}\n")
              .find("key 'outputs[0].type': 'pigeon' is not file, stdout, syslog or journal") !=
          std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {format: json}\n")
              .find("key 'outputs[0].type': missing") != std::string::npos);
}

TEST_CASE("formats, timestamp styles and extras are checked") {
    CHECK(error_of("rules: r\noutputs:\n  - {type: stdout, format: xml}\n")
              .find("netlogd.yaml:3:28: key 'outputs[0].format': 'xml' is not json, klog, "
                    "iptables-logger or ecs") == 0);
    CHECK(error_of("rules: r\noutputs:\n  - {type: stdout, timestamp: epoch}\n")
              .find("only the iptables-logger format has a timestamp style") != std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {type: stdout, format: klog, extras: [ttl]}\n")
              .find("only the json format has extras") != std::string::npos);
    CHECK(error_of("rules: r\noutputs:\n  - {type: stdout, extras: [colour]}\n")
              .find("key 'outputs[0].extras[0]': unknown extra 'colour'") != std::string::npos);

    auto r = config_parse("rules: r\noutputs:\n"
                          "  - {type: stdout, extras: [tcp_flags, ttl, class, prefix]}\n"
                          "  - {type: stdout, format: iptables-logger, timestamp: epoch}\n",
                          "netlogd.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(r->outputs[0].extras.tcp_flags);
    CHECK(r->outputs[0].extras.ttl);
    CHECK(r->outputs[0].extras.class_name);
    CHECK(r->outputs[0].extras.prefix);
    CHECK_FALSE(r->outputs[0].extras.length);
    CHECK(r->outputs[1].timestamp == IptablesLoggerOptions::TimeStyle::epoch);
}

TEST_CASE("two file outputs on the same path are refused") {
    CHECK(error_of("rules: r\noutputs:\n  - {type: file, path: /a}\n  - {type: file, path: /a}\n")
              .find("netlogd.yaml:4:24: key 'outputs[1].path': '/a' is already the path of "
                    "another output") == 0);
}

TEST_CASE("the unclassified policy can drop, or emit under a chosen message") {
    auto r = config_parse("rules: r\noutputs: [{type: stdout}]\n"
                          "unclassified: {action: emit, direction: ingress, verdict: allowed}\n",
                          "f");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(r->unclassified.emit);
    CHECK(r->unclassified.direction == Direction::ingress);
    CHECK(r->unclassified.verdict == Verdict::allowed);
    auto d =
        config_parse("rules: r\noutputs: [{type: stdout}]\nunclassified: {action: drop}\n", "f");
    REQUIRE(d.ok());
    CHECK_FALSE(d->unclassified.emit);
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nunclassified: {action: shrug}\n")
              .find("key 'unclassified.action': 'shrug' is not emit or drop") != std::string::npos);
}

TEST_CASE("YAML syntax errors and empty files name the position") {
    CHECK(error_of("rules: r\noutputs: [{type: stdout}\n").find("netlogd.yaml:") == 0);
    CHECK(error_of("").find("netlogd.yaml: the file is empty") == 0);
    CHECK(error_of("- a\n- b\n").find("netlogd.yaml:1:1: key '(top level)'") == 0);
}

TEST_CASE("relative paths are relative to the config file's directory") {
    CHECK(config_resolve_path("/etc/netlog/netlogd.yaml", "rules/cf.yaml") ==
          "/etc/netlog/rules/cf.yaml");
    CHECK(config_resolve_path("/etc/netlog/netlogd.yaml", "/abs/cf.yaml") == "/abs/cf.yaml");
    CHECK(config_resolve_path("netlogd.yaml", "cf.yaml") == "cf.yaml");
}

// Per-class rate limits and syslog output options.
TEST_CASE("rate_limit.classes overrides the rate and burst of named classes") {
    auto r =
        config_parse("rules: r\noutputs: [{type: stdout}]\n"
                     "rate_limit: {rate: 100, burst: 200, classes: "
                     "{asg-egress-denied: {rate: 1, burst: 5}, c2c-ingress-allowed: {rate: 0}}}\n",
                     "f");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    REQUIRE(r->rate_limit);
    CHECK(r->rate_limit->rate == 100);
    CHECK(r->rate_limit->burst == 200);
    REQUIRE(r->rate_limit->classes.size() == 2);
    CHECK(r->rate_limit->classes[0].name == "asg-egress-denied");
    CHECK(r->rate_limit->classes[0].rate == 1);
    CHECK(r->rate_limit->classes[0].burst == 5);
    CHECK(r->rate_limit->classes[0].where == "f:3:47");
    CHECK(r->rate_limit->classes[1].name == "c2c-ingress-allowed");
    CHECK(r->rate_limit->classes[1].rate == 0); // no limit for that class
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\n"
                   "rate_limit: {rate: 1, classes: {x: {rate: 1, bucket: 3}}}\n")
              .find("key 'rate_limit.classes.x.bucket': unknown key") != std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\n"
                   "rate_limit: {rate: 1, classes: {x: {burst: 3}}}\n")
              .find("key 'rate_limit.classes.x.rate': missing") != std::string::npos);
}

TEST_CASE("syslog outputs take protocol, facility, severity, app_name, hostname and buffer") {
    auto r = config_parse(
        "rules: r\noutputs:\n"
        "  - {type: syslog, address: \"udp://127.0.0.1:514\", format: klog,\n"
        "     protocol: rfc3164, facility: local3, severity: warning,\n"
        "     app_name: fw, hostname: cell-1, buffer: 65536}\n"
        "  - {type: syslog, address: \"tcp://127.0.0.1:514\", facility: 0, severity: 7}\n"
        "  - {type: file, path: /tmp/k.log, format: klog, kernel_prefix: true}\n",
        "f");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    const auto &a = r->outputs[0].syslog;
    CHECK(a.rfc3164);
    CHECK(a.facility == 19);
    CHECK(a.severity == 4);
    CHECK(a.app_name == "fw");
    CHECK(a.hostname == "cell-1");
    CHECK(a.buffer == 65536);
    const auto &b = r->outputs[1].syslog;
    CHECK_FALSE(b.rfc3164);
    CHECK(b.facility == 0);
    CHECK(b.severity == 7);
    CHECK(b.app_name.empty());
    CHECK(r->outputs[2].kernel_prefix == KernelPrefix::host);
    CHECK(r->outputs[0].kernel_prefix == KernelPrefix::off);
    const std::string pre = "rules: r\noutputs:\n  - {type: syslog, address: \"udp://h:1\", ";
    CHECK(error_of(pre + "facility: local9}\n")
              .find("key 'outputs[0].facility': 'local9' is not one of") != std::string::npos);
    CHECK(error_of(pre + "severity: 8}\n").find("key 'outputs[0].severity'") != std::string::npos);
    CHECK(error_of(pre + "protocol: rfc9999}\n").find("'rfc9999' is not rfc5424 or rfc3164") !=
          std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: stdout, facility: kern}]\n")
              .find("key 'outputs[0].facility': only a syslog output has this option") !=
          std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: stdout, format: json, kernel_prefix: true}]\n")
              .find("only the klog format has a kernel prefix") != std::string::npos);
}

TEST_CASE("kernel_prefix: true follows the host's rsyslog, or names traditional or rfc3339") {
    const std::string pre = "rules: r\noutputs:\n  - {type: file, path: /tmp/k, format: klog, ";
    for (auto [v, want] : {std::pair{"true", KernelPrefix::host},
                           {"false", KernelPrefix::off},
                           {"traditional", KernelPrefix::traditional},
                           {"rfc3339", KernelPrefix::rfc3339}}) {
        auto r = config_parse(pre + "kernel_prefix: " + v + "}\n", "f");
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
        CHECK(r->outputs[0].kernel_prefix == want);
    }
    CHECK(error_of(pre + "kernel_prefix: iso}\n")
              .find("'iso' is not true, false, traditional or rfc3339") != std::string::npos);
}

TEST_CASE("hostname: on a klog file or stdout output it names the kernel prefix's host") {
    auto r = config_parse("rules: r\noutputs:\n"
                          "  - {type: file, path: /tmp/k, format: klog, kernel_prefix: rfc3339, "
                          "hostname: cell-7}\n"
                          "  - {type: stdout, format: klog, kernel_prefix: true, hostname: c8}\n",
                          "f");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(r->outputs[0].syslog.hostname == "cell-7");
    CHECK(r->outputs[1].syslog.hostname == "c8");
    CHECK(config_summary(*r).find("kernel_prefix rfc3339, hostname cell-7") != std::string::npos);
    CHECK(error_of("rules: r\noutputs: [{type: file, path: /tmp/j, format: json, hostname: h}]\n")
              .find("key 'outputs[0].hostname': only a syslog output or a klog output") !=
          std::string::npos);
}

TEST_CASE("manage_rules: absent means rules are not managed; set, it takes its four keys") {
    const std::string base = "rules: r.yaml\noutputs:\n  - {type: stdout}\n";
    auto none = config_parse(base, "netlogd.yaml");
    REQUIRE_MESSAGE(none.ok(), (none.ok() ? std::string() : none.error().message));
    CHECK(!none->manage_rules);

    auto defaults = config_parse(base + "manage_rules: {}\n", "netlogd.yaml");
    REQUIRE_MESSAGE(defaults.ok(), (defaults.ok() ? std::string() : defaults.error().message));
    REQUIRE(defaults->manage_rules);
    CHECK(defaults->manage_rules->backend == "auto");
    CHECK(defaults->manage_rules->mode == PlanMode::alongside);
    CHECK(defaults->manage_rules->families.size() == 2);
    CHECK(defaults->manage_rules->interval == doctest::Approx(1.0));

    auto all = config_parse(
        base + "manage_rules: {backend: legacy, mode: replace, family: ipv6, interval: 0.25}\n",
        "netlogd.yaml");
    REQUIRE_MESSAGE(all.ok(), (all.ok() ? std::string() : all.error().message));
    CHECK(all->manage_rules->backend == "legacy");
    CHECK(all->manage_rules->mode == PlanMode::replace);
    REQUIRE(all->manage_rules->families.size() == 1);
    CHECK(all->manage_rules->families[0] == Family::ipv6);
    CHECK(all->manage_rules->interval == doctest::Approx(0.25));

    CHECK(error_of(base + "manage_rules: {backend: ebtables}\n") ==
          "netlogd.yaml:4:25: key 'manage_rules.backend': 'ebtables' is not auto, nft or legacy");
    CHECK(error_of(base + "manage_rules: {mode: instead}\n").find("key 'manage_rules.mode'") !=
          std::string::npos);
    CHECK(error_of(base + "manage_rules: {family: ipx}\n").find("key 'manage_rules.family'") !=
          std::string::npos);
    CHECK(error_of(base + "manage_rules: {interval: 0}\n").find("key 'manage_rules.interval'") !=
          std::string::npos);
    CHECK(error_of(base + "manage_rules: {interval: 7200}\n").find("out of range") !=
          std::string::npos);
    CHECK(error_of(base + "manage_rules: {manage: true}\n")
              .find("netlogd.yaml:4:16: key 'manage_rules.manage': unknown key") == 0);
    CHECK(error_of(base + "manage_rules: yes\n").find("key 'manage_rules': expected a mapping") !=
          std::string::npos);
}

TEST_CASE("config_known_keys() is the list the parser checks against") {
    const auto known = config_known_keys();
    const auto has = [&](std::string_view k) {
        return std::find(known.begin(), known.end(), k) != known.end();
    };
    for (auto k : {"rules", "outputs", "nflog.netlink_buffer", "outputs[].kernel_prefix",
                   "outputs[].facility", "rate_limit.classes", "rate_limit.classes.<class>.burst",
                   "unclassified.action", "user", "metrics.listen"})
        CHECK_MESSAGE(has(k), k);
    CHECK_FALSE(has("outputs[].paht"));
    // The refusal of an unknown key lists exactly the known keys of its section.
    const auto e = error_of("rules: r\noutputs: [{type: stdout, bogus: 1}]\n");
    std::string want;
    for (const auto &k : known) // the section's own keys, not those of a mapping in it
        if (k.rfind("outputs[].", 0) == 0 && k.find('.', 10) == std::string::npos)
            want += (want.empty() ? "" : ", ") + k.substr(std::string_view("outputs[].").size());
    CHECK(e.find(fmt::format("key 'outputs[0].bogus': unknown key (expected one of: {})", want)) !=
          std::string::npos);
    std::string top;
    for (const auto &k : known)
        if (k.find_first_of(".[") == std::string::npos) top += (top.empty() ? "" : ", ") + k;
    CHECK(error_of("rules: r\noutputs: [{type: stdout}]\nbogus: 1\n")
              .find(fmt::format("(expected one of: {})", top)) != std::string::npos);
}

TEST_CASE("metrics: {} listens on the default address, 127.0.0.1:7561") {
    auto r = config_parse("rules: r\noutputs: [{type: stdout}]\nmetrics: {}\n", "netlogd.yaml");
    REQUIRE(r.ok());
    CHECK(r->metrics_listen == "127.0.0.1:7561");
    CHECK(std::string_view(default_metrics_listen) == "127.0.0.1:7561");
}
