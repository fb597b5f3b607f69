// netlog-rules: the options every subcommand shares, the context built from them (rules
// file, mode, families, backends) and the subcommands, one file each (like wg's show.c,
// set.c): plan.cpp, install.cpp, remove.cpp, status.cpp, watch.cpp.
#pragma once

#include "rules_backend.h"
#include <netlog/classes.h>
#include <netlog/result.h>
#include <netlog/ruleplan.h>

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace netlog::cli {

struct Options {
    std::string rules_file = "/etc/netlog/rules/cloudfoundry.yaml";
    bool rules_given = false;
    // netlogd.yaml: its rules file (unless --rules) and `connections: {outcomes: true}`,
    // which adds the ICMP error rule (ruleplan.h) to what install and watch keep in place.
    std::string config_file;
    std::string backend = "auto";
    std::string family = "all";
    std::string mode = "alongside";
    double interval = 1.0; // watch: seconds between polls (legacy) / wait timeout (nft)
};

struct Context {
    Options opts;
    RulesFile rules;
    PlanMode mode = PlanMode::alongside;
    bool icmp_errors = false; // the config's connections.outcomes
    std::vector<Family> families;
    std::vector<std::unique_ptr<RulesBackend>> backends;
};

// Check the options, parse the rules file and pick the backends (--backend auto says on
// stderr which it chose and why). Nothing is changed; errors are one line for the user.
Result<std::unique_ptr<Context>> context_make(const Options &opts);

// One line to stdout, flushed (watch's output is read through pipes).
template <class... Args> void say(fmt::format_string<Args...> f, Args &&...args) {
    fmt::print(stdout, "{}\n", fmt::format(f, std::forward<Args>(args)...));
    std::fflush(stdout);
}
// One line to stderr: "netlog-rules: <message>".
void complain(std::string_view message);

// "filter vpa--1 #2 \"OK_0002_x \"": where a rule is and what it logs.
std::string rule_where(const FwRule &r);

// Exit statuses (netlog-rules(8)): every class-matched LOG rule covered; some covered and
// some named "not covered"; an error, or none of them covered.
inline constexpr int exit_ok = 0, exit_failed = 1, exit_partial = 3;
int exit_status(std::size_t covered, std::size_t not_covered);

// Print the plan's "not covered: ..." and "not carried: ..." lines (stdout).
void say_notes(const Plan &plan);

// "<backend> <family>: connections: no filter INPUT, FORWARD or OUTPUT chain ..." when the
// plan wanted the ICMP error rule and found no chain to put it in.
void say_icmp_no_chain(const RulesBackend &b, Family f, const Plan &plan);

// "filter/FORWARD filter/INPUT": where these rules are.
std::string chains_of(const std::vector<FwRule> &rules);

// An inet table's rules are read with both families: when both are handled, the second
// one does not list (or count twice) what the first one already did.
bool inet_seen_before(const Context &ctx, Family f, const FwRule &r);

int cmd_plan(Context &ctx);
int cmd_install(Context &ctx);
int cmd_remove(Context &ctx);
int cmd_status(Context &ctx);
int cmd_watch(Context &ctx);

} // namespace netlog::cli
