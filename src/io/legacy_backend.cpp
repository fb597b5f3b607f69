// The iptables-legacy backend: read with iptables-legacy-save, apply with one
// iptables-legacy-restore --noflush per table (ip6tables-legacy-* for IPv6). A restore
// commits a whole table at once (one IPT_SO_SET_REPLACE) or nothing.
#include "rules_backend.h"
#include "subprocess.h"
#include <netlog/iptables_save.h>

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

    Result<ApplyStatus> apply(const Plan &plan, Family f) override {
        for (const std::string &table : iptables_plan_tables(plan, f)) {
            std::string input = iptables_restore_input(plan, f, table);
            std::vector<std::string> argv{restore_tool(f), "--noflush", "-w", "5"};
            auto p = process_run(argv, input);
            if (!p) return p.error();
            if (p->status == 0) continue;
            // The kernel refuses a table replacement whose rule count changed since the
            // restore read it (EAGAIN); a rule deleted by spec that is gone, or an index
            // past the end, fails the restore: someone else wrote in between.
            if (contains(p->err, "Resource temporarily unavailable")) return ApplyStatus::conflict;
            auto text = save_text(f, table);
            if (!text) return text.error();
            auto now = iptables_save_parse(*text, f);
            if (now && !plan_still_fits(plan, f, table, *now)) return ApplyStatus::conflict;
            return tool_error(argv[0], *p, input);
        }
        return ApplyStatus::applied;
    }
};

} // namespace

std::unique_ptr<RulesBackend> make_legacy_backend() {
    return std::make_unique<LegacyBackend>();
}

} // namespace netlog
