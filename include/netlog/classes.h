// The rules file (rules/*.yaml): NFLOG settings and the ordered classes that map a log
// prefix to a direction and a verdict. Shared by netlogd (classification) and
// netlog-rules (which LOG rules get an NFLOG companion).
#pragma once

#include <netlog/result.h>

#include <array>
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

// Whether `n` may name a field (a constant or a named group): it is a JSON key, an ECS
// label and a path template's {name}. Letters, digits and '_', not first a digit, at most 64.
bool field_name_ok(std::string_view n);

// A constant a class gives each of its events (`fields:` in the rules file).
struct ClassField {
    std::string name, value;
};

// At most this many named groups in one class's log_prefix (each event carries their views).
inline constexpr std::size_t max_captures = 8;

// The parts of a prefix a class's named groups matched, in the order of ClassDef::group_names
// (views into the prefix; "" for a group that took no part in the match).
struct Captures {
    std::uint8_t n = 0;
    std::array<std::string_view, max_captures> value{};
};

struct ClassDef {
    std::string name;
    std::string log_prefix; // the regex as written (RE2 syntax)
    std::shared_ptr<const re2::RE2> pattern;
    // The rule identity every event of the class carries (json extra `rule`, ECS rule.id
    // and labels): the constants of `fields:` in the order written, then the named groups
    // of log_prefix, `(?P<rule_id>...)`, in the order they open.
    std::vector<ClassField> fields;
    std::vector<std::string> group_names; // the named groups' names
    std::vector<int> group_index;         // their numbers among the pattern's groups
    // Groups that name the event's container rather than its rule (by rank in group_names;
    // -1: none): `container_handle`, `container_app_guid`. The pipeline looks the container
    // up by them when its IP is not known; they are not rule fields (data.rule, ECS labels).
    int handle_group = -1, app_group = -1;
    bool is_rule_field(std::size_t rank) const {
        return static_cast<int>(rank) != handle_group && static_cast<int>(rank) != app_group;
    }
    // From log_prefix by rules_parse: a prefix must start with `literal` to match (the
    // pattern's anchored literal head); `literal_only`: the pattern is just `^literal`.
    std::string literal;
    bool literal_only = false;
    // The pattern is `^literal(?P<name>(?s:.*))`: it matches every prefix that starts with
    // the literal, and its one group takes the rest (no regex pass for either).
    bool literal_then_rest = false;
    Direction direction = Direction::egress;
    Verdict verdict = Verdict::denied;
    std::optional<std::uint16_t> group; // overrides NflogSettings::group
    std::uint16_t effective_group(const NflogSettings &n) const { return group.value_or(n.group); }
};

// All of a rules file's patterns in one RE2::Set (classes.cpp).
struct ClassSet;

struct RulesFile {
    NflogSettings nflog;
    std::vector<ClassDef> classes;
    std::vector<std::uint16_t> groups() const; // distinct groups, ascending
    // From rules_parse, for files of many classes: a prefix no cached class takes is matched
    // against every pattern in one pass instead of one pass per class. Null: one by one.
    std::shared_ptr<const ClassSet> set;
};

// Parse the YAML text of a rules file. Errors name `source_name`, line, column and key.
Result<RulesFile> rules_parse(std::string_view yaml_text, std::string_view source_name);

// The first class whose pattern matches somewhere in the prefix, or nullptr. With `caps`,
// also where its named groups matched (as class_captures), in the same regex pass.
const ClassDef *rules_match(const RulesFile &rules, std::string_view prefix,
                            Captures *caps = nullptr);

// Matches the class's pattern against the prefix and sets `out` to the text of each named
// group (one per c.group_names, in that order, at most max_captures; views into `prefix`;
// empty for a group that took no part in the match). False, `out.n` 0, when it does not
// match.
bool class_captures(const ClassDef &c, std::string_view prefix, Captures &out);

// Cached classification: one regex pass per distinct prefix. Bounded: past `capacity`
// distinct prefixes the cache is cleared (prefixes carry container handles; they churn).
class Classifier {
  public:
    explicit Classifier(const RulesFile &rules, std::size_t capacity = 65536);
    // `caps`, when given, receives the class's named groups (views into `prefix`).
    const ClassDef *classify(std::string_view prefix, Captures *caps = nullptr);
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
    // Byte equality 8 bytes at a time, inline (a memcmp call and the registers kept across
    // it cost more than the compare of a prefix of a few dozen bytes).
    struct Equal {
        using is_transparent = void;
        bool operator()(std::string_view a, std::string_view b) const {
            const std::size_t n = a.size();
            if (n != b.size()) return false;
            const char *x = a.data(), *y = b.data();
            std::uint64_t u, v;
            if (n < 8) {
                for (std::size_t i = 0; i < n; ++i)
                    if (x[i] != y[i]) return false;
                return true;
            }
            for (std::size_t i = 0; i + 8 < n; i += 8) {
                std::memcpy(&u, x + i, 8);
                std::memcpy(&v, y + i, 8);
                if (u != v) return false;
            }
            std::memcpy(&u, x + n - 8, 8); // the last 8, overlapping
            std::memcpy(&v, y + n - 8, 8);
            return u == v;
        }
    };
    // A class and where its named groups matched (offset, length into the prefix): a hit
    // costs no regex pass, with or without groups. `n`: how many of `spans` the class has.
    struct Hit {
        const ClassDef *cls = nullptr;
        std::uint8_t n = 0;
        std::array<std::pair<std::uint16_t, std::uint16_t>, max_captures> spans{};
    };
    using Cache = std::unordered_map<std::string, Hit, Hash, Equal>;
    // A prefix not cached yet: matched and cached (out of line: the hit path stays short).
    [[gnu::noinline]] Cache::const_iterator add(std::string_view prefix);
    Cache cache_;
};

} // namespace netlog
