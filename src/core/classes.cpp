// Rules file parsing and prefix classification.
#include <netlog/classes.h>

#include <fmt/format.h>
#include <re2/re2.h>
#include <re2/set.h>
#include <yaml-cpp/yaml.h>

#include "yaml_syntax.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace netlog {

struct ClassSet {
    explicit ClassSet(const re2::RE2::Options &o) : set(o, re2::RE2::UNANCHORED) {}
    re2::RE2::Set set;
};

std::string_view to_string(Direction d) {
    return d == Direction::ingress ? "ingress" : "egress";
}
std::string_view to_string(Verdict v) {
    return v == Verdict::allowed ? "allowed" : "denied";
}

bool field_name_ok(std::string_view n) {
    if (n.empty() || n.size() > 64 || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
    return std::all_of(n.begin(), n.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    });
}

std::vector<std::uint16_t> RulesFile::groups() const {
    std::set<std::uint16_t> s;
    for (const auto &c : classes) s.insert(c.effective_group(nflog));
    if (s.empty()) s.insert(nflog.group);
    return {s.begin(), s.end()};
}

namespace {

// Patterns are compiled by RE2: linear-time matching (no backtracking, so no pattern can
// make a prefix slow to classify) and bounded compilation (repetition counts at most 1000,
// nesting and program size bounded by `max_mem`); what it refuses comes back as an error.
// Latin-1: a prefix is bytes, and a pattern's bytes match the same bytes.
constexpr std::int64_t pattern_max_mem = 1 << 20;

// Text for a one-line message: at most 60 bytes, control bytes and non-ASCII as \xNN.
std::string shown(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 60; ++i) {
        const auto ch = static_cast<unsigned char>(s[i]);
        if (ch < 0x20 || ch >= 0x7f)
            out += fmt::format("\\x{:02x}", ch);
        else
            out += static_cast<char>(ch);
    }
    if (s.size() > 60) out += "...";
    return out;
}

Result<std::shared_ptr<const re2::RE2>> compile(const std::string &pattern) {
    re2::RE2::Options o;
    o.set_encoding(re2::RE2::Options::EncodingLatin1);
    o.set_log_errors(false);
    o.set_max_mem(pattern_max_mem);
    auto re = std::make_shared<const re2::RE2>(pattern, o);
    if (!re->ok())
        return make_error(re->error_code() == re2::RE2::ErrorPatternTooLarge
                              ? "pattern too large: use fewer or smaller repetition counts"
                              : shown(re->error()) +
                                    " (log_prefix is RE2 syntax: no back-references or "
                                    "look-around)");
    return std::shared_ptr<const re2::RE2>(std::move(re));
}

// The literal head of a pattern anchored with '^' and free of alternation:
// every match starts with it. Only plain characters count; one followed by a quantifier
// is not required, so it ends the head.
void literal_head(ClassDef &d) {
    const std::string_view p = d.log_prefix;
    if (p.empty() || p[0] != '^' || p.find('|') != std::string_view::npos) return;
    std::size_t i = 1;
    const auto plain = [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-' || ch == ' ' || ch == ':' || ch == '=' || ch == ',';
    };
    while (i < p.size() && plain(p[i])) ++i;
    if (i < p.size() && (p[i] == '?' || p[i] == '*' || p[i] == '{')) {
        if (i >= 2) d.literal = std::string(p.substr(1, i - 2)); // the last one is optional
        return;
    }
    d.literal = std::string(p.substr(1, i - 1));
    d.literal_only = i == p.size();
}

struct ParseError {
    std::string message;
};

// Two spellings of one field ("rule_id", "ruleId", "Rule-ID") compare equal here.
std::string field_key(std::string_view n) {
    std::string k;
    for (char ch : n)
        if (ch != '_' && ch != '-')
            k += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return k;
}

[[noreturn]] void fail(std::string_view source, const YAML::Node &node, std::string_view key,
                       std::string_view what) {
    const auto m = node.Mark();
    if (m.is_null()) throw ParseError{fmt::format("{}: key '{}': {}", source, key, what)};
    throw ParseError{
        fmt::format("{}:{}:{}: key '{}': {}", source, m.line + 1, m.column + 1, key, what)};
}

