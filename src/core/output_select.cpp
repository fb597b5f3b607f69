// outputs[].match resolved against the rules file's classes.
#include <netlog/output_select.h>

namespace netlog {

OutputSelector::OutputSelector(const OutputMatch &m, const RulesFile &rules)
    : all_(m.any()), verdict_(m.verdict), direction_(m.direction), by_class_(!m.classes.empty()),
      base_(rules.classes.data()), classes_(rules.classes.size(), false) {
    for (const auto &n : m.classes)
        for (std::size_t i = 0; i < rules.classes.size(); ++i)
            if (rules.classes[i].name == n.name) classes_[i] = true;
}

} // namespace netlog
