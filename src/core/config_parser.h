// The netlogd.yaml parser, shared by the files that read its sections: one Parser whose
// readers refuse bad input with file:line:column and key (a ParseError config_parse returns).
#pragma once

#include <netlog/config.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

namespace netlog::config_yaml {

struct ParseError {
    std::string message;
};

std::string where(std::string_view source, const YAML::Node &node);
[[noreturn]] void fail(std::string_view source, const YAML::Node &node, std::string_view key,
                       std::string_view what);

class Parser {
  public:
    explicit Parser(std::string_view source) : src_(source) {}

    Config parse(const YAML::Node &root);

  private:
    void map(const YAML::Node &n, std::string_view key);

    // The keys of mapping `m` must be in the table of `section`; `prefix` is how the
    // message names the section ("outputs[2]." for the table "outputs[].").
    void keys(const YAML::Node &m, std::string_view prefix) { keys(m, prefix, prefix); }
    void keys(const YAML::Node &m, std::string_view prefix, std::string_view section);
    std::string text(const YAML::Node &n, std::string_view key);
    std::string nonempty(const YAML::Node &n, std::string_view key);

    template <class T> T number(const YAML::Node &n, std::string_view key, T lo, T hi) {
        if (!n.IsScalar()) fail(src_, n, key, "expected a number");
        long long v = 0;
        try {
            v = n.as<long long>();
        } catch (const YAML::Exception &) {
            fail(src_, n, key, fmt::format("'{}' is not a whole number", n.Scalar()));
        }
        if (v < static_cast<long long>(lo) || v > static_cast<long long>(hi))
            fail(src_, n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
        return static_cast<T>(v);
    }

    double positive_real(const YAML::Node &n, std::string_view key);
    void metadata(const YAML::Node &m, Config &c);
    void nflog(const YAML::Node &n, NflogSocketConfig &s);
    bool boolean(const YAML::Node &n, std::string_view key);
    void connections(const YAML::Node &n, ConnectionsConfig &c);
    ManageRulesConfig manage_rules(const YAML::Node &n);
    void unclassified(const YAML::Node &n, UnclassifiedPolicy &u);
    OutputConfig output(const YAML::Node &o, const std::string &at);
    OutputMatch match(const YAML::Node &m, const std::string &at);
    void journal_options(const YAML::Node &o, const std::string &at, OutputConfig &out);
    void syslog_options(const YAML::Node &o, const std::string &at, OutputConfig &out);

    template <std::size_t N>
    int named_number(const YAML::Node &n, const std::string &key,
                     const std::string_view (&names)[N], std::string_view expected) {
        const auto v = text(n, key);
        for (std::size_t i = 0; i < N; ++i)
            if (!names[i].empty() && v == names[i]) return static_cast<int>(i);
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() < 4 &&
            std::stoi(v) < static_cast<int>(N))
            return std::stoi(v);
        fail(src_, n, key, fmt::format("'{}' is not one of: {}", v, expected));
    }

    void rate_limit_classes(const YAML::Node &cl, RateLimitConfig &rl);

    std::string src_;
};

} // namespace netlog::config_yaml
