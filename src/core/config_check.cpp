// The checks across files: what an output names (its path's fields, its match classes) must
// exist in the rules file, which is read after the config.
#include <netlog/config.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace netlog {

Status config_check_rules(const Config &c, const RulesFile &rules) {
    for (std::size_t i = 0; i < c.outputs.size(); ++i) {
        for (const auto &f : c.outputs[i].path_template.fields()) {
            std::set<std::string> all{"name"}; // the class's own name, as data.rule.name
            for (const auto &d : rules.classes) {
                for (const auto &x : d.fields) all.insert(x.name);
                for (const auto &g : d.group_names) all.insert(g);
            }
            if (all.count(f)) continue;
            std::string list;
            for (const auto &n : all) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
            return make_error(fmt::format("{}: key 'outputs[{}].path': no class of the rules file "
                                          "has the field '{}' ({})",
                                          c.outputs[i].path_where, i, f, "their fields: " + list));
        }
        const auto &names = c.outputs[i].match.classes;
        for (std::size_t k = 0; k < names.size(); ++k) {
            const auto &n = names[k];
            const bool known = std::any_of(rules.classes.begin(), rules.classes.end(),
                                           [&](const ClassDef &d) { return d.name == n.name; });
            if (known) continue;
            std::string list;
            for (const auto &d : rules.classes)
                list += fmt::format("{}{}", list.empty() ? "" : ", ", d.name);
            return make_error(fmt::format("{}: key 'outputs[{}].match.classes[{}]': the rules "
                                          "file has no class '{}' (its classes: {})",
                                          n.where, i, k, n.name, list));
        }
    }
    return {};
}

} // namespace netlog
