// Which events an output takes (`outputs[].match`), resolved against the rules file once so
// that the per-event test is a few comparisons and an index lookup, no string compare.
#pragma once

#include <netlog/classes.h>
#include <netlog/config.h>

#include <vector>

namespace netlog {

class OutputSelector {
  public:
    OutputSelector() = default; // takes every event
    // A class name the rules file does not have selects nothing (config_check_rules refuses
    // it at start; a replay with other rules may still name one).
    OutputSelector(const OutputMatch &m, const RulesFile &rules);

    // `cls`: a class of `rules` (the one given above), or nullptr for an unclassified event.
    bool selects(const ClassDef *cls, Direction d, Verdict v) const {
        if (all_) return true;
        if (verdict_ && *verdict_ != v) return false;
        if (direction_ && *direction_ != d) return false;
        if (!by_class_) return true;
        if (!cls) return false;
        const auto i = static_cast<std::size_t>(cls - base_);
        return i < classes_.size() && classes_[i];
    }
    bool takes_all() const { return all_; }

  private:
    bool all_ = true;
    std::optional<Verdict> verdict_;
    std::optional<Direction> direction_;
    bool by_class_ = false;
    const ClassDef *base_ = nullptr;
    std::vector<bool> classes_; // by class index in the rules file
};

} // namespace netlog
