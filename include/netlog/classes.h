// The rules file (rules/*.yaml): NFLOG settings and the ordered classes that map a log
// prefix to a direction and a verdict. Shared by netlogd (classification) and
// netlog-rules (which LOG rules get an NFLOG companion).
#pragma once

#include <netlog/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace re2 {
class RE2;
}

namespace netlog {

enum class Direction : std::uint8_t { ingress, egress };
enum class Verdict : std::uint8_t { allowed, denied };

std::string_view to_string(Direction d);
std::string_view to_string(Verdict v);

struct NflogSettings {
    std::uint16_t group = 42;
    std::uint32_t snaplen = 128;
    std::uint16_t queue_threshold = 32;
};

struct ClassDef {
    std::string name;
    std::string log_prefix; // the regex as written (RE2 syntax)
    std::shared_ptr<const re2::RE2> pattern;
    // The pattern's named capture groups, `(?P<name>...)`, in the order they open.
    std::vector<std::string> group_names;
    // From log_prefix by rules_parse: a prefix must start with `literal` to match (the
    // pattern's anchored literal head); `literal_only`: the pattern is just `^literal`.
    std::string literal;
    bool literal_only = false;
    Direction direction = Direction::egress;
    Verdict verdict = Verdict::denied;
    std::optional<std::uint16_t> group; // overrides NflogSettings::group
    std::uint16_t effective_group(const NflogSettings &n) const { return group.value_or(n.group); }
};

struct RulesFile {
    NflogSettings nflog;
    std::vector<ClassDef> classes;
    std::vector<std::uint16_t> groups() const; // distinct groups, ascending
};

// Parse the YAML text of a rules file. Errors name `source_name`, line, column and key.
Result<RulesFile> rules_parse(std::string_view yaml_text, std::string_view source_name);

// The first class whose pattern matches somewhere in the prefix, or nullptr.
const ClassDef *rules_match(const RulesFile &rules, std::string_view prefix);

// Matches the class's pattern against the prefix and sets `values` to the text of each
// named group (one per c.group_names, in that order; views into `prefix`; empty for a
// group that took no part in the match). False, `values` empty, when it does not match.
bool class_captures(const ClassDef &c, std::string_view prefix,
                    std::vector<std::string_view> &values);

// Cached classification: one regex pass per distinct prefix. Bounded: past `capacity`
// distinct prefixes the cache is cleared (prefixes carry container handles; they churn).
class Classifier {
public:
    explicit Classifier(const RulesFile &rules, std::size_t capacity = 65536);
    const ClassDef *classify(std::string_view prefix);
    std::size_t cached() const { return cache_.size(); }

private:
    const RulesFile *rules_;
    std::size_t capacity_;
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, const ClassDef *, Hash, std::equal_to<>> cache_;
};

} // namespace netlog
