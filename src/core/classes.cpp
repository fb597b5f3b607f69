// Rules file parsing and prefix classification.
#include <netlog/classes.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "yaml_syntax.h"

#include <algorithm>
#include <set>

namespace netlog {

std::string_view to_string(Direction d) { return d == Direction::ingress ? "ingress" : "egress"; }
std::string_view to_string(Verdict v) { return v == Verdict::allowed ? "allowed" : "denied"; }

std::vector<std::uint16_t> RulesFile::groups() const {
    std::set<std::uint16_t> s;
    for (const auto &c : classes) s.insert(c.effective_group(nflog));
    if (s.empty()) s.insert(nflog.group);
    return {s.begin(), s.end()};
}

namespace {

// std::regex compiles `x{N}` by repeating x N times and overflows on huge N (libstdc++
// multiplies the digits into a long without checking), and nested counts multiply its
// memory. Counts are bounded first: no NFLOG prefix is longer than 127 bytes, so no larger
// count can be useful, and the product of all counts stays small enough to compile.
constexpr unsigned long max_repeat = 255;
constexpr unsigned long max_repeat_product = 1UL << 16;

// std::regex backtracks: a pattern made of many quantifiers can take seconds to compile
// or to match one prefix (fuzz_rules found `C??????>?????...`: 9 s). A log prefix class
// needs a handful; more than this is refused as too complex.
constexpr int max_quantifiers = 32;

std::string oversized_repeat(std::string_view re) {
    unsigned long product = 1;
    int quantifiers = 0;
    for (std::size_t i = 0; i < re.size(); ++i) {
        if (re[i] == '\\') {
            // `\N...` is a back-reference: libstdc++ reads all its digits into a long too
            std::size_t j = i + 1;
            while (j < re.size() && re[j] >= '0' && re[j] <= '9') ++j;
            if (j - (i + 1) > 3) return fmt::format("back-reference \\{}", re.substr(i + 1, j - i - 1));
            ++i;
            continue;
        }
        if (re[i] == '?' || re[i] == '*' || re[i] == '+' || re[i] == '{')
            if (++quantifiers > max_quantifiers)
                return fmt::format("{} quantifiers: more than {}", quantifiers, max_quantifiers);
        if (re[i] != '{') continue;
        std::size_t j = i + 1;
        while (j < re.size() && ((re[j] >= '0' && re[j] <= '9') || re[j] == ',')) ++j;
        // libstdc++ reads the digits before it knows whether a '}' follows: check them anyway
        std::string_view body = re.substr(i + 1, j - i - 1);
        unsigned long n = 0, largest = 1;
        for (char ch : body) {
            if (ch == ',') {
                n = 0;
                continue;
            }
            n = n * 10 + static_cast<unsigned long>(ch - '0');
            if (n > max_repeat) return std::string(body);
            largest = std::max(largest, n);
        }
        product *= largest;
        if (product > max_repeat_product) return std::string(body);
    }
    return {};
}

// The literal head of an ECMAScript pattern anchored with '^' and free of alternation:
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

[[noreturn]] void fail(std::string_view source, const YAML::Node &node, std::string_view key,
                       std::string_view what) {
    const auto m = node.Mark();
    if (m.is_null())
        throw ParseError{fmt::format("{}: key '{}': {}", source, key, what)};
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
    for (std::size_t i = 0; i < cls.size(); ++i) {
        const auto c = cls[i];
        const auto at = fmt::format("classes[{}]", i);
        if (!c.IsMap()) fail(source, c, at, "expected a mapping");
        check_keys(source, c, at + ".",
                   {"name", "log_prefix", "direction", "verdict", "group"});
        for (auto req : {"name", "log_prefix", "direction", "verdict"})
            if (!c[req]) fail(source, c, fmt::format("{}.{}", at, req), "missing");
        ClassDef d;
        d.name = text(source, c["name"], at + ".name");
        if (d.name.empty()) fail(source, c["name"], at + ".name", "must not be empty");
        if (!names.insert(d.name).second)
            fail(source, c["name"], at + ".name", fmt::format("duplicate class '{}'", d.name));
        d.log_prefix = text(source, c["log_prefix"], at + ".log_prefix");
        if (auto bad = oversized_repeat(d.log_prefix); !bad.empty())
            fail(source, c["log_prefix"], at + ".log_prefix",
                 bad.find("quantifiers") != std::string::npos
                     ? fmt::format("pattern too complex ({}): a class needs only a few", bad)
                 : bad.starts_with("back-reference")
                     ? fmt::format("{}: no such group (at most 3 digits)", bad)
                     : fmt::format("repetition count {{{}}} is too large (each count at most "
                                   "{}, as no log prefix is longer than 127 bytes; all counts "
                                   "multiplied at most {})",
                                   bad, max_repeat, max_repeat_product));
        try {
            d.pattern = std::make_shared<const std::regex>(d.log_prefix,
                                                           std::regex::ECMAScript |
                                                               std::regex::optimize);
        } catch (const std::regex_error &e) {
            fail(source, c["log_prefix"], at + ".log_prefix",
                 fmt::format("invalid regex '{}': {}", d.log_prefix, e.what()));
        }
        literal_head(d);
        const auto dir = text(source, c["direction"], at + ".direction");
        if (dir == "ingress") d.direction = Direction::ingress;
        else if (dir == "egress") d.direction = Direction::egress;
        else fail(source, c["direction"], at + ".direction",
                  fmt::format("'{}' is not ingress or egress", dir));
        const auto ver = text(source, c["verdict"], at + ".verdict");
        if (ver == "allowed") d.verdict = Verdict::allowed;
        else if (ver == "denied") d.verdict = Verdict::denied;
        else fail(source, c["verdict"], at + ".verdict",
                  fmt::format("'{}' is not allowed or denied", ver));
        if (c["group"]) d.group = scalar<std::uint16_t>(source, c["group"], at + ".group", 0, 65535);
        rf.classes.push_back(std::move(d));
    }
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

const ClassDef *rules_match(const RulesFile &rules, std::string_view prefix) {
    for (const auto &c : rules.classes) {
        if (!prefix.starts_with(c.literal)) continue; // cannot match: no regex pass
        if (c.literal_only) return &c;
        if (std::regex_search(prefix.begin(), prefix.end(), *c.pattern)) return &c;
    }
    return nullptr;
}

Classifier::Classifier(const RulesFile &rules, std::size_t capacity)
    : rules_(&rules), capacity_(capacity) {}

const ClassDef *Classifier::classify(std::string_view prefix) {
    // Transparent hashing: the hit path looks the view up without building a string.
    // Misses are cached too (as nullptr): an unclassified prefix costs one regex pass.
    if (auto it = cache_.find(prefix); it != cache_.end()) return it->second;
    if (cache_.size() >= capacity_) cache_.clear();
    const auto *c = rules_match(*rules_, prefix);
    cache_.emplace(std::string(prefix), c);
    return c;
}

} // namespace netlog
