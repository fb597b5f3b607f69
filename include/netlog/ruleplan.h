// Rule planning for netlog-rules: which kernel LOG rules need an NFLOG companion, which
// companions are orphaned, what to add or remove. Pure: a Ruleset value in (read by a
// backend), a Plan value out (applied by a backend). Printable, diffable, testable.
#pragma once

#include <netlog/classes.h>
#include <netlog/prefix_tag.h>
#include <netlog/rule_mode.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netlog {

enum class RuleKind : std::uint8_t {
    log,       // kernel LOG target (iptables -j LOG, nft `log` without group)
    companion, // an NFLOG rule carrying the owner tag "netlog:<class>"
    other,     // anything else (including NFLOG rules that are not ours)
};
inline constexpr std::string_view owner_tag_prefix = "netlog:";

// The ICMP error rule (`connections: {outcomes: true}`): the kernel's conntrack says nothing
// when an ICMP destination-unreachable answers a connection (netlog/conntrack.h), so netlog
// logs those errors itself. One NFLOG rule per family at the top of filter FORWARD, INPUT
// and OUTPUT (errors crossing the host, errors for its own connections, errors it makes
// itself: a REJECT in FORWARD sends its ICMP error through OUTPUT): ICMP type 3 (ICMPv6
// type 1), conntrack state RELATED, the rules file's NFLOG group, this prefix and the owner
// tag "netlog:@icmp-error" ('@' keeps it apart from class names). netlogd counts its events
// as `connection_signal` instead of emitting them (netlog/accounting.h).
inline constexpr std::string_view icmp_error_prefix = "netlog-icmp-error";
inline constexpr std::string_view icmp_error_owner = "@icmp-error";
inline constexpr std::string_view icmp_error_table = "filter";
inline constexpr std::array<std::string_view, 3> icmp_error_chains{"FORWARD", "INPUT", "OUTPUT"};
// What netlog-rules and netlogd say when Plan::icmp_no_chain.
inline constexpr std::string_view icmp_no_chain_text =
    "connections: no filter INPUT, FORWARD or OUTPUT chain to hold the ICMP error rule (native "
    "nftables chains of other names are not supported yet): unreachable connections will be "
    "reported as unanswered";

struct FwRule {
    Family family = Family::ipv4;
    std::string table, chain;
    std::uint64_t handle = 0; // nft: rule handle; legacy: 1-based position in the chain
    RuleKind kind = RuleKind::other;
    // Backend-specific canonical form of the rule's matches: everything except the target
    // (LOG/NFLOG/log expression) and the owner comment. Equal keys = identical matches.
    std::string match_key;
    std::string log_prefix;  // LOG prefix (log) or NFLOG prefix (companion)
    std::string owner_class; // companion: <class> of its "netlog:<class>" tag
    std::uint16_t group = 0; // companion: its NFLOG group
    std::string text;        // the rule as the user would read it (iptables-save / nft syntax)
    // log: the LOG target's options other than the prefix, canonical text (legacy:
    // "--log-level 6 --log-uid"), "" for a plain LOG rule. For people; the planner reads
    // log_level and log_flags.
    std::string log_options;
    std::uint8_t log_level = log_default_level; // log: 0..7, or log_level_audit (nft)
    std::uint8_t log_flags = 0;                 // log: the kernel's LOG flags
    // log: why the rule's matches must not be evaluated a second time (a match with side
    // effects: recent --set, a named hashlimit, quota, ...); "" = a companion may repeat
    // them. Alongside, such a rule is named and left alone.
    std::string side_effect;
    // The rule's own comment, apart from the owner tag (nft: a companion keeps it beside
    // the tag; legacy keeps it as a match in match_key).
    std::string comment;
    // Any rule: the packet mark it sets (-j MARK --set-xmark/--set-mark, nft `meta mark set`)
    // or requires (-m mark --mark, nft `meta mark`), whole-mark forms only, and its comment
    // (the owner tag included). Cloud Foundry's policy agent names the app of each mark
    // there (peer_marks.h).
    std::optional<std::uint32_t> mark_set, mark_match;
    std::string note;
};

struct FwChain {
    Family family = Family::ipv4;
    std::string table, chain;
    std::vector<FwRule> rules; // in chain order
};

struct Ruleset {
    std::vector<FwChain> chains;
};

// The companion to create for a LOG rule: same matches, NFLOG target.
struct Companion {
    std::string class_name;
    std::uint16_t group = 0;
    std::string prefix;        // the LOG rule's prefix, plus the options tag (prefix_tag.h)
    std::uint32_t snaplen = 0; // 0 = whole packet
    std::uint16_t queue_threshold = 1;
    std::string rule_comment; // the LOG rule's own comment (nft writes it beside the tag)
    std::string comment() const { return std::string(owner_tag_prefix) + class_name; }
    // The nft rule comment: "<rule comment> netlog:<class>", or the tag alone.
    std::string nft_comment() const;
};

