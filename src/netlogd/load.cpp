// Config and rules from files; the built-in rules from the build (default_rules.inc).
#include "load.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace netlog::daemon {

namespace {
constexpr const char builtin_rules_text[] =
#include "default_rules.inc"
    ;
} // namespace

const char *const builtin_rules_name = "(built-in rules/cloudfoundry.yaml)";

Result<std::string> read_text(const std::string &path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return make_error(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
    return ss.str();
}

Result<std::unique_ptr<RulesFile>> load_rules(const std::string &path) {
    auto text = read_text(path, "the rules file");
    if (!text) return text.error();
    auto rules = rules_parse(*text, path);
    if (!rules) return rules.error();
    return std::make_unique<RulesFile>(std::move(*rules));
}

std::unique_ptr<RulesFile> builtin_rules() {
    auto r = rules_parse(builtin_rules_text, builtin_rules_name);
    if (!r) {
        fmt::print(stderr, "netlogd: internal error: {}\n", r.error().message);
        std::abort();
    }
    return std::make_unique<RulesFile>(std::move(*r));
}

Result<Loaded> load_config(const std::string &path) {
    auto text = read_text(path, "the config file");
    if (!text)
        return make_error(text.error().message +
                          (errno == ENOENT ? " (give one with -c FILE)" : ""));
    auto cfg = config_parse(*text, path);
    if (!cfg) return cfg.error();
    Loaded l;
    l.config = std::move(*cfg);
    l.rules_source = config_resolve_path(path, l.config.rules_path);
    auto rules = load_rules(l.rules_source);
    if (!rules)
        return make_error(fmt::format("{} (named by 'rules' in {})", rules.error().message, path));
    l.rules = std::move(*rules);
    if (!l.config.store_path.empty())
        l.config.store_path = config_resolve_path(path, l.config.store_path);
    for (auto &o : l.config.outputs)
        if (o.type == OutputType::file) o.path = config_resolve_path(path, o.path);
    return l;
}

} // namespace netlog::daemon
