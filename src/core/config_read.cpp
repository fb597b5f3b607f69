// Reading netlogd.yaml's nodes: the keys each section accepts (one table, also what
// config_known_keys() exports) and typed scalars, each refusal naming file:line:column and key.
#include "config_parser.h"

#include <algorithm>
#include <stdexcept>

namespace netlog {

namespace {

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

} // namespace

namespace config_yaml {

std::string where(std::string_view source, const YAML::Node &node) {
    const auto m = node.Mark();
    if (m.is_null()) return std::string(source);
    return fmt::format("{}:{}:{}", source, m.line + 1, m.column + 1);
}

[[noreturn]] void fail(std::string_view source, const YAML::Node &node, std::string_view key,
                       std::string_view what) {
    throw ParseError{fmt::format("{}: key '{}': {}", where(source, node), key, what)};
}

void Parser::map(const YAML::Node &n, std::string_view key) {
    if (!n.IsMap()) fail(src_, n, key, "expected a mapping");
}

void Parser::keys(const YAML::Node &m, std::string_view prefix, std::string_view section) {
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

std::string Parser::text(const YAML::Node &n, std::string_view key) {
    if (!n.IsScalar()) fail(src_, n, key, "expected a string");
    return n.Scalar();
}

std::string Parser::nonempty(const YAML::Node &n, std::string_view key) {
    auto s = text(n, key);
    if (s.empty()) fail(src_, n, key, "must not be empty");
    return s;
}

double Parser::positive_real(const YAML::Node &n, std::string_view key) {
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

bool Parser::boolean(const YAML::Node &n, std::string_view key) {
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false"))
        return n.Scalar() == "true";
    fail(src_, n, key,
         fmt::format("expected true or false, not '{}'",
                     n.IsScalar() ? n.Scalar() : "a collection"));
}

} // namespace config_yaml

std::vector<std::string> config_known_keys() {
    std::vector<std::string> out;
    for (const auto &t : key_tables)
        for (auto k : t.keys) out.push_back(fmt::format("{}{}", t.section, k));
    return out;
}

} // namespace netlog
