// netlogd's configuration (netlogd.yaml, ../shared/DESIGN.md "Config") as a value,
// parsed from text. Only `rules` and `outputs` are required; every refusal names the
// file, line, column and key, and says what is expected.
#pragma once

#include <netlog/classes.h>
#include <netlog/format.h>
#include <netlog/path_template.h>
#include <netlog/result.h>
#include <netlog/rule_mode.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

// The metrics listener's default address. 7561: Prometheus's list of exporter ports has
// every port of 9100-9999 taken (and new exporters get 10000 and up), so any port there
// is some exporter's; 7561 is outside both, below the kernel's ephemeral range, and no
// service or exporter we know of uses it (9273, the old default, is Telegraf's).
inline constexpr const char *default_metrics_listen = "127.0.0.1:7561";

enum class OutputType : std::uint8_t { file, stdout_, syslog, journal };
enum class OutputFormat : std::uint8_t { json, klog, iptables_logger, ecs };

std::string_view to_string(OutputType t);
std::string_view to_string(OutputFormat f);
// "json", "klog", "iptables-logger", "ecs"; nullopt for anything else.
std::optional<OutputFormat> output_format_parse(std::string_view name);

// Optional extras of the json format (JsonOptions), named as in `extras: [...]`.
struct JsonExtras {
    bool tcp_flags = false, length = false, ttl = false, interfaces = false;
    bool class_name = false, prefix = false, host = false;
    bool community_id = false;
    bool peer = false;
    bool rule = false;
};

// Journal options of a `type: journal` output. Unset values keep the defaults:
// SYSLOG_IDENTIFIER "netlogd", PRIORITY the LOG rule's level for klog, else 6 (info).
struct JournalOutputOptions {
    std::string identifier; // SYSLOG_IDENTIFIER; "kernel" gives a kern.log-like view
    int priority = -1;      // 0..7; names emerg .. debug
};

// Syslog options of a `type: syslog` output. Unset values keep the sink's
// defaults (RFC 5424, facility user -- kern for the klog format --, severity info,
// app-name "netlogd" -- "kernel" for klog --, the host's name, an 8 MiB buffer).
struct SyslogOutputOptions {
    bool rfc3164 = false; // protocol: rfc5424 | rfc3164
    int facility = -1;    // 0..23; names kern, user, ..., local0..local7
    int severity = -1;    // 0..7; names emerg .. debug (klog: unset = the rule's level)
    std::string app_name;
    std::string hostname;   // also a klog kernel prefix's HOST (file and stdout too)
    std::size_t buffer = 0; // bytes; 0 = default (also a journal output's)
};

// klog's kern.log line head (`kernel_prefix`): as rsyslog writes kernel lines to a file.
// traditional: "Dec  2 08:09:12 HOST kernel: [ 4586.009102] " (RSYSLOG_TraditionalFileFormat)
// rfc3339:     "2026-12-02T08:09:12.760529+00:00 HOST kernel: [ 4586.009260] " (RSYSLOG_FileFormat,
//              rsyslog's default, Debian 12's kern.log)
// host:        the one the host's rsyslog configuration asks for (`kernel_prefix: true`).
enum class KernelPrefix : std::uint8_t { off, host, traditional, rfc3339 };
std::string_view to_string(KernelPrefix k);

// `match:` of an output: the events it takes. Each key is optional and all given must hold;
// without a match an output takes every event. An event no output takes is counted as
// `filtered` (pipeline.h), never silently lost.
struct OutputMatch {
    std::optional<Verdict> verdict;
    std::optional<Direction> direction;
    struct ClassName {
        std::string name;
        std::string where; // "FILE:LINE:COL", for a name the rules file does not have
    };
    std::vector<ClassName> classes; // empty: any class; else only these (unclassified: none)
    bool any() const { return !verdict && !direction && classes.empty(); }
};

struct OutputConfig {
    OutputType type = OutputType::stdout_;
    OutputFormat format = OutputFormat::json;
    std::string path; // file
    // A file path naming class fields ({firewall_id}): one file per value, opened on first
    // use, at most max_files; the events past that or without a value go to `fallback`.
    PathTemplate path_template;
    std::string fallback;
    std::uint32_t max_files = 64;
    std::string path_where; // "FILE:LINE:COL" of `path`
    std::string address;    // syslog: "udp://HOST:PORT", "tcp://...", "unix:///dev/log"
    IptablesLoggerOptions::TimeStyle timestamp = IptablesLoggerOptions::TimeStyle::rfc3339;
    JsonExtras extras;
    SyslogOutputOptions syslog;
    JournalOutputOptions journal;
    KernelPrefix kernel_prefix = KernelPrefix::off; // klog: kern.log's line head before each line
    OutputMatch match;
    std::string where; // "FILE:LINE:COL" of the entry, for messages about it
};

