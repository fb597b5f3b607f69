// Fuzz the iptables-save parser (what netlog-rules reads from iptables-legacy-save) and what
// is built on it: planning both ways, rendering restore input. A LOG prefix quoted the way
// iptables-save quotes it must parse back to itself.
#include "iptables_save.h"
#include <netlog/ruleplan.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace netlog;

namespace {

const RulesFile &rules() {
    static const RulesFile rf = [] {
        auto r = rules_parse(
            "nflog: {group: 42, snaplen: 128, queue_threshold: 32}\n"
            "classes:\n"
            "  - {name: c2c, log_prefix: '^OK_[0-9a-f]{4}_', direction: ingress, verdict: "
            "allowed}\n"
            "  - {name: ok, log_prefix: '^OK_', direction: egress, verdict: allowed}\n"
            "  - {name: deny, log_prefix: '^DENY_', direction: egress, verdict: denied}\n",
            "fuzz.yaml");
        if (!r) std::abort();
        return *r;
    }();
    return rf;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    for (Family f : {Family::ipv4, Family::ipv6}) {
        auto rs = iptables_save_parse(text, f);
        if (!rs) continue;
        for (PlanMode mode : {PlanMode::alongside, PlanMode::replace}) {
            for (const Plan &plan :
                 {plan_install(*rs, rules(), mode), plan_remove(*rs, rules(), mode)}) {
                (void)plan.to_text();
                for (const auto &table : iptables_plan_tables(plan, f))
                    (void)iptables_restore_input(plan, f, table);
            }
        }
    }
    // Quoting round trip on the input as a prefix (one line, no NUL: what a LOG prefix is).
    std::string prefix(text.substr(0, 64));
    if (prefix.find_first_of(std::string("\n\r\t\0", 4)) == std::string::npos && !prefix.empty()) {
        auto r = iptables_rule_parse("-A X -j LOG --log-prefix " + iptables_quote(prefix),
                                     Family::ipv4, "filter");
        if (!r || r->log_prefix != prefix || r->kind != RuleKind::log) {
            std::fprintf(stderr, "quote round trip failed for '%s'\n", prefix.c_str());
            std::abort();
        }
    }
    return 0;
}
