// iptables-save text <-> netlog's rule model, for the iptables-legacy backend. Pure: the
// text of `iptables-save` / `ip6tables-save` in, a Ruleset out; a Plan in, the input of
// `iptables-restore --noflush` out. Quoting follows iptables' xtables_save_string().
#pragma once

#include <netlog/result.h>
#include <netlog/ruleplan.h>

#include <string>
#include <string_view>
#include <vector>

namespace netlog {

// Parse a whole save output (all tables). Rules get handle = 1-based position in their
// chain, kind, match_key, prefix and (companions) class and group. Counters ("[p:b]"
// before a rule, "[p:b]" after a chain policy) are accepted and ignored.
Result<Ruleset> iptables_save_parse(std::string_view text, Family family);

// Parse one rule line ("-A CHAIN ..." as iptables-save prints it) of `table`.
Result<FwRule> iptables_rule_parse(std::string_view line, Family family, std::string_view table);

// A string argument as iptables-save prints it: bare when it is only [A-Za-z0-9_-],
// else in double quotes with `"`, `\` and `'` escaped by a backslash.
std::string iptables_quote(std::string_view value);

// The rule specification (no "-A CHAIN") of the NFLOG companion of a rule with these
// matches: `<matches> -m comment --comment "netlog:<class>" -j NFLOG --nflog-prefix ...`.
std::string iptables_companion_spec(std::string_view match_key, const Companion &c);

// The rule specification of a LOG rule with these matches, prefix, level and flags, as
// iptables-save prints it.
std::string iptables_log_spec(std::string_view match_key, const LogOptions &log);

// The tables (in first-seen order) that the plan's steps for `family` touch.
std::vector<std::string> iptables_plan_tables(const Plan &plan, Family family);

// Input for `iptables-restore --noflush` applying the plan's steps for one table and
// family: "*table", the steps ordered bottom-up per chain so each position still names
// the rule the plan was made from, "COMMIT". Insertions are positional (-I chain N);
// deletions name the whole rule (-D chain <spec>), so a rule that moved or vanished
// since the plan was made fails the restore rather than deleting some other rule.
// `only` (optional, one flag per plan step): apply just the steps flagged. `line_step`
// (optional) gets, per line of the input (index 0 = line 1), the index of the plan step the
// line belongs to, or -1.
// `by_position`: delete by position (-D CHAIN N) instead of by specification. For rules
// whose save text does not delete (iptables 1.8.9 cannot delete `-m recent ... --mask
// 255.255.255.255 --rsource` by the very text iptables-save printed); the caller checks
// just before that each position still holds the rule the plan was made from.
std::string iptables_restore_input(const Plan &plan, Family family, std::string_view table,
                                   const std::vector<bool> *only = nullptr,
                                   std::vector<long> *line_step = nullptr,
                                   bool by_position = false);

// The save output with what changes without anyone touching the rules removed:
// "#" comment lines (dates) and counters. Two saves of the same ruleset compare equal.
std::string iptables_save_normalize(std::string_view text);

} // namespace netlog