// NFLOG socket settings (the rule's own --nflog-size still caps the copy).
struct NflogSocketConfig {
    std::uint32_t copy_range = 128;          // bytes of each packet copied (NFULA_CFG_MODE)
    std::uint32_t queue_threshold = 64;      // messages per netlink batch (NFULA_CFG_QTHRESH)
    std::uint32_t flush_timeout_ms = 20;     // batch flush timeout (NFULA_CFG_TIMEOUT)
    std::uint32_t socket_buffer = 32u << 20; // SO_RCVBUFFORCE bytes
    std::uint32_t netlink_buffer = 16000;    // NFULA_CFG_NLBUFSIZ: one 16 KiB skb holds a whole
                                             // queue_threshold batch (0 = kernel default)
};

// What happens to an event whose prefix matches no class.
struct UnclassifiedPolicy {
    bool emit = true; // false: counted and dropped
    Direction direction = Direction::egress;
    Verdict verdict = Verdict::denied;
};

struct RateLimitConfig {
    double rate = 0; // events per second per container and class
    std::uint32_t burst = 0;
    // Per-class overrides, `classes: {<class name>: {rate, burst}}` (rate 0: no limit).
    struct ClassOverride {
        std::string name;
        double rate = 0;
        std::uint32_t burst = 0;
        std::string where; // "FILE:LINE:COL", for an unknown class name
    };
    std::vector<ClassOverride> classes;
};

// `manage_rules:` (absent: netlogd never touches the firewall). netlogd installs the NFLOG
// companions of the rules file's classes at start and keeps them in place (the loop of
// `netlog-rules watch`); they stay on exit (`netlog-rules remove` removes them).
struct ManageRulesConfig {
    std::string backend = "auto"; // auto | nft | legacy
    PlanMode mode = PlanMode::alongside;
    std::vector<Family> families{Family::ipv4, Family::ipv6}; // family: all | ipv4 | ipv6
    double interval = 1.0; // seconds: legacy poll period, nft wait timeout
};

// `connections:` what became of the connections whose first packet was logged as allowed
// (netlog/conntrack.h). Off by default.
struct ConnectionsConfig {
    bool outcomes = false;             // <direction>-failed: refused | unanswered | unreachable
    bool flow_end = false;             // <direction>-closed: duration, packets and bytes each way
    std::uint32_t max_tracked = 65536; // connections followed at once; more are counted
    bool enabled() const { return outcomes || flow_end; }
};

// Where container metadata comes from (`metadata.source`).
enum class MetadataSource : std::uint8_t { none, cf_store, docker, podman };
std::string_view to_string(MetadataSource s); // "none", "cf-store", "docker", "podman"

// `metadata: {source: docker|podman, socket, labels, grace}`: the daemon's API socket.
struct EngineSourceConfig {
    std::string socket;              // a unix socket's path (from "unix:///path" or "/path")
    std::vector<std::string> labels; // the label keys the json output carries
    double grace = 60;               // seconds a gone container stays known
};

// The socket each runtime listens on by default (rootful).
inline constexpr const char *default_docker_socket = "/var/run/docker.sock";
inline constexpr const char *default_podman_socket = "/run/podman/podman.sock";

struct Config {
    std::string source_name; // the file it came from
    std::string rules_path;  // as written; relative paths are relative to the config file
    MetadataSource metadata_source = MetadataSource::none;
    std::string store_path;    // cf-store: store.json (given alone, `store` means cf-store)
    EngineSourceConfig engine; // docker, podman
    std::string host_ip, host_guid;
    std::string source = "network-log-forwarder";
    NflogSocketConfig nflog;
    std::size_t queue = 65536; // events waiting between reader and pipeline
    std::vector<OutputConfig> outputs;
    UnclassifiedPolicy unclassified;
    std::optional<RateLimitConfig> rate_limit;
    std::string metrics_listen; // empty: off; `metrics: {}` gives default_metrics_listen
    std::string user; // after binding, switch to this user (no capabilities); empty: stay uid 0
    std::optional<ManageRulesConfig> manage_rules; // absent: rules are not managed
    ConnectionsConfig connections;
};

// Parse netlogd.yaml text. Errors: "<source>:<line>:<col>: key '<key>': <what to do>".
Result<Config> config_parse(std::string_view yaml_text, std::string_view source_name);

// What a config says about the rules file's classes, checked once both are read: every
// class an output's `match.classes` names exists. The error names the config's FILE:LINE:COL
// and key, and lists the classes the rules file has.
Status config_check_rules(const Config &c, const RulesFile &rules);

// `rules_path` resolved against the directory of `config_path` when relative.
std::string config_resolve_path(std::string_view config_path, std::string_view path);

// Every key the parser accepts, dotted, from the parser's own tables: "rules",
// "nflog.copy_range", "outputs[].format", "rate_limit.classes.<class>.rate", ... (the
// manual netlogd.yaml(5) and packaging/netlogd.yaml are tested against this list).
std::vector<std::string> config_known_keys();

// A one-paragraph human summary (for --check-config).
std::string config_summary(const Config &c);

} // namespace netlog
