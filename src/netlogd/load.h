// Reading netlogd's inputs from disk: the config, the rules file it names, the built-in
// Cloud Foundry rules (for --replay without a config). One-line errors for the user.
#pragma once

#include <netlog/classes.h>
#include <netlog/config.h>
#include <netlog/result.h>

#include <memory>
#include <string>

namespace netlog::daemon {

// A config or rules file: a regular file of at most max_config_bytes, read without
// blocking; the error says what the path is and what to do.
constexpr std::size_t max_config_bytes = 4u << 20;
Result<std::string> read_text(const std::string &path, std::string_view what);

struct Loaded {
    Config config;
    std::unique_ptr<RulesFile> rules; // stable address: the classifier points into it
    std::string rules_source;         // the path it came from, or "(built-in ...)"
};

// "FILE:LINE:COL: key 'a.b'" for a key of the config file at `config_path` (a dotted path
// of mapping keys), for refusals found after parsing it: a rules file or a store that cannot
// be read. Without a position (the file changed meanwhile): "FILE: key 'a.b'".
std::string config_key_where(const std::string &config_path, std::string_view dotted);

// The config at `path` and the rules file it names (relative to the config's directory).
Result<Loaded> load_config(const std::string &path);
Result<std::unique_ptr<RulesFile>> load_rules(const std::string &path);
// rules/cloudfoundry.yaml as built into the binary.
std::unique_ptr<RulesFile> builtin_rules();
extern const char *const builtin_rules_name;

} // namespace netlog::daemon
