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

// The companion prefix for a LOG rule with these options, within `prefix_max` bytes; what
// the companion cannot carry goes to `why` ("" = everything).
std::string companion_prefix(LogOptions o, std::size_t prefix_max, std::string &why) {
    std::vector<std::string> lost;
    if (o.level == log_level_audit) {
        lost.push_back("log level audit (the kernel writes audit records, not log lines; "
                       "netlogd gets level 4)");
        o.level = log_default_level;
    } else if (o.level > 7) {
        lost.push_back(fmt::format("log level {} (not a syslog level; netlogd gets 4)", o.level));
        o.level = log_default_level;
    }
    if (o.flags & ~log_flags_known) {
        lost.push_back(fmt::format("LOG flags {:#04x} (unknown to the options tag)",
                                   o.flags & ~log_flags_known));
        o.flags &= log_flags_known;
    }
    std::string out = o.prefix;
    if (prefix_tag_needed(o)) {
        if (o.prefix.size() + prefix_tag_size <= prefix_max) {
            out = prefix_tag_add(o);
        } else if (o.level != log_default_level || o.flags != 0) {
            lost.push_back(fmt::format(
                "level {} and flags {:#04x}: the prefix ({} bytes) leaves no room for the "
                "options tag (an NFLOG prefix holds {} bytes here)",
                o.level, o.flags, o.prefix.size(), prefix_max));
        } else {
            lost.push_back(fmt::format(
                "the prefix ends like an options tag and leaves no room for one ({} bytes, an "
                "NFLOG prefix holds {} here): netlogd will read it as options",
                o.prefix.size(), prefix_max));
        }
    }
    why = fmt::format("{}", fmt::join(lost, "; "));
    return out;
}

LogOptions options_of(const FwRule &log) {
    return LogOptions{log.log_prefix, log.log_level, log.log_flags};
}

Companion companion_for(const ClassDef &c, const RulesFile &rules, const LogOptions &o,
                        const std::string &rule_comment, std::size_t prefix_max, std::string &why) {
    Companion comp;
    comp.class_name = c.name;
    comp.group = c.effective_group(rules.nflog);
    comp.prefix = companion_prefix(o, prefix_max, why);
    comp.snaplen = rules.nflog.snaplen;
    comp.queue_threshold = rules.nflog.queue_threshold;
    comp.rule_comment = rule_comment;
    // nft keeps one comment per rule (at most 127 bytes): the rule's own, then the tag.
    if (!rule_comment.empty() && comp.nft_comment().size() > 127) {
        comp.rule_comment.clear();
        why += fmt::format("{}the rule's comment (no room beside the owner tag)",
                           why.empty() ? "" : "; ");
    }
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
           prev.log_prefix == prefix_tag_strip(comp.log_prefix).prefix;
}

// Legacy positions move as companions go in above a rule: a refusal names the rule by
// everything but its position.
const RuleNote *refusal_of(const PlanOptions &o, const FwRule &r) {
    for (const RuleNote &n : o.refused)
        if (n.rule.family == r.family && n.rule.table == r.table && n.rule.chain == r.chain &&
            n.rule.text == r.text)
            return &n;
    return nullptr;
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

// The chains that take an ICMP error rule (icmp_error_chains of table filter).
bool icmp_error_chain(const FwChain &c) {
    return c.table == icmp_error_table &&
           std::find(icmp_error_chains.begin(), icmp_error_chains.end(), c.chain) !=
               icmp_error_chains.end();
}

} // namespace

PlanStep icmp_error_step(Family family, std::string_view chain, const RulesFile &rules) {
    PlanStep s;
    s.op = PlanStep::Op::insert_first;
    s.rule.family = family;
    s.rule.table = std::string(icmp_error_table);
    s.rule.chain = std::string(chain);
    s.rule.handle = 0;
    s.rule.kind = RuleKind::companion;
    // As iptables-save prints them back (libxt_icmp / libip6t_icmp6 / libxt_conntrack).
    s.rule.match_key = family == Family::ipv4
                           ? "-p icmp -m icmp --icmp-type 3 -m conntrack --ctstate RELATED"
                           : "-p ipv6-icmp -m icmp6 --icmpv6-type 1 -m conntrack --ctstate RELATED";
    s.rule.text = fmt::format("(ICMP{} destination-unreachable, ctstate RELATED)",
                              family == Family::ipv4 ? "" : "v6");
    s.companion.class_name = std::string(icmp_error_owner);
    s.companion.group = rules.nflog.group;
    s.companion.prefix = std::string(icmp_error_prefix);
    s.companion.snaplen = rules.nflog.snaplen;
    s.companion.queue_threshold = rules.nflog.queue_threshold;
    s.rule.owner_class = s.companion.class_name;
    s.rule.group = s.companion.group;
    s.rule.log_prefix = s.companion.prefix;
    return s;
}

