// The iptables-legacy backend: read with iptables-legacy-save, apply with one
// iptables-legacy-restore --noflush per table (ip6tables-legacy-* for IPv6). A restore
// commits a whole table at once (one IPT_SO_SET_REPLACE) or nothing.
#include "rules_backend.h"
#include "subprocess.h"
#include "iptables_save.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace netlog {

namespace {

std::string save_tool(Family f) {
    return f == Family::ipv4 ? "iptables-legacy-save" : "ip6tables-legacy-save";
}
std::string restore_tool(Family f) {
    return f == Family::ipv4 ? "iptables-legacy-restore" : "ip6tables-legacy-restore";
}

std::string first_line(const std::string &s) {
    auto start = s.find_first_not_of(" \n");
    if (start == std::string::npos) return "";
    auto end = s.find('\n', start);
    return s.substr(start, end == std::string::npos ? end : end - start);
}

bool contains(const std::string &s, std::string_view what) {
    return s.find(what) != std::string::npos;
}

Error tool_error(const std::string &tool, const ProcessOutput &p, const std::string &input = {}) {
    if (!process_has_net_admin() || contains(p.err, "Permission denied") ||
        contains(p.err, "you must be root"))
        return make_error(fmt::format("{}: permission denied: netlog-rules needs root / "
                                      "CAP_NET_ADMIN (run it with sudo)",
                                      tool));
    std::string msg = fmt::format("{} failed (exit {}): {}", tool, p.status, first_line(p.err));
    // "Error occurred at line: N" names a line of our restore input: show it.
    auto at = p.err.find("Error occurred at line: ");
    if (at != std::string::npos && !input.empty()) {
        unsigned line = static_cast<unsigned>(std::strtoul(p.err.c_str() + at + 24, nullptr, 10));
        std::size_t pos = 0;
        for (unsigned i = 1; i < line && pos != std::string::npos; ++i) {
            auto nl = input.find('\n', pos);
            pos = nl == std::string::npos ? nl : nl + 1;
        }
        if (line > 0 && pos != std::string::npos && pos < input.size())
            msg += fmt::format(" (restore input line {}: {})", line, first_line(input.substr(pos)));
    }
    return make_error(msg);
}

Result<std::string> save_text(Family f, const std::string &table) {
    std::vector<std::string> argv{save_tool(f)};
    if (!table.empty()) {
        argv.push_back("-t");
        argv.push_back(table);
    }
    auto p = process_run(argv);
    if (!p) return p.error();
    if (p->status != 0) return tool_error(argv[0], *p);
    return std::move(p->out);
}

// Every step of the plan for this table still names the rule it was planned from.
bool plan_still_fits(const Plan &plan, Family f, const std::string &table, const Ruleset &now) {
    for (const PlanStep &s : plan.steps) {
        if (s.rule.family != f || s.rule.table != table) continue;
        auto chain = std::find_if(now.chains.begin(), now.chains.end(), [&](const FwChain &c) {
            return c.table == table && c.chain == s.rule.chain;
        });
        if (chain != now.chains.end() && s.op == PlanStep::Op::insert_first) continue;
        if (chain == now.chains.end() || s.rule.handle == 0 ||
            s.rule.handle > chain->rules.size() ||
            chain->rules[s.rule.handle - 1].text != s.rule.text)
            return false;
    }
    return true;
}

class LegacyBackend final : public RulesBackend {
  public:
    std::string name() const override { return "legacy"; }

    Result<Ruleset> read(Family f) override {
        auto text = save_text(f, "");
        if (!text) return text.error();
        return iptables_save_parse(*text, f);
    }

    std::size_t prefix_max() const override { return 63; } // xt_NFLOG: 64 with the NUL

