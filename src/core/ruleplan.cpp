#include <netlog/ruleplan.h>

#include <fmt/format.h>

#include <algorithm>

namespace netlog {

std::string_view to_string(Family f) {
    return f == Family::ipv4 ? "ipv4" : "ipv6";
}
std::string_view to_string(PlanMode m) {
    return m == PlanMode::alongside ? "alongside" : "replace";
}

namespace {

Companion companion_for(const ClassDef &c, const RulesFile &rules, const std::string &prefix) {
    Companion comp;
    comp.class_name = c.name;
    comp.group = c.effective_group(rules.nflog);
    comp.prefix = prefix;
    comp.snaplen = rules.nflog.snaplen;
    comp.queue_threshold = rules.nflog.queue_threshold;
    return comp;
}

// `comp` is exactly the companion `want` of the LOG rule `log`.
bool is_companion_of(const FwRule &comp, const FwRule &log, const Companion &want) {
    return comp.kind == RuleKind::companion && comp.match_key == log.match_key &&
           comp.owner_class == want.class_name && comp.group == want.group &&
           comp.log_prefix == want.prefix;
}

// `comp` directly follows a LOG rule with its matches and prefix (installed alongside).
bool follows_its_log(const FwChain &chain, std::size_t i) {
    if (i == 0) return false;
    const FwRule &prev = chain.rules[i - 1];
    const FwRule &comp = chain.rules[i];
    return prev.kind == RuleKind::log && prev.match_key == comp.match_key &&
           prev.log_prefix == comp.log_prefix;
}

class UsedClasses {
  public:
    explicit UsedClasses(const RulesFile &rules) : rules_(rules), used_(rules.classes.size()) {}
    void mark(const ClassDef *c) {
        if (c) used_[static_cast<std::size_t>(c - rules_.classes.data())] = true;
    }
    void mark(std::string_view name) {
        for (std::size_t i = 0; i < rules_.classes.size(); ++i)
            if (rules_.classes[i].name == name) used_[i] = true;
    }
    std::vector<std::string> unused() const {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < used_.size(); ++i)
            if (!used_[i]) out.push_back(rules_.classes[i].name);
        return out;
    }

  private:
    const RulesFile &rules_;
    std::vector<bool> used_;
};

PlanStep step(PlanStep::Op op, const FwRule &rule, Companion companion = {}) {
    PlanStep s;
    s.op = op;
    s.rule = rule;
    s.companion = std::move(companion);
    return s;
}

} // namespace

Plan plan_install(const Ruleset &current, const RulesFile &rules, PlanMode mode) {
    Plan plan;
    UsedClasses used(rules);
    for (const FwChain &chain : current.chains) {
        const auto &r = chain.rules;
        std::vector<bool> consumed(r.size());
        for (std::size_t i = 0; i < r.size(); ++i) {
            const FwRule &rule = r[i];
            if (rule.kind == RuleKind::log) {
                const ClassDef *c = rules_match(rules, rule.log_prefix);
                if (!c) {
                    plan.unmatched.push_back(rule);
                    continue;
                }
                used.mark(c);
                Companion want = companion_for(*c, rules, rule.log_prefix);
                bool next_ok = i + 1 < r.size() && is_companion_of(r[i + 1], rule, want);
                if (next_ok) consumed[i + 1] = true;
                if (mode == PlanMode::alongside || !rule.log_options.empty()) {
                    if (next_ok)
                        plan.covered.push_back(rule);
                    else
                        plan.steps.push_back(step(PlanStep::Op::add_after, rule, std::move(want)));
                } else if (next_ok) {
                    // replace mode over an alongside install: drop the LOG rule, its
                    // companion already stands where it was.
                    plan.steps.push_back(step(PlanStep::Op::remove, rule));
                } else {
                    plan.steps.push_back(step(PlanStep::Op::replace, rule, std::move(want)));
                }
            } else if (rule.kind == RuleKind::companion && !consumed[i]) {
                if (mode == PlanMode::alongside) {
                    plan.steps.push_back(step(PlanStep::Op::remove, rule)); // orphaned
                    continue;
                }
                // replace mode: a companion stands in place of its LOG rule.
                const ClassDef *c = rules_match(rules, rule.log_prefix);
                used.mark(c);
                if (c && c->name == rule.owner_class &&
                    c->effective_group(rules.nflog) == rule.group)
                    plan.covered.push_back(rule);
                else if (c)
                    plan.steps.push_back(step(PlanStep::Op::replace, rule,
                                              companion_for(*c, rules, rule.log_prefix)));
                else
                    plan.steps.push_back(step(PlanStep::Op::restore_log, rule));
            }
        }
    }
    plan.unused_classes = used.unused();
    return plan;
}

Plan plan_remove(const Ruleset &current, const RulesFile &rules, PlanMode mode) {
    Plan plan;
    UsedClasses used(rules);
    for (const FwChain &chain : current.chains) {
        for (std::size_t i = 0; i < chain.rules.size(); ++i) {
            const FwRule &rule = chain.rules[i];
            if (rule.kind == RuleKind::log) {
                const ClassDef *c = rules_match(rules, rule.log_prefix);
                used.mark(c);
                if (!c) plan.unmatched.push_back(rule);
            } else if (rule.kind == RuleKind::companion) {
                used.mark(rule.owner_class);
                bool restore = mode == PlanMode::replace && !follows_its_log(chain, i);
                plan.steps.push_back(
                    step(restore ? PlanStep::Op::restore_log : PlanStep::Op::remove, rule));
            }
        }
    }
    plan.unused_classes = used.unused();
    return plan;
}

namespace {

std::string_view op_name(PlanStep::Op op) {
    switch (op) {
    case PlanStep::Op::add_after:
        return "add";
    case PlanStep::Op::replace:
        return "replace";
    case PlanStep::Op::remove:
        return "remove";
    case PlanStep::Op::restore_log:
        return "restore-log";
    }
    return "?";
}

} // namespace

std::string Plan::to_text() const {
    std::string out;
    for (const PlanStep &s : steps) {
        const FwRule &r = s.rule;
        std::string where =
            fmt::format("{} {} {} #{}", to_string(r.family), r.table, r.chain, r.handle);
        switch (s.op) {
        case PlanStep::Op::add_after:
        case PlanStep::Op::replace:
            out +=
                fmt::format("{} {}: NFLOG group {} class {} prefix \"{}\" {} {}\n", op_name(s.op),
                            where, s.companion.group, s.companion.class_name, s.companion.prefix,
                            s.op == PlanStep::Op::add_after ? "after" : "in place of", r.text);
            break;
        case PlanStep::Op::remove:
            out += fmt::format("remove {}: {}\n", where, r.text);
            break;
        case PlanStep::Op::restore_log:
            out += fmt::format("restore-log {}: LOG prefix \"{}\" in place of {}\n", where,
                               r.log_prefix, r.text);
            break;
        }
    }
    return out;
}

} // namespace netlog