Plan plan_install(const Ruleset &current, const RulesFile &rules, PlanMode mode) {
    PlanOptions o;
    o.mode = mode;
    return plan_install(current, rules, o);
}

Plan plan_install(const Ruleset &current, const RulesFile &rules, const PlanOptions &options) {
    const PlanMode mode = options.mode;
    Plan plan;
    UsedClasses used(rules);
    plan.icmp_no_chain =
        options.icmp_errors &&
        std::none_of(current.chains.begin(), current.chains.end(), icmp_error_chain);
    for (const FwChain &chain : current.chains) {
        const auto &r = chain.rules;
        std::vector<bool> consumed(r.size());
        // The ICMP error rule: one per chain that takes it, wherever another agent's
        // inserts have pushed it (moving it back to the top would fight agents that want
        // their own rule first); the others, and any when it is not wanted, go.
        const bool icmp_wanted = options.icmp_errors && icmp_error_chain(chain);
        bool icmp_found = false;
        for (std::size_t i = 0; i < r.size(); ++i) {
            const FwRule &rule = r[i];
            if (is_icmp_error_rule(rule)) {
                if (icmp_wanted && !icmp_found && rule.group == rules.nflog.group &&
                    rule.log_prefix == icmp_error_prefix) {
                    icmp_found = true;
                    plan.icmp_rules.push_back(rule);
                } else {
                    plan.steps.push_back(step(PlanStep::Op::remove, rule));
                }
                continue;
            }
            if (rule.kind == RuleKind::log) {
                const ClassDef *c = rules_match(rules, rule.log_prefix);
                if (!c) {
                    plan.unmatched.push_back(rule);
                    continue;
                }
                used.mark(c);
                // A newline in its comment (iptables takes one; the save tools print it raw):
                // the rule can be read, but no restore line could name it or its matches.
                if (std::any_of(rule.text.begin(), rule.text.end(),
                                [](char ch) { return ch == '\n' || ch == '\r'; })) {
                    plan.not_covered.push_back(
                        RuleNote{rule, "its text holds a line break (in a comment?), which "
                                       "iptables-restore cannot take: change the rule's comment"});
                    continue;
                }
                std::string lost;
                Companion want = companion_for(*c, rules, options_of(rule), rule.comment,
                                               options.prefix_max, lost);
                bool next_ok = i + 1 < r.size() && is_companion_of(r[i + 1], rule, want);
                if (next_ok) consumed[i + 1] = true;
                if (const RuleNote *refused = refusal_of(options, rule); refused && !next_ok) {
                    plan.not_covered.push_back(RuleNote{rule, refused->reason});
                    continue;
                }
                // Replace mode evaluates the matches once (the companion takes the LOG
                // rule's place); alongside, matches with side effects would run twice.
                // A LOG rule whose options the companion cannot carry stays (remove could
                // not put it back as it was) and gets a companion alongside.
                bool alongside = mode == PlanMode::alongside || !lost.empty();
                if (alongside && !rule.side_effect.empty()) {
                    plan.not_covered.push_back(
                        RuleNote{rule, rule.side_effect +
                                           (mode == PlanMode::replace
                                                ? " (and replace mode cannot carry " + lost + ")"
                                                : "; --mode replace would mirror it")});
                    continue;
                }
                if (!lost.empty()) plan.not_carried.push_back(RuleNote{rule, lost});
                if (alongside) {
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
                // Orphaned; or, in replace mode, an alongside companion its LOG rule no
                // longer wants (an install from before the options tag): the LOG rule gets
                // its own, this one goes.
                if (mode == PlanMode::alongside || follows_its_log(chain, i)) {
                    plan.steps.push_back(step(PlanStep::Op::remove, rule));
                    continue;
                }
                // replace mode: a companion stands in place of its LOG rule.
                LogOptions was = prefix_tag_strip(rule.log_prefix);
                const ClassDef *c = rules_match(rules, was.prefix);
                used.mark(c);
                if (c && c->name == rule.owner_class &&
                    c->effective_group(rules.nflog) == rule.group) {
                    plan.covered.push_back(rule);
                } else if (c) {
                    std::string lost;
                    plan.steps.push_back(step(
                        PlanStep::Op::replace, rule,
                        companion_for(*c, rules, was, rule.comment, options.prefix_max, lost)));
                } else {
                    PlanStep s = step(PlanStep::Op::restore_log, rule);
                    s.log = was;
                    plan.steps.push_back(std::move(s));
                }
            }
        }
        if (icmp_wanted && !icmp_found)
            plan.steps.push_back(icmp_error_step(chain.family, chain.chain, rules));
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
            } else if (is_icmp_error_rule(rule)) {
                plan.steps.push_back(step(PlanStep::Op::remove, rule));
            } else if (rule.kind == RuleKind::companion) {
                used.mark(rule.owner_class);
                bool restore = mode == PlanMode::replace && !follows_its_log(chain, i);
                PlanStep s = step(restore ? PlanStep::Op::restore_log : PlanStep::Op::remove, rule);
                if (restore) s.log = prefix_tag_strip(rule.log_prefix);
                plan.steps.push_back(std::move(s));
            }
        }
    }
    plan.unused_classes = used.unused();
    return plan;
}

