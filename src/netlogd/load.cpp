// Config and rules from files; the built-in rules from the build (default_rules.inc).
#include "load.h"

#include "safe_file.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace netlog::daemon {

namespace {
constexpr const char builtin_rules_text[] =
#include "default_rules.inc"
    ;
} // namespace

const char *const builtin_rules_name = "(built-in rules/cloudfoundry.yaml)";

namespace {

// What to do about a file netlogd cannot open, by errno.
std::string unreadable_advice(int err, std::string_view what) {
    switch (err) {
    case ENOENT:
        return what == "the config file"
                   ? " (give another with -c FILE; /etc/netlog/netlogd.yaml is the installed "
                     "example, netlogd.yaml(5) describes every key)"
                   : " (check the path in the config)";
    case EACCES:
    case EPERM:
        return fmt::format(" (netlogd runs as uid {}: make the file and its directories "
                           "readable by it; for the shipped unit's user netlog: "
                           "chgrp netlog FILE && chmod 0640 FILE)",
                           geteuid());
    case EISDIR:
    case EINVAL: return " (give the path of a regular file)";
    case EFBIG: return " (is it the right file?)";
    default: return {};
    }
}

} // namespace

Result<std::string> read_text(const std::string &path, std::string_view what) {
    // Non-blocking and capped: a FIFO, /dev/zero or a huge file in place of the config is
    // refused at once, never waited on or read into memory. A link is followed (the
    // config's and rules' paths are the administrator's), but must lead to a regular file.
    io::OpenFailure why;
    auto text = io::read_regular(path, max_config_bytes, false, nullptr, &why);
    if (!text)
        return make_error(fmt::format("cannot read {} {}: {}{}", what, path, why.message,
                                      unreadable_advice(why.err, what)));
    return text;
}

std::string config_key_where(const std::string &config_path, std::string_view dotted) {
    std::string key(dotted);
    try {
        auto text = read_text(config_path, "the config file");
        if (!text) return fmt::format("{}: key '{}'", config_path, key);
        YAML::Node node = YAML::Load(*text);
        std::string_view rest = dotted;
        while (!rest.empty() && node && node.IsMap()) {
            const auto dot = rest.find('.');
            node = node[std::string(rest.substr(0, dot))];
            rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        }
        if (node && !node.Mark().is_null())
            return fmt::format("{}:{}:{}: key '{}'", config_path, node.Mark().line + 1,
                               node.Mark().column + 1, key);
    } catch (const YAML::Exception &) {}
    return fmt::format("{}: key '{}'", config_path, key);
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
    if (!text) return text.error(); // says what to do (read_text)
    auto cfg = config_parse(*text, path);
    if (!cfg) return cfg.error();
    Loaded l;
    l.config = std::move(*cfg);
    l.rules_source = config_resolve_path(path, l.config.rules_path);
    // A rules file that cannot be read is the config's mistake (named at its 'rules' key);
    // one that cannot be parsed names its own file, line and key.
    auto rules_text = read_text(l.rules_source, "the rules file");
    if (!rules_text)
        return make_error(
            fmt::format("{}: {}", config_key_where(path, "rules"), rules_text.error().message));
    auto rules = rules_parse(*rules_text, l.rules_source);
    if (!rules) return rules.error();
    l.rules = std::make_unique<RulesFile>(std::move(*rules));
    if (auto ok = config_check_rules(l.config, *l.rules); !ok) return ok.error();
    if (!l.config.store_path.empty())
        l.config.store_path = config_resolve_path(path, l.config.store_path);
    for (auto &o : l.config.outputs)
        if (o.type == OutputType::file) o.path = config_resolve_path(path, o.path);
    return l;
}

} // namespace netlog::daemon