// nft: a rule comment split into its own part and the class of a trailing owner tag
// ("netlog:<class>" alone, or after the rule's comment and one blank). No tag: class "".
struct CommentParts {
    std::string own, owner_class;
};
CommentParts comment_split(std::string_view comment);

// A LOG rule that gets no companion, or whose options its companion cannot carry, and why.
struct RuleNote {
    FwRule rule;
    std::string reason;
};

struct PlanStep {
    enum class Op : std::uint8_t {
        add_after,    // insert `companion` right after `rule` (a LOG rule)
        replace,      // replace mode: put `companion` in the place of `rule` (a LOG rule,
                      // or a companion of a class that no longer claims its prefix)
        remove,       // delete `rule` (an orphaned or surplus companion; in replace mode
                      // also a LOG rule whose companion already follows it)
        restore_log,  // replace mode, on remove: put a LOG rule (same matches, prefix
                      // `rule.log_prefix`) back in the place of the companion `rule`
        insert_first, // insert `companion` as the first rule of `rule.chain` (the ICMP error
                      // rule; `rule` names the chain, handle 0, match_key its matches)
    } op = Op::add_after;
    FwRule rule;
    Companion companion; // add_after / replace
    LogOptions log;      // restore_log: the LOG rule's prefix, level and flags (from the tag)
};

struct Plan {
    std::vector<PlanStep> steps;
    std::vector<FwRule> covered;   // LOG rules (or, in replace mode, companions) already in place
    std::vector<FwRule> unmatched; // LOG rules whose prefix matches no class: left alone
    std::vector<std::string> unused_classes; // classes that matched no LOG rule
    // Class-matched LOG rules that get no companion: side effects, or refused by the kernel.
    std::vector<RuleNote> not_covered;
    // Covered (or planned) rules whose companion cannot carry every LOG option.
    std::vector<RuleNote> not_carried;
    // The ICMP error rules already in place (PlanOptions::icmp_errors), and whether the
    // ruleset had no chain to put one in (no filter INPUT, FORWARD or OUTPUT: a native
    // nftables ruleset of other names, or no filter table at all).
    std::vector<FwRule> icmp_rules;
    bool icmp_no_chain = false;
    bool empty() const { return steps.empty(); }
    std::string to_text() const;    // one line per step, for `plan` and logs
    std::string notes_text() const; // "not covered: ..." / "not carried: ..." lines
};

struct PlanOptions {
    PlanMode mode = PlanMode::alongside;
    // The longest NFLOG prefix the backend writes (bytes, no NUL): iptables' NFLOG target
    // 63, nft's log statement 127. A prefix with no room for the tag goes without it.
    std::size_t prefix_max = 63;
    // LOG rules whose companion the kernel refused (same family, table, chain, handle and
    // text): not planned again, listed in not_covered with the kernel's reason.
    std::vector<RuleNote> refused;
    // `connections: {outcomes: true}`: the ICMP error rule goes at the top of each filter
    // chain of icmp_error_chains that the ruleset has (an absent table is not created).
    // false: any ICMP error rule found is removed.
    bool icmp_errors = false;
};

// The ICMP error rule of `family` for the rules file's NFLOG settings: the synthetic
// "rule" names table filter, `chain`, handle 0 and the rule's matches in iptables syntax
// (match_key); the companion carries the owner tag, the group and the prefix.
PlanStep icmp_error_step(Family family, std::string_view chain, const RulesFile &rules);
// Whether a rule read back is an ICMP error rule (by its owner tag).
inline bool is_icmp_error_rule(const FwRule &r) {
    return r.kind == RuleKind::companion && r.owner_class == icmp_error_owner;
}

// Plan what makes every class-matched LOG rule covered by exactly one companion.
Plan plan_install(const Ruleset &current, const RulesFile &rules, const PlanOptions &options);
Plan plan_install(const Ruleset &current, const RulesFile &rules, PlanMode mode);
// Plan the removal of every companion (replace mode: the LOG rule is restored in its place).
Plan plan_remove(const Ruleset &current, const RulesFile &rules, PlanMode mode);

// The same rule as read again (the kernel rule a refusal or a step names).
bool same_rule(const FwRule &a, const FwRule &b);

// "ipv4 filter INPUT #3 \"DENY \"": where a rule is, for messages.
std::string rule_name(const FwRule &r);

} // namespace netlog