template <class T>
T scalar(std::string_view source, const YAML::Node &node, std::string_view key, T lo, T hi) {
    if (!node.IsScalar()) fail(source, node, key, "expected a number");
    long long v = 0;
    try {
        v = node.as<long long>();
    } catch (const YAML::Exception &) {
        fail(source, node, key, fmt::format("'{}' is not a number", node.Scalar()));
    }
    if (v < static_cast<long long>(lo) || v > static_cast<long long>(hi))
        fail(source, node, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return static_cast<T>(v);
}

std::string text(std::string_view source, const YAML::Node &node, std::string_view key) {
    if (!node.IsScalar()) fail(source, node, key, "expected a string");
    return node.Scalar();
}

void check_keys(std::string_view source, const YAML::Node &map, std::string_view where,
                std::initializer_list<std::string_view> allowed) {
    for (const auto &kv : map) {
        const auto k = kv.first.Scalar();
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
            std::string list;
            for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
            fail(source, kv.first, fmt::format("{}{}", where, k),
                 fmt::format("unknown key (expected one of: {})", list));
        }
    }
}

// How many named groups, `(?P<`, a pattern opens: escapes and bracket expressions skipped.
// RE2 keeps one number per name, so two groups of one name show only as a count it lacks.
std::size_t named_group_count(std::string_view re) {
    std::size_t n = 0;
    bool in_set = false;
    for (std::size_t i = 0; i < re.size(); ++i) {
        if (re[i] == '\\') {
            ++i;
        } else if (in_set) {
            in_set = re[i] != ']';
        } else if (re[i] == '[') {
            in_set = true;
            if (i + 1 < re.size() && re[i + 1] == '^') ++i;
            if (i + 1 < re.size() && re[i + 1] == ']') ++i; // a ']' first is a member
        } else if (re.substr(i).starts_with("(?P<")) {
            ++n;
        }
    }
    return n;
}

// Every field name seen so far, by field_key: its spelling and the class that used it.
using Spellings = std::map<std::string, std::pair<std::string, std::string>>;

// `fields:` constants and log_prefix's named groups of class `d` (at `at`). One field has
// one spelling across the file: events are compared, selected and filed by it.
void class_fields(std::string_view source, const YAML::Node &c, const std::string &at, ClassDef &d,
                  Spellings &spellings) {
    std::set<std::string> own;
    const auto add = [&](const YAML::Node &node, const std::string &key, const std::string &name) {
        if (!field_name_ok(name))
            fail(source, node, key,
                 fmt::format("'{}' is not a field name: use letters, digits and '_' (not first "
                             "a digit)",
                             shown(name)));
        if (name == "name")
            fail(source, node, key, "'name' is the class's own (data.rule.name): pick another");
        if (!own.insert(name).second)
            fail(source, node, key,
                 fmt::format("field '{}' twice in class '{}' (a constant and a named group): "
                             "keep one",
                             name, d.name));
        const auto [it, fresh] = spellings.try_emplace(field_key(name), name, d.name);
        if (!fresh && it->second.first != name)
            fail(source, node, key,
                 fmt::format("field '{}' is spelled '{}' in class '{}': spell it the same way "
                             "in every class",
                             name, it->second.first, it->second.second));
    };
    if (const auto f = c["fields"]) {
        if (!f.IsMap()) fail(source, f, at + ".fields", "expected a mapping of names to values");
        for (const auto &kv : f) {
            const auto name = kv.first.Scalar();
            const auto key = fmt::format("{}.fields.{}", at, name);
            add(kv.first, key, name);
            d.fields.push_back({name, text(source, kv.second, key)});
        }
    }
    // RE2 numbers groups in the order they open; NamedCapturingGroups maps name -> number.
    std::vector<std::pair<int, std::string>> named;
    for (const auto &[name, index] : d.pattern->NamedCapturingGroups())
        named.emplace_back(index, name);
    std::sort(named.begin(), named.end());
    if (named_group_count(d.log_prefix) != named.size())
        fail(source, c["log_prefix"], at + ".log_prefix",
             "two named groups of one name: a field has one value, keep one");
    if (named.size() > max_captures)
        fail(source, c["log_prefix"], at + ".log_prefix",
             fmt::format("{} named groups: at most {} in one class", named.size(), max_captures));
    for (auto &[index, name] : named) {
        add(c["log_prefix"], at + ".log_prefix", name);
        if (name == "container_handle") d.handle_group = static_cast<int>(d.group_names.size());
        if (name == "container_app_guid") d.app_group = static_cast<int>(d.group_names.size());
        d.group_names.push_back(std::move(name));
        d.group_index.push_back(index);
    }
}

