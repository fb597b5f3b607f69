// The rules file (rules/*.yaml): NFLOG settings and the ordered classes that map a log
// prefix to a direction and a verdict. Shared by netlogd (classification) and
// netlog-rules (which LOG rules get an NFLOG companion).
#pragma once

#include <netlog/prefix_table.h>
#include <netlog/result.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
// The cache is a flat table (prefix_table.h) that grows as prefixes arrive.
class Classifier {
  public:
    explicit Classifier(const RulesFile &rules, std::size_t capacity = 65536);
    // `caps`, when given, receives the class's named groups (views into `prefix`).
    // Inline: a hit is a table lookup and a copy of the groups' spans (no call, no saved
    // registers; g++ does not inline it into the pipeline's build by itself).
    [[gnu::always_inline]] const ClassDef *classify(std::string_view prefix,
                                                    Captures *caps = nullptr) {
        // Misses are cached too (cls nullptr): an unclassified prefix costs one regex pass.
        // A class with named groups costs one more pass, once per distinct prefix: the cache
        // keeps where they matched.
        const Hit *found = cache_.find(prefix);
        if (!found) [[unlikely]]
            found = &add(prefix);
        const Hit &h = *found;
        if (caps) {
            // The spans were taken from the same bytes: they are within `prefix`.
            caps->n = h.n;
            for (std::size_t k = 0; k < h.n; ++k)
                caps->value[k] = std::string_view(prefix.data() + h.spans[k].off, h.spans[k].len);
        }
        return h.cls;
    }
    std::size_t cached() const { return cache_.size(); }

  private:
    const RulesFile *rules_;
    // A class and where its named groups matched (offset, length into the prefix): a hit
    // costs no regex pass, with or without groups. `n`: how many of `spans` the class has.
    struct Hit {
        const ClassDef *cls = nullptr;
        std::uint8_t n = 0;
        struct Span {
            std::uint16_t off, len;
        };
        std::array<Span, max_captures> spans{};
    };
    // A prefix not cached yet: matched and cached (out of line: the hit path stays short).
    [[gnu::noinline]] const Hit &add(std::string_view prefix);
    PrefixTable<Hit> cache_;
};

} // namespace netlog
