// netlogd --replay: a DLT_NFLOG capture through the live pipeline, lines to stdout.
#pragma once

#include <optional>
#include <string>

#include <netlog/config.h>

namespace netlog::daemon {

struct ReplayOptions {
    std::string capture;
    std::string config_path;            // empty: built-in rules, seed JSON
    std::string rules_path;             // overrides the config's / built-in rules
    std::optional<OutputFormat> format; // default: json (or the config's first output)
    bool resolve_interfaces = true;     // ifindex -> name in the current netns
};

int replay(const ReplayOptions &o);

} // namespace netlog::daemon