// From this many classes on, a miss is matched by one RE2::Set pass: below it, the literal
// heads skip most classes and a pass or two costs less than the set's bookkeeping.
constexpr std::size_t set_from_classes = 8;
// The set's DFA budget: past it Match() fails and the classes are tried one by one.
constexpr std::int64_t set_max_mem = 8 << 20;

std::shared_ptr<const ClassSet> class_set(const std::vector<ClassDef> &classes) {
    if (classes.size() < set_from_classes) return nullptr;
    re2::RE2::Options o;
    o.set_encoding(re2::RE2::Options::EncodingLatin1);
    o.set_log_errors(false);
    o.set_max_mem(set_max_mem);
    auto s = std::make_shared<ClassSet>(o);
    for (const auto &c : classes) // indexes follow the classes' order
        if (s->set.Add(re2::StringPiece(c.log_prefix), nullptr) < 0) return nullptr;
    if (!s->set.Compile()) return nullptr;
    return s;
}

RulesFile parse(const YAML::Node &root, std::string_view source) {
    RulesFile rf;
    if (!root.IsMap()) fail(source, root, "(top level)", "expected a mapping with 'classes'");
    check_keys(source, root, "", {"nflog", "classes"});

    if (const auto n = root["nflog"]) {
        if (!n.IsMap()) fail(source, n, "nflog", "expected a mapping");
        check_keys(source, n, "nflog.", {"group", "snaplen", "queue_threshold"});
        if (n["group"])
            rf.nflog.group = scalar<std::uint16_t>(source, n["group"], "nflog.group", 0, 65535);
        if (n["snaplen"])
            rf.nflog.snaplen =
                scalar<std::uint32_t>(source, n["snaplen"], "nflog.snaplen", 0, 65535);
        if (n["queue_threshold"])
            rf.nflog.queue_threshold = scalar<std::uint16_t>(source, n["queue_threshold"],
                                                             "nflog.queue_threshold", 1, 65535);
    }

    const auto cls = root["classes"];
    if (!cls) fail(source, root, "classes", "missing (a list of classes is required)");
    if (!cls.IsSequence()) fail(source, cls, "classes", "expected a list");
    if (cls.size() == 0) fail(source, cls, "classes", "the list is empty");
    std::set<std::string> names;
    Spellings spellings;
    for (std::size_t i = 0; i < cls.size(); ++i) {
        const auto c = cls[i];
        const auto at = fmt::format("classes[{}]", i);
        if (!c.IsMap()) fail(source, c, at, "expected a mapping");
        check_keys(source, c, at + ".",
                   {"name", "log_prefix", "direction", "verdict", "group", "fields"});
        for (auto req : {"name", "log_prefix", "direction", "verdict"})
            if (!c[req]) fail(source, c, fmt::format("{}.{}", at, req), "missing");
        ClassDef d;
        d.name = text(source, c["name"], at + ".name");
        if (d.name.empty()) fail(source, c["name"], at + ".name", "must not be empty");
        // Owner tags "netlog:@..." name netlog's own rules (the ICMP error rule,
        // ruleplan.h): a class of such a name would be taken for one of them.
        if (d.name[0] == '@')
            fail(source, c["name"], at + ".name",
                 fmt::format("'{}': a name starting with '@' is reserved for netlog's own rules: "
                             "pick another",
                             d.name));
        if (!names.insert(d.name).second)
            fail(source, c["name"], at + ".name", fmt::format("duplicate class '{}'", d.name));
        d.log_prefix = text(source, c["log_prefix"], at + ".log_prefix");
        auto pattern = compile(d.log_prefix);
        if (!pattern)
            fail(source, c["log_prefix"], at + ".log_prefix",
                 fmt::format("invalid regex '{}': {}", shown(d.log_prefix),
                             pattern.error().message));
        d.pattern = std::move(*pattern);
        literal_head(d);
        const auto dir = text(source, c["direction"], at + ".direction");
        if (dir == "ingress")
            d.direction = Direction::ingress;
        else if (dir == "egress")
            d.direction = Direction::egress;
        else
            fail(source, c["direction"], at + ".direction",
                 fmt::format("'{}' is not ingress or egress", dir));
        const auto ver = text(source, c["verdict"], at + ".verdict");
        if (ver == "allowed")
            d.verdict = Verdict::allowed;
        else if (ver == "denied")
            d.verdict = Verdict::denied;
        else
            fail(source, c["verdict"], at + ".verdict",
                 fmt::format("'{}' is not allowed or denied", ver));
        if (c["group"])
            d.group = scalar<std::uint16_t>(source, c["group"], at + ".group", 0, 65535);
        class_fields(source, c, at, d, spellings);
        d.literal_then_rest =
            d.group_names.size() == 1 &&
            d.log_prefix == "^" + d.literal + "(?P<" + d.group_names[0] + ">(?s:.*))";
        rf.classes.push_back(std::move(d));
    }
    rf.set = class_set(rf.classes);
    return rf;
}

} // namespace