    // One restore per table. A restore that fails on a line of a companion names that
    // step; one that fails at COMMIT (the kernel's checks run there, all at once) is split:
    // the first half of its steps alone, then the other, down to the one step the kernel
    // refuses. What commits is committed (the caller reads and plans again for the rest).
    Result<ApplyStatus> apply(const Plan &plan, Family f, Report &report) override {
        for (const std::string &table : iptables_plan_tables(plan, f)) {
            std::vector<bool> only(plan.steps.size());
            for (std::size_t i = 0; i < plan.steps.size(); ++i)
                only[i] = plan.steps[i].rule.family == f && plan.steps[i].rule.table == table;
            for (;;) {
                auto st = restore(plan, f, table, only, report);
                if (!st) return st.error();
                if (*st != Outcome::split) {
                    if (*st == Outcome::conflict) return ApplyStatus::conflict;
                    break;
                }
                // Keep the first half of the steps still in play, and try again.
                std::size_t n =
                    static_cast<std::size_t>(std::count(only.begin(), only.end(), true));
                std::size_t kept = 0;
                for (std::size_t i = 0; i < only.size(); ++i)
                    if (only[i] && ++kept > n / 2) only[i] = false;
                partial_ = true;
            }
            if (partial_) { // a part went in: the caller re-reads before anything else
                partial_ = false;
                return ApplyStatus::applied;
            }
        }
        return ApplyStatus::applied;
    }

  private:
    enum class Outcome : std::uint8_t { applied, refused_one, conflict, split };
    bool partial_ = false;

    Result<Outcome> restore(const Plan &plan, Family f, const std::string &table,
                            std::vector<bool> &only, Report &report, bool by_position = false) {
        std::vector<long> line_step;
        std::string input = iptables_restore_input(plan, f, table, &only, &line_step, by_position);
        std::vector<std::string> argv{restore_tool(f), "--noflush", "-w", "5"};
        auto p = process_run(argv, input);
        if (!p) return p.error();
        if (p->status == 0) {
            for (std::size_t i = 0; i < only.size(); ++i)
                if (only[i]) report.applied.push_back(i);
            return Outcome::applied;
        }
        // The kernel refuses a table replacement whose rule count changed since the
        // restore read it (EAGAIN); a rule deleted by spec that is gone, or an index
        // past the end, fails the restore: someone else wrote in between.
        if (contains(p->err, "Resource temporarily unavailable")) return Outcome::conflict;
        auto text = save_text(f, table);
        if (!text) return text.error();
        auto now = iptables_save_parse(*text, f);
        if (now && !plan_still_fits(plan, f, table, *now)) return Outcome::conflict;
        if (!process_has_net_admin() || contains(p->err, "Permission denied") ||
            contains(p->err, "you must be root"))
            return tool_error(argv[0], *p, input);
        long step = -1;
        auto at = p->err.find("Error occurred at line: ");
        if (at != std::string::npos) {
            auto line = std::strtoul(p->err.c_str() + at + 24, nullptr, 10);
            if (line >= 1 && line <= line_step.size()) step = line_step[line - 1];
        }
        std::size_t in_play = static_cast<std::size_t>(std::count(only.begin(), only.end(), true));
        if (step < 0 && in_play == 1)
            step = std::find(only.begin(), only.end(), true) - only.begin();
        // A deletion by the rule's own save text that failed while the rule is still where
        // the plan saw it (just checked): iptables cannot delete that rule by its text;
        // delete by position instead.
        if (step >= 0 && !by_position &&
            plan.steps[static_cast<std::size_t>(step)].op != PlanStep::Op::add_after &&
            plan.steps[static_cast<std::size_t>(step)].op != PlanStep::Op::insert_first)
            return restore(plan, f, table, only, report, true);
        if (step >= 0) {
            auto i = static_cast<std::size_t>(step);
            auto op = plan.steps[i].op;
            if (op != PlanStep::Op::add_after && op != PlanStep::Op::replace &&
                op != PlanStep::Op::insert_first)
                return tool_error(argv[0], *p, input); // a deletion or restore: not a companion
            report.refused.push_back(
                RuleNote{plan.steps[i].rule,
                         fmt::format("{} refused its companion: {}", argv[0], first_line(p->err))});
            only[i] = false;
            if (std::none_of(only.begin(), only.end(), [](bool b) { return b; }))
                return Outcome::refused_one;
            return restore(plan, f, table, only, report, by_position);
        }
        return Outcome::split;
    }
};

} // namespace

std::unique_ptr<RulesBackend> make_legacy_backend() {
    return std::make_unique<LegacyBackend>();
}

} // namespace netlog
