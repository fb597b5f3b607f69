// File paths naming class fields: parsing, the safety of a value, routing an event.
#include <netlog/path_template.h>

#include <fmt/format.h>

#include <algorithm>

namespace netlog {

bool PathTemplate::templated() const {
    return std::any_of(pieces.begin(), pieces.end(), [](const Piece &p) { return p.field; });
}

std::vector<std::string> PathTemplate::fields() const {
    std::vector<std::string> out;
    for (const auto &p : pieces)
        if (p.field && std::find(out.begin(), out.end(), p.text) == out.end())
            out.push_back(p.text);
    return out;
}

std::string PathTemplate::fallback() const {
    std::string out;
    for (const auto &p : pieces) out += p.field ? std::string("_other") : p.text;
    return out;
}

Result<PathTemplate> path_template_parse(std::string_view path) {
    PathTemplate t;
    const auto slash = path.rfind('/');
    const std::size_t name_start = slash == std::string_view::npos ? 0 : slash + 1;
    std::string literal;
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char ch = path[i];
        if (ch == '}')
            return make_error(fmt::format("'}}' at byte {} closes no field: a field is written "
                                          "{{name}}",
                                          i + 1));
        if (ch != '{') {
            literal += ch;
            continue;
        }
        if (i < name_start)
            return make_error("a field may stand only in the file's name, not in a directory "
                              "(the directories must exist before the first event)");
        const auto end = path.find('}', i);
        const auto name = path.substr(i + 1, end == std::string_view::npos ? 0 : end - i - 1);
        if (end == std::string_view::npos || !field_name_ok(name))
            return make_error(fmt::format(
                "'{}' at byte {} is not a field: write {{name}} with "
                "letters, digits and '_' (e.g. {{firewall_id}})",
                path.substr(i, end == std::string_view::npos ? 20 : end - i + 1), i + 1));
        if (!literal.empty()) t.pieces.push_back({std::move(literal), false});
        literal.clear();
        t.pieces.push_back({std::string(name), true});
        i = end;
    }
    if (!literal.empty()) t.pieces.push_back({std::move(literal), false});
    return t;
}

bool path_value_ok(std::string_view v) {
    if (v.empty() || v.size() > 128) return false;
    const auto alnum = [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    };
    if (!alnum(v[0])) return false;
    return std::all_of(v.begin(), v.end(),
                       [&](char ch) { return alnum(ch) || ch == '.' || ch == '_' || ch == '-'; });
}

PathRouter::PathRouter(PathTemplate t, const RulesFile &rules)
    : t_(std::move(t)), base_(rules.classes.data()) {
    for (const auto &p : t_.pieces) fields_ += p.field ? 1 : 0;
    sources_.resize(rules.classes.size() * fields_);
    for (std::size_t c = 0; c < rules.classes.size(); ++c) {
        const auto &cls = rules.classes[c];
        std::size_t rank = 0;
        for (const auto &p : t_.pieces) {
            if (!p.field) continue;
            Source &s = sources_[c * fields_ + rank++];
            if (p.text == "name") { // the class's name, as data.rule.name
                s.kind = Source::Kind::constant;
                s.constant = cls.name;
            }
            for (const auto &f : cls.fields)
                if (f.name == p.text) {
                    s.kind = Source::Kind::constant;
                    s.constant = f.value;
                }
            for (std::size_t k = 0; k < cls.group_names.size() && k < max_captures; ++k)
                if (cls.group_names[k] == p.text) {
                    s.kind = Source::Kind::capture;
                    s.group = static_cast<std::uint8_t>(k);
                }
        }
    }
}

bool PathRouter::route(const ClassDef *cls, const Captures *caps, std::string &out) const {
    if (!cls) return false;
    const auto c = static_cast<std::size_t>(cls - base_);
    if ((c + 1) * fields_ > sources_.size()) return false;
    out.clear();
    std::size_t rank = 0;
    for (const auto &p : t_.pieces) {
        if (!p.field) {
            out += p.text;
            continue;
        }
        const Source &s = sources_[c * fields_ + rank++];
        std::string_view v;
        if (s.kind == Source::Kind::constant)
            v = s.constant;
        else if (s.kind == Source::Kind::capture && caps && s.group < caps->n)
            v = caps->value[s.group];
        if (!path_value_ok(v)) return false;
        out += v;
    }
    return true;
}

} // namespace netlog