Result<RulesFile> rules_parse(std::string_view yaml_text, std::string_view source_name) {
    try {
        return parse(YAML::Load(std::string(yaml_text)), source_name);
    } catch (const ParseError &e) {
        return make_error(e.message);
    } catch (const YAML::Exception &e) {
        return make_error(yaml_error_text(e, source_name));
    }
}

namespace {

// The class `c` (known to match `prefix`), with its groups into `caps`.
const ClassDef *matched(const ClassDef &c, std::string_view prefix, Captures *caps) {
    if (!caps || c.group_names.empty()) return &c;
    if (c.literal_then_rest) {
        caps->n = 1;
        caps->value[0] = prefix.substr(c.literal.size());
        return &c;
    }
    class_captures(c, prefix, *caps);
    return &c;
}

} // namespace

const ClassDef *rules_match(const RulesFile &rules, std::string_view prefix, Captures *caps) {
    if (caps) caps->n = 0;
    if (rules.set) {
        // One pass for every pattern; the first class in the file's order wins.
        thread_local std::vector<int> hits;
        hits.clear();
        re2::RE2::Set::ErrorInfo error{};
        if (rules.set->set.Match(re2::StringPiece(prefix.data(), prefix.size()), &hits, &error)) {
            const auto first = *std::min_element(hits.begin(), hits.end());
            return matched(rules.classes[static_cast<std::size_t>(first)], prefix, caps);
        }
        if (error.kind == re2::RE2::Set::kNoError) return nullptr; // no class matches
        // out of memory: the classes one by one, below
    }
    for (const auto &c : rules.classes) {
        if (!prefix.starts_with(c.literal)) continue; // cannot match: no regex pass
        if (c.literal_only || c.literal_then_rest) return matched(c, prefix, caps);
        if (caps && !c.group_names.empty()) {
            if (class_captures(c, prefix, *caps)) return &c;
            continue;
        }
        if (re2::RE2::PartialMatch(re2::StringPiece(prefix.data(), prefix.size()), *c.pattern))
            return &c;
    }
    return nullptr;
}

bool class_captures(const ClassDef &c, std::string_view prefix, Captures &out) {
    out.n = 0;
    // Group 0 is the whole match; the named groups are among 1..NumberOfCapturingGroups().
    constexpr int max_groups = 32;
    const int n = std::min(c.pattern->NumberOfCapturingGroups() + 1, max_groups);
    std::array<re2::StringPiece, max_groups> sub;
    if (!c.pattern->Match(re2::StringPiece(prefix.data(), prefix.size()), 0, prefix.size(),
                          re2::RE2::UNANCHORED, sub.data(), n))
        return false;
    const std::size_t k_max = std::min(c.group_names.size(), max_captures);
    for (std::size_t k = 0; k < k_max; ++k) {
        const int g = c.group_index[k];
        const auto &piece = g < n ? sub[static_cast<std::size_t>(g)] : re2::StringPiece();
        out.value[k] =
            piece.data() ? std::string_view(piece.data(), piece.size()) : std::string_view();
    }
    out.n = static_cast<std::uint8_t>(k_max);
    return true;
}

Classifier::Classifier(const RulesFile &rules, std::size_t capacity)
    : rules_(&rules), cache_(capacity) {}

const Classifier::Hit &Classifier::add(std::string_view prefix) {
    Hit h;
    Captures found;
    h.cls = rules_match(*rules_, prefix, &found);
    if (h.cls) {
        h.n = static_cast<std::uint8_t>(std::min(h.cls->group_names.size(), max_captures));
        for (std::size_t k = 0; k < found.n; ++k)
            h.spans[k] = {static_cast<std::uint16_t>(
                              found.value[k].data() ? found.value[k].data() - prefix.data() : 0),
                          static_cast<std::uint16_t>(found.value[k].size())};
    }
    return cache_.insert(prefix, h); // past the capacity: cleared first
}

} // namespace netlog
