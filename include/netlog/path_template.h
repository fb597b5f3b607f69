// A file output's path that names fields of the rules file's classes (a log resource's own
// file): `/var/log/netlog/fw-{firewall_id}.log`. Each event goes to the file its class's
// fields (constants and named groups, classes.h) name; an event without a usable value for
// every field goes to the output's fallback path.
#pragma once

#include <netlog/classes.h>
#include <netlog/result.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

struct PathTemplate {
    struct Piece {
        std::string text; // literal text, or the field's name
        bool field = false;
    };
    std::vector<Piece> pieces;

    bool templated() const;
    std::vector<std::string> fields() const; // in the order they stand, each once
    // The path with every field as "_other": a value never starts with '_' (path_value_ok),
    // so no resource's own file can be this one.
    std::string fallback() const;
};

// Parses `path`: `{name}` names a field (letters, digits and '_'), and may stand only in the
// file's name (after the last '/'), so that the directories exist before any event. A '{'
// or '}' that is not part of a field is refused. The error says what and how to fix it.
Result<PathTemplate> path_template_parse(std::string_view path);

// Whether a field's value may stand in a file name: 1 to 128 bytes of letters, digits,
// '.', '_' and '-', the first a letter or a digit (no "..", no '/', no hidden file).
bool path_value_ok(std::string_view v);

// A template resolved against a rules file: for each class, where each field's value comes
// from (a constant of the class, or one of its named groups; `name` is the class's name,
// as in data.rule).
class PathRouter {
  public:
    PathRouter(PathTemplate t, const RulesFile &rules);
    // The path for an event of class `cls` (of the rules above; nullptr: unclassified) whose
    // named groups matched `caps` (nullptr: not known, a summary) into `out`. False when a
    // field has no value there or one path_value_ok refuses: the event goes to the fallback.
    bool route(const ClassDef *cls, const Captures *caps, std::string &out) const;

  private:
    struct Source {
        enum class Kind : std::uint8_t { none, constant, capture } kind = Kind::none;
        std::uint8_t group = 0;    // index into Captures::value
        std::string_view constant; // the class's own string (rules outlive the router)
    };
    PathTemplate t_;
    const ClassDef *base_ = nullptr;
    std::size_t fields_ = 0;      // field pieces per class
    std::vector<Source> sources_; // class index * fields_ + the field's rank
};

} // namespace netlog
