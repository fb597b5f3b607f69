// nftables backend internals (libnftnl + libmnl): how one kernel rule is read as an FwRule,
// how a companion / restored LOG rule is built from it, and the netlink plumbing (dumps,
// one-batch transactions, ruleset-change notifications). The public entry point is
// make_nft_backend() in rules_backend.h.
//
// `netlog-rules watch` and manage_rules: RulesBackend::wait_change() of the nft backend blocks on the
// NFNLGRP_NFTABLES notifications and ignores the generations this backend committed
// itself, so `watch` never loops on its own changes. nft_watch() below is the same loop
// as a callback, for code that does not hold a RulesBackend.
//
// Order: a companion placed before its LOG rule (because that rule acts after logging,
// `log prefix "x" drop`) is listed right after it, where the planner expects companions.
//
// Families: --family ipv4 reads `ip` and `inet` tables, --family ipv6 reads `ip6` and
// `inet` tables (an inet table sees both IPv4 and IPv6 packets, so it belongs to both;
// its companions are installed by whichever family comes first, and the other finds them
// covered). An inet table is named "inet:<name>" in FwRule::table.
#pragma once

#include "rules_backend.h"

#include <atomic>
#include <optional>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <netlog/result.h>
#include <netlog/ruleplan.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct nftnl_rule;
struct mnl_socket;
struct nlmsghdr;

namespace netlog::nft {

// FwRule::table of a kernel table: its name; "inet:<name>" for an inet table.
std::string table_key(std::uint32_t nfproto, const char *name);

// Anonymous sets (`tcp dport { 22, 80 }`) belong to the one rule that looks them up: a
// copy of that rule needs its own copy of the set, made in the same batch. Read with the
// rules; `content` (its elements, canonical) stands for the set in match keys.
struct AnonSet {
    std::vector<std::uint8_t> set_msg;                // NFT_MSG_NEWSET, as dumped
    std::vector<std::vector<std::uint8_t>> elem_msgs; // NFT_MSG_NEWSETELEM, as dumped
    std::string content;
};
using AnonSets = std::map<std::pair<std::string, std::string>, AnonSet>; // (table key, set name)

// nft names anonymous sets "__set<N>" and anonymous maps "__map<N>".
inline bool is_anon_set_name(std::string_view name) {
    return name.rfind("__set", 0) == 0 || name.rfind("__map", 0) == 0;
}

// The anonymous sets a rule looks up (names), to know which ones to read.
std::vector<std::string> rule_anon_sets(const nftnl_rule *r);

// ---- one rule (nft_rule.cpp) -------------------------------------------------------------

struct RuleDeleter {
    void operator()(nftnl_rule *r) const;
};
using RulePtr = std::unique_ptr<nftnl_rule, RuleDeleter>;

// Parse one NFT_MSG_NEWRULE message (from a dump) into a libnftnl rule.
RulePtr rule_parse(const void *nlmsg, std::size_t len);

// How netlog sees a kernel rule. The "log expression" is the first `log` expression or
// xt target LOG/NFLOG (what iptables-nft writes for -j LOG). Its position splits the rule:
// matches before it, actions after it.
struct RuleFacts {
    RuleKind kind = RuleKind::other;
    std::string match_key; // the matches before the log expression, minus counters/comments
    std::string log_prefix;
    std::string log_options; // LOG: non-default level/flags ("level 6 flags 0x1"), else ""
    std::uint8_t log_level = 4, log_flags = 0; // LOG: level (8 = audit) and flags
    std::string side_effect; // LOG: why its matches must not run twice ("" = they may)
    std::string comment;     // the rule's own comment (without a trailing owner tag)
    std::string owner_class; // from a "netlog:<class>" comment (udata or xt comment match)
    std::uint16_t group = 0;
    std::string text;            // family table chain handle, then each expression
    bool xt = false;             // the rule uses xt (iptables-nft compat) expressions
    bool acts_after_log = false; // something other than a counter follows the log expression
    std::optional<std::uint32_t> mark_set, mark_match; // FwRule's
    std::string note;                                  // the comment, owner tag included
};
RuleFacts rule_facts(const nftnl_rule *r, const AnonSets &sets);

// A new companion rule built from the LOG rule `log_rule` (parsed from the same dump).
//  - alongside: its matches, a counter if it had one, the owner comment, `log group`;
//    inserted after the LOG rule, or before it when the LOG rule acts after logging
//    (`... log prefix "x" drop`), so the companion still sees the packet.
//  - replace: the LOG rule itself with its log expression swapped for `log group`,
//    put in its place (NLM_F_REPLACE on its handle).
enum class Placement : std::uint8_t { after, before, in_place };
struct BuiltRule {
    RulePtr rule;
    Placement placement = Placement::after;
};
// `log_rule` is consumed: its expressions move into the new rule.
BuiltRule companion_build(RulePtr log_rule, const Companion &c, bool replace);
// The ICMP error rule (ruleplan.h) of `family`, native expressions (as iptables-nft writes
// the same rule, so `iptables-nft -S` reads it back), for table `table` (ip / ip6) and
// `chain`; sent without a position and without NLM_F_APPEND it goes first in the chain.
RulePtr icmp_error_rule_build(Family family, const std::string &table, const std::string &chain,
                              const Companion &c);
// A LOG rule put back in place of the companion `comp_rule` (replace mode, on remove):
// its matches and actions, the prefix, level and flags of `log`, the rule's own `comment`
// without the owner tag. `xt` = write iptables-nft's xt target LOG rather than a native
// `log` expression.
BuiltRule log_restore_build(RulePtr comp_rule, const LogOptions &log, const std::string &comment,
                            bool xt);

// ---- netlink (nft_netlink.cpp) -----------------------------------------------------------

class Netlink {
  public:
    static Result<std::unique_ptr<Netlink>> open();
    ~Netlink();
    Netlink(const Netlink &) = delete;
    Netlink &operator=(const Netlink &) = delete;

