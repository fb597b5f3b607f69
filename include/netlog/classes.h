// The rules file (rules/*.yaml): NFLOG settings and the ordered classes that map a log
// prefix to a direction and a verdict. Shared by netlogd (classification) and
// netlog-rules (which LOG rules get an NFLOG companion).
#pragma once

#include <netlog/result.h>

#include <cstdint>
#include <cstring>
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
    // A prefix is a few dozen bytes: mixed 8 bytes at a time, inline (std::hash's
    // out-of-line byte hash cost as much as the rest of the lookup).
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            const char *p = s.data();
            std::size_t n = s.size();
            std::uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w = 0;
            const auto mix = [&h](std::uint64_t x) {
                h = (h ^ x) * 0xff51afd7ed558ccdull;
                h ^= h >> 32;
            };
            if (n >= 8) {
                for (; n > 8; p += 8, n -= 8) {
                    std::memcpy(&w, p, 8);
                    mix(w);
                }
                std::memcpy(&w, s.data() + s.size() - 8, 8); // the last 8, overlapping
            } else {
                for (std::size_t i = 0; i < n; ++i)
                    w |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
            }
            mix(w);
            return static_cast<std::size_t>(h);
        }
    };
    std::unordered_map<std::string, const ClassDef *, Hash, std::equal_to<>> cache_;
};

} // namespace netlog
