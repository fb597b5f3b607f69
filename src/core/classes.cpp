// Rules file parsing and prefix classification.
#include <netlog/classes.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

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
        try {
            d.pattern = std::make_shared<const std::regex>(d.log_prefix,
                                                           std::regex::ECMAScript |
                                                               std::regex::optimize);
        } catch (const std::regex_error &e) {
            fail(source, c["log_prefix"], at + ".log_prefix",
                 fmt::format("invalid regex '{}': {}", d.log_prefix, e.what()));
        }
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
        return make_error(fmt::format("{}:{}:{}: {}", source_name, e.mark.line + 1,
                                      e.mark.column + 1, e.msg));
    }
}

const ClassDef *rules_match(const RulesFile &rules, std::string_view prefix) {
    for (const auto &c : rules.classes)
        if (std::regex_search(prefix.begin(), prefix.end(), *c.pattern)) return &c;
    return nullptr;
}

Classifier::Classifier(const RulesFile &rules, std::size_t capacity)
    : rules_(&rules), capacity_(capacity) {}

const ClassDef *Classifier::classify(std::string_view prefix) {
    // Heterogeneous lookup needs C++20 transparent hashing; a thread_local key avoids
    // an allocation per event on the hit path.
    thread_local std::string key;
    key.assign(prefix);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    if (cache_.size() >= capacity_) cache_.clear();
    const auto *c = rules_match(*rules_, prefix);
    cache_.emplace(key, c);
    return c;
}

} // namespace netlog