    // The current ruleset generation (NFT_MSG_GETGEN).
    Result<std::uint32_t> generation();
    // Every message of a dump (NFT_MSG_GETCHAIN / NFT_MSG_GETRULE) of one nfproto family.
    // An interrupted dump (NLM_F_DUMP_INTR) is an Error whose message starts with "EINTR".
    // `payload` (optional) adds the request's attributes (GETSETELEM: which set).
    Result<std::vector<std::vector<std::uint8_t>>>
    dump(std::uint16_t msg_type, std::uint8_t nfproto,
         const std::function<void(nlmsghdr *)> &payload = {});

    // One transaction: BATCH_BEGIN (with the generation check `genid`), the messages built
    // by `add`, BATCH_END. Returns the errno of the first failed message (0 = committed);
    // `failed` names it by the index of the description given to add().
    struct Batch {
        std::vector<std::uint8_t> buf;
        std::vector<std::string> what; // per message, for errors
        std::vector<int> step;         // per message: the caller's `current_step` when added
        int current_step = -1;
        std::uint32_t seq = 0;
        void add(nftnl_rule *r, std::uint16_t msg_type, std::uint16_t flags, std::string what_);
        // `size`: room for the message (a set's elements can be large).
        void add_msg(std::uint16_t msg_type, std::uint16_t family, std::uint16_t flags,
                     const std::function<void(nlmsghdr *)> &payload, std::string what_,
                     std::size_t size = 1 << 16);
    };
    Batch batch_start(std::uint32_t genid);
    struct Outcome {
        int error = 0;      // errno, 0 = committed
        std::string failed; // what failed ("" = the batch as a whole)
        int step = -1;      // the `step` of the first failed message (-1: the batch itself)
        // Every failed message (the kernel checks them all before it aborts): (step, errno).
        std::vector<std::pair<int, int>> failures;
    };
    // `commit` false: send the batch without its end, so that the kernel checks every
    // message and then aborts (what `nft -c` does): a dry run that changes nothing.
    Result<Outcome> batch_commit(Batch &b, bool commit = true);

  private:
    Netlink() = default;
    ::mnl_socket *nl_ = nullptr;
    std::uint32_t portid_ = 0;
    std::uint32_t seq_ = 0;
};

// ---- anonymous sets (nft_sets.cpp) --------------------------------------------------------

// Read the anonymous sets `names` of table `table` (family `nfproto`) into `out`.
Status anon_sets_read(Netlink &nl, std::uint8_t nfproto, const char *table,
                      const std::vector<std::string> &names, AnonSets &out);

// Before `built` goes into batch `b`: give each anonymous set it looks up a fresh copy in the
// same batch (NEWSET "__set%d" + NEWSETELEM, tied by a set id), and point the lookup at it.
Status anon_sets_clone(nftnl_rule *built, const AnonSets &sets, Netlink::Batch &b,
                       std::uint32_t &next_set_id);

// The NFNLGRP_NFTABLES subscription: tells which committed generations were someone else's.
class Monitor {
  public:
    static Result<std::unique_ptr<Monitor>> open();
    ~Monitor();
    Monitor(const Monitor &) = delete;
    Monitor &operator=(const Monitor &) = delete;
    // Wait up to `timeout_ms` for a ruleset change committed by another process, i.e. a
    // notification batch ending in NFT_MSG_NEWGEN whose generation `is_own` rejects.
    // Lost notifications (ENOBUFS) count as a change.
    Result<bool> wait(int timeout_ms,
                      const std::function<bool(std::uint32_t gen, std::uint32_t pid)> &is_own);

  private:
    Monitor() = default;
    ::mnl_socket *nl_ = nullptr;
};

// Call `on_change` after each ruleset change not made by this process, until `stop`.
Status nft_watch(const std::function<void()> &on_change, const std::atomic<bool> &stop);

} // namespace netlog::nft