namespace {

std::string_view op_name(PlanStep::Op op) {
    switch (op) {
    case PlanStep::Op::add_after: return "add";
    case PlanStep::Op::replace: return "replace";
    case PlanStep::Op::remove: return "remove";
    case PlanStep::Op::restore_log: return "restore-log";
    case PlanStep::Op::insert_first: return "add";
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
        case PlanStep::Op::insert_first:
            out += fmt::format("add {} {} {} #1: NFLOG group {} prefix \"{}\" for {} (connections: "
                               "ICMP error rule)\n",
                               to_string(r.family), r.table, r.chain, s.companion.group,
                               s.companion.prefix, r.text);
            break;
        case PlanStep::Op::remove: out += fmt::format("remove {}: {}\n", where, r.text); break;
        case PlanStep::Op::restore_log:
            out += fmt::format(
                "restore-log {}: LOG prefix \"{}\"{} in place of {}\n", where, s.log.prefix,
                s.log.level != log_default_level || s.log.flags
                    ? fmt::format(" level {} flags {:#04x}", s.log.level, s.log.flags)
                    : "",
                r.text);
            break;
        }
    }
    return out;
}

std::string Plan::notes_text() const {
    std::string out;
    for (const RuleNote &n : not_covered)
        out += fmt::format("not covered: {}: {}\n", rule_name(n.rule), n.reason);
    for (const RuleNote &n : not_carried)
        out += fmt::format("not carried: {}: {}\n", rule_name(n.rule), n.reason);
    return out;
}

std::string Companion::nft_comment() const {
    return rule_comment.empty() ? comment() : rule_comment + " " + comment();
}

CommentParts comment_split(std::string_view c) {
    CommentParts out;
    std::size_t at = std::string_view::npos;
    if (c.rfind(owner_tag_prefix, 0) == 0)
        at = 0;
    else if (auto sp = c.rfind(std::string(" ") + std::string(owner_tag_prefix));
             sp != std::string_view::npos)
        at = sp + 1;
    if (at == std::string_view::npos ||
        c.find(' ', at) != std::string_view::npos) { // the tag is the last word
        out.own = std::string(c);
        return out;
    }
    out.owner_class = std::string(c.substr(at + owner_tag_prefix.size()));
    out.own = std::string(c.substr(0, at == 0 ? 0 : at - 1));
    return out;
}

bool same_rule(const FwRule &a, const FwRule &b) {
    return a.family == b.family && a.table == b.table && a.chain == b.chain &&
           a.handle == b.handle && a.text == b.text;
}

std::string rule_name(const FwRule &r) {
    return fmt::format("{} {} {} #{} \"{}\"", to_string(r.family), r.table, r.chain, r.handle,
                       r.log_prefix);
}

} // namespace netlog
