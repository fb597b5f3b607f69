// netlog's rule model -> iptables-restore input (iptables_save.h): the companion and LOG
// rule specifications as iptables-save prints them, and a Plan as `--noflush` input.
#include "iptables_save.h"

#include <fmt/format.h>

#include <algorithm>

namespace netlog {

std::string iptables_quote(std::string_view value) {
    static constexpr std::string_view bare =
        "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (!value.empty() && value.find_first_not_of(bare) == std::string_view::npos)
        return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::string iptables_companion_spec(std::string_view match_key, const Companion &c) {
    std::string out(match_key);
    if (!out.empty()) out += ' ';
    out += "-m comment --comment " + iptables_quote(c.comment()) + " -j NFLOG";
    if (!c.prefix.empty()) out += " --nflog-prefix " + iptables_quote(c.prefix);
    if (c.group != 0) out += fmt::format(" --nflog-group {}", c.group);
    if (c.snaplen != 0) out += fmt::format(" --nflog-size {}", c.snaplen);
    out += fmt::format(" --nflog-threshold {}", c.queue_threshold);
    return out;
}

std::string iptables_log_spec(std::string_view match_key, const LogOptions &log) {
    std::string out(match_key);
    if (!out.empty()) out += ' ';
    out += "-j LOG";
    if (!log.prefix.empty()) out += " --log-prefix " + iptables_quote(log.prefix);
    // The order and spelling of libxt_LOG's save().
    if (log.level != log_default_level) out += fmt::format(" --log-level {}", log.level);
    if (log.flags & log_flag_tcpseq) out += " --log-tcp-sequence";
    if (log.flags & log_flag_tcpopt) out += " --log-tcp-options";
    if (log.flags & log_flag_ipopt) out += " --log-ip-options";
    if (log.flags & log_flag_uid) out += " --log-uid";
    if (log.flags & log_flag_macdecode) out += " --log-macdecode";
    return out;
}

std::vector<std::string> iptables_plan_tables(const Plan &plan, Family family) {
    std::vector<std::string> out;
    for (const PlanStep &s : plan.steps)
        if (s.rule.family == family && std::find(out.begin(), out.end(), s.rule.table) == out.end())
            out.push_back(s.rule.table);
    return out;
}

namespace {

// The rule as iptables-save printed it, without "-A CHAIN ".
std::string rule_spec(const FwRule &r) {
    std::string head = "-A " + r.chain + " ";
    return r.text.rfind(head, 0) == 0 ? r.text.substr(head.size()) : r.text;
}

} // namespace

std::string iptables_restore_input(const Plan &plan, Family family, std::string_view table,
                                   const std::vector<bool> *only, std::vector<long> *line_step,
                                   bool by_position) {
    std::vector<const PlanStep *> steps;
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
        const PlanStep &s = plan.steps[i];
        if (s.rule.family == family && s.rule.table == table && (!only || (*only)[i]))
            steps.push_back(&s);
    }
    if (line_step) line_step->assign(1, -1); // "*table"
    auto mark = [&](const PlanStep *s, std::size_t lines) {
        if (line_step)
            line_step->insert(line_step->end(), lines, static_cast<long>(s - plan.steps.data()));
    };
    // Bottom-up within each chain: a change at position N never moves positions < N.
    std::stable_sort(steps.begin(), steps.end(), [](const PlanStep *a, const PlanStep *b) {
        if (a->rule.chain != b->rule.chain) return a->rule.chain < b->rule.chain;
        return a->rule.handle > b->rule.handle;
    });
    std::string out = fmt::format("*{}\n", table);
    for (const PlanStep *s : steps) {
        const FwRule &r = s->rule;
        // Deletions name the rule by its full specification, never by position: a rule
        // that moved or vanished fails the whole restore instead of deleting another.
        std::string del = by_position ? fmt::format("-D {} {}\n", r.chain, r.handle)
                                      : fmt::format("-D {} {}\n", r.chain, rule_spec(r));
        switch (s->op) {
        case PlanStep::Op::add_after:
            out += fmt::format("-I {} {} {}\n", r.chain, r.handle + 1,
                               iptables_companion_spec(r.match_key, s->companion));
            mark(s, 1);
            break;
        case PlanStep::Op::replace:
            out += del + fmt::format("-I {} {} {}\n", r.chain, r.handle,
                                     iptables_companion_spec(r.match_key, s->companion));
            mark(s, 2);
            break;
        case PlanStep::Op::insert_first:
            out += fmt::format("-I {} 1 {}\n", r.chain,
                               iptables_companion_spec(r.match_key, s->companion));
            mark(s, 1);
            break;
        case PlanStep::Op::remove:
            out += del;
            mark(s, 1);
            break;
        case PlanStep::Op::restore_log:
            out += del + fmt::format("-I {} {} {}\n", r.chain, r.handle,
                                     iptables_log_spec(r.match_key, s->log));
            mark(s, 2);
            break;
        }
    }
    out += "COMMIT\n";
    if (line_step) line_step->push_back(-1);
    return out;
}

} // namespace netlog
