// netlogd: NFLOG events to structured, enriched log lines.
//   netlogd [-c FILE]                      run (default /etc/netlog/netlogd.yaml)
//   netlogd --check-config [-c FILE]       validate and summarise
//   netlogd --replay CAPTURE [-c FILE] [--format json|klog|iptables-logger|ecs]
//   netlogd --stats [-c FILE]              scrape the running daemon, print the identity
//   netlogd --reload [-c FILE] [--pid PID] reload the running daemon, wait for the outcome
#include "daemon.h"
#include "load.h"
#include "rsyslog_host.h"
#include "ops.h"
#include "privileges.h"
#include "replay.h"
#include "cli_usage.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>

namespace {

constexpr const char *default_config = "/etc/netlog/netlogd.yaml";

int check_config(const std::string &path) {
    auto l = netlog::daemon::load_config(path);
    if (!l) {
        fmt::print(stderr, "netlogd: {}\n", l.error().message);
        return 1;
    }
    if (auto err = netlog::daemon::preflight_outputs(l->config); !err.empty()) {
        fmt::print(stderr, "netlogd: {}\n", err);
        return 1;
    }
    fmt::print("{}\n", netlog::config_summary(l->config));
    for (const auto &o : l->config.outputs)
        if (o.format == netlog::OutputFormat::klog &&
            o.kernel_prefix == netlog::KernelPrefix::host) {
            const auto f = netlog::io::host_kern_log_format();
            fmt::print("kernel_prefix: {} ({})\n", netlog::to_string(f.style), f.why);
            break;
        }
    std::string groups;
    for (auto g : l->rules->groups()) groups += fmt::format("{}{}", groups.empty() ? "" : ",", g);
    fmt::print("rules {}: {} classes, NFLOG group(s) {}\n", l->rules_source,
               l->rules->classes.size(), groups);
    for (const auto &c : l->rules->classes)
        fmt::print("  {} '{}' -> {}-{} (group {})\n", c.name, c.log_prefix,
                   netlog::to_string(c.direction), netlog::to_string(c.verdict),
                   c.effective_group(l->rules->nflog));
    fmt::print("config OK\n");
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"netlogd: firewall (NFLOG) events to structured, enriched log lines"};
    std::string config;
    bool check = false;
    netlog::daemon::ReplayOptions ro;
    std::string format;
    app.add_option("-c,--config", config, fmt::format("config file (default {})", default_config));
    app.add_flag("--check-config", check,
                 "validate the config and its rules file, print a summary");
    bool reload = false;
    std::string reload_pid;
    app.add_flag("--reload", reload,
                 "ask the running netlogd to reload its config and wait for "
                 "the outcome (exit 1 if it refused it); for ExecReload");
    app.add_option("--pid", reload_pid,
                   "--reload: netlogd's pid (default: $MAINPID, as systemd "
                   "sets it for ExecReload)");
    bool stats = false;
    app.add_flag("--stats", stats,
                 "ask the running netlogd (its metrics.listen) for its counters "
                 "and print the accounting identity");
    app.add_option("--replay", ro.capture,
                   "run the pipeline over a DLT_NFLOG capture (tcpdump -i nflog:N -w FILE), "
                   "lines to stdout");
    app.add_option("--format", format,
                   "replay output format: json (default), klog, iptables-logger, ecs")
        ->check(CLI::IsMember({"json", "klog", "iptables-logger", "ecs"}));
    app.add_option("--rules", ro.rules_path,
                   "replay: rules file (default: the config's, else "
                   "the built-in rules/cloudfoundry.yaml)");
    app.add_flag("--resolve-interfaces,!--no-resolve-interfaces", ro.resolve_interfaces,
                 "replay: name interfaces by looking up their index in this network namespace "
                 "(default on)");
    app.set_version_flag("--version", "netlogd " NETLOG_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return netlog::usage_error(app, e, "netlogd");
    }

    if (!format.empty() && ro.capture.empty()) {
        fmt::print(stderr, "netlogd: --format only applies to --replay; set formats in the "
                           "config's outputs\n");
        return 2;
    }
    if (check) return check_config(config.empty() ? default_config : config);
    if (stats) return netlog::daemon::stats_command(config.empty() ? default_config : config);
    if (reload) {
        if (reload_pid.empty() && std::getenv("MAINPID")) reload_pid = std::getenv("MAINPID");
        return netlog::daemon::reload_command(config.empty() ? default_config : config, reload_pid);
    }
    if (!ro.capture.empty()) {
        ro.config_path = config;
        if (!format.empty()) ro.format = netlog::output_format_parse(format);
        return netlog::daemon::replay(ro);
    }
    if (const auto problem = netlog::io::privilege_problem(); !problem.empty()) {
        fmt::print(stderr, "{}\n", problem);
        return 1;
    }
    return netlog::daemon::run(config.empty() ? default_config : config);
}
