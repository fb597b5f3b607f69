// The rules netlog writes in nftables: companions, its ICMP error rule, and LOG rules
// restored, built from the rules read.
#include "nft_backend.h"
#include "nft_expr.h"

#include <arpa/inet.h>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <optional>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libmnl/libmnl.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <string_view>
#include <utility>
#include <vector>

namespace netlog::nft {

namespace {

// iptables-nft's -p: `meta l4proto` (or the IPv4 protocol / IPv6 next header field) loaded
// into a register and compared with one byte. Returns the protocol and whether the
// comparison is `!=` (! -p); protocol 0 = none found.
std::pair<std::uint32_t, bool> l4proto_of(const nftnl_rule *r) {
    std::uint32_t reg = 0; // the register the protocol was last loaded into (0: none)
    std::pair<std::uint32_t, bool> out{0, false};
    for (nftnl_expr *e : exprs_of(r)) {
        auto name = expr_name(e);
        if (name == "meta" && nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG)) {
            reg = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) == NFT_META_L4PROTO
                      ? nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG)
                      : 0;
        } else if (name == "payload" && nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_DREG)) {
            auto base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
            auto off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
            auto len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
            bool proto_field =
                base == NFT_PAYLOAD_NETWORK_HEADER && len == 1 &&
                ((nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY) == NFPROTO_IPV4 && off == 9) ||
                 (nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY) == NFPROTO_IPV6 && off == 6));
            reg = proto_field ? nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG) : 0;
        } else if (name == "cmp" && reg != 0 && nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG) == reg) {
            std::uint32_t len = 0;
            const auto *d =
                static_cast<const std::uint8_t *>(nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len));
            auto op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
            if (d && len == 1 && (op == NFT_CMP_EQ || op == NFT_CMP_NEQ))
                out = {d[0], op == NFT_CMP_NEQ};
            reg = 0;
        } else if (name == "match" || name == "target" || name == "log") {
            if (out.first != 0) return out; // what the first xt expression was checked with
        }
    }
    return out;
}

// A fresh rule on the same table and chain as `from`, with its compat information:
// iptables-nft sends the rule's -p protocol (and ! -p) in NFTA_RULE_COMPAT, and the
// kernel checks xt matches that depend on it (multiport, icmp, tcp, udp...) against it;
// without it, a copy of such a rule is refused (EINVAL). The kernel keeps no copy of it
// (a dump has none), so it is derived again from the rule's protocol match, as
// iptables-nft itself reads -p back.
RulePtr rule_like(const nftnl_rule *from) {
    RulePtr r(nftnl_rule_alloc());
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, nftnl_rule_get_u32(from, NFTNL_RULE_FAMILY));
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, nftnl_rule_get_str(from, NFTNL_RULE_TABLE));
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, nftnl_rule_get_str(from, NFTNL_RULE_CHAIN));
    bool xt = false;
    for (nftnl_expr *e : exprs_of(from))
        xt = xt || expr_name(e) == "match" || expr_name(e) == "target";
    auto [proto, inv] = xt ? l4proto_of(from) : std::pair<std::uint32_t, bool>{0, false};
    if (proto != 0) {
        nftnl_rule_set_u32(r.get(), NFTNL_RULE_COMPAT_PROTO, proto);
        nftnl_rule_set_u32(r.get(), NFTNL_RULE_COMPAT_FLAGS, inv ? NFT_RULE_COMPAT_F_INV : 0);
    }
    return r;
}

// An xt match or target expression (`match`: NFTNL_EXPR_MT_*, else NFTNL_EXPR_TG_*)
// carrying `info` as its payload. libnftnl keeps the pointer and frees it with the
// expression: it gets a heap copy.
template <class Info>
nftnl_expr *xt_expr_new(bool match, const char *name, std::uint32_t rev, const Info &info) {
    using A = std::uint16_t;
    nftnl_expr *e = nftnl_expr_alloc(match ? "match" : "target");
    nftnl_expr_set_str(e, match ? A{NFTNL_EXPR_MT_NAME} : A{NFTNL_EXPR_TG_NAME}, name);
    nftnl_expr_set_u32(e, match ? A{NFTNL_EXPR_MT_REV} : A{NFTNL_EXPR_TG_REV}, rev);
    void *copy = std::calloc(1, sizeof info);
    std::memcpy(copy, &info, sizeof info);
    nftnl_expr_set(e, match ? A{NFTNL_EXPR_MT_INFO} : A{NFTNL_EXPR_TG_INFO}, copy, sizeof info);
    return e;
}

nftnl_expr *counter_new() {
    return nftnl_expr_alloc("counter");
}

nftnl_expr *log_group_new(const Companion &c) {
    nftnl_expr *e = nftnl_expr_alloc("log");
    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, c.prefix.c_str());
    nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, c.group);
    if (c.snaplen) nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, c.snaplen);
    nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_QTHRESHOLD, c.queue_threshold);
    return e;
}

// The companion as iptables' xt NFLOG target (what the iptables-nft rule it replaces used
// for its LOG target), so that iptables-nft still reads the table, and a later restore
// knows to write the LOG target back the same way.
nftnl_expr *nflog_xt_new(const Companion &c) {
    constexpr std::uint16_t xt_nflog_f_copy_len = 0x1; // --nflog-size given
    XtNflogInfo ni{};
    ni.len = c.snaplen;
    ni.group = c.group;
    ni.threshold = c.queue_threshold;
    ni.flags = c.snaplen ? xt_nflog_f_copy_len : 0;
    std::memcpy(ni.prefix, c.prefix.data(), std::min(c.prefix.size(), sizeof ni.prefix - 1));
    return xt_expr_new(false, "NFLOG", 0, ni);
}

nftnl_expr *log_plain_new(const LogOptions &log, bool xt) {
    const std::string &prefix = log.prefix;
    if (!xt) {
        nftnl_expr *e = nftnl_expr_alloc("log");
        nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix.c_str());
        // What nft writes: the level and flags only when they are not the defaults.
        if (log.level != log_default_level) nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_LEVEL, log.level);
        if (log.flags) nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_FLAGS, log.flags);
        return e;
    }
    XtLogInfo li{};
    li.level = log.level;
    li.logflags = log.flags;
    std::memcpy(li.prefix, prefix.data(), std::min(prefix.size(), sizeof li.prefix - 1));
    return xt_expr_new(false, "LOG", 0, li);
}

void set_comment(nftnl_rule *r, const std::string &comment) {
    nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16);
    nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment.c_str());
    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
    nftnl_udata_buf_free(ud);
}

// Move the expressions selected by `keep` out of `from` into `to`, in order; `at_log` is
// called in place of the log expression (it may add what replaces it).
template <class Keep, class AtLog>
void exprs_move(nftnl_rule *from, nftnl_rule *to, Keep keep, AtLog at_log) {
    auto ex = exprs_of(from);
    std::size_t li = log_index(ex);
    for (std::size_t i = 0; i < ex.size(); ++i) {
        if (i == li) {
            at_log();
        } else if (keep(ex[i], i < li)) {
            nftnl_rule_del_expr(ex[i]);
            nftnl_rule_add_expr(to, ex[i]);
        }
    }
}

} // namespace

BuiltRule companion_build(RulePtr log_rule, const Companion &c, bool replace) {
    BuiltRule out;
    out.rule = rule_like(log_rule.get());
    nftnl_rule *to = out.rule.get();
    // The companion of an xt target (an iptables-nft LOG rule) is an xt target too: a
    // table whose only xt expressions were its LOG targets stays iptables-nft's after they
    // are replaced (or removed from beside their companions), and a restore writes the LOG
    // target back as iptables-nft wrote it.
    auto ex = exprs_of(log_rule.get());
    const std::size_t li = log_index(ex);
    const bool xt = li < ex.size() && expr_name(ex[li]) == "target";
    auto group = [&] { return xt ? nflog_xt_new(c) : log_group_new(c); };
    if (replace) {
        out.placement = Placement::in_place;
        nftnl_rule_set_u64(to, NFTNL_RULE_HANDLE,
                           nftnl_rule_get_u64(log_rule.get(), NFTNL_RULE_HANDLE));
        exprs_move(
            log_rule.get(), to, [](const nftnl_expr *, bool) { return true; },
            [&] { nftnl_rule_add_expr(to, group()); });
    } else {
        // The compat protocol information is copied with the rule (rule_like), xt comment
        // matches with the other matches, the user-data comment by Companion::nft_comment.
        RuleFacts f = rule_facts(log_rule.get(), AnonSets{});
        out.placement = f.acts_after_log ? Placement::before : Placement::after;
        bool counter = false;
        exprs_move(
            log_rule.get(), to,
            [&](const nftnl_expr *e, bool before_log) {
                counter = counter || is_counter(e);
                return before_log && !is_counter(e);
            },
            [] {});
        if (counter) nftnl_rule_add_expr(to, counter_new());
        nftnl_rule_add_expr(to, group());
        nftnl_rule_set_u64(to, NFTNL_RULE_POSITION,
                           nftnl_rule_get_u64(log_rule.get(), NFTNL_RULE_HANDLE));
    }
    set_comment(to, c.nft_comment());
    return out;
}

RulePtr icmp_error_rule_build(Family family, const std::string &table, const std::string &chain,
                              const Companion &c) {
    // `-p icmp -m icmp --icmp-type 3 -m conntrack --ctstate RELATED` as iptables-nft reads
    // it back (nft: `meta l4proto icmp icmp type destination-unreachable` native, the state
    // an xt match, a counter), IPv6 with ICMPv6 type 1; then `log group`, the owner tag in
    // the comment.
    const bool v4 = family == Family::ipv4;
    RulePtr r(nftnl_rule_alloc());
    nftnl_rule *to = r.get();
    nftnl_rule_set_u32(to, NFTNL_RULE_FAMILY, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
    nftnl_rule_set_str(to, NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(to, NFTNL_RULE_CHAIN, chain.c_str());
    auto cmp = [&](std::uint32_t op, const void *data, std::uint32_t len) {
        nftnl_expr *e = nftnl_expr_alloc("cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        nftnl_rule_add_expr(to, e);
    };
    nftnl_expr *meta = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(meta, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
    nftnl_expr_set_u32(meta, NFTNL_EXPR_META_DREG, NFT_REG_1);
    nftnl_rule_add_expr(to, meta);
    const std::uint8_t proto = v4 ? 1 : 58; // IPPROTO_ICMP, IPPROTO_ICMPV6
    cmp(NFT_CMP_EQ, &proto, 1);
    nftnl_expr *type = nftnl_expr_alloc("payload");
    nftnl_expr_set_u32(type, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
    nftnl_expr_set_u32(type, NFTNL_EXPR_PAYLOAD_OFFSET, 0);
    nftnl_expr_set_u32(type, NFTNL_EXPR_PAYLOAD_LEN, 1);
    nftnl_expr_set_u32(type, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_rule_add_expr(to, type);
    const std::uint8_t unreach = v4 ? 3 : 1; // ICMP_DEST_UNREACH, ICMPV6_DEST_UNREACH
    cmp(NFT_CMP_EQ, &unreach, 1);
    // The state as iptables-nft writes -m conntrack --ctstate RELATED: the xt match
    // (revision 3). A native `ct state` makes iptables-nft call the whole table
    // incompatible (1.8.9: "use 'nft' tool"), and these chains are iptables-nft's.
    xt_conntrack_mtinfo3 ci{};
    ci.match_flags = XT_CONNTRACK_STATE;
    ci.state_mask = XT_CONNTRACK_STATE_BIT(IP_CT_RELATED);
    nftnl_rule_add_expr(to, xt_expr_new(true, "conntrack", 3, ci));
    nftnl_rule_add_expr(to, counter_new());
    nftnl_rule_add_expr(to, log_group_new(c));
    set_comment(to, c.comment());
    return r;
}

BuiltRule log_restore_build(RulePtr comp_rule, const LogOptions &log, const std::string &comment,
                            bool xt) {
    BuiltRule out;
    out.placement = Placement::in_place;
    out.rule = rule_like(comp_rule.get());
    nftnl_rule *to = out.rule.get();
    nftnl_rule_set_u64(to, NFTNL_RULE_HANDLE,
                       nftnl_rule_get_u64(comp_rule.get(), NFTNL_RULE_HANDLE));
    exprs_move(
        comp_rule.get(), to, [](const nftnl_expr *, bool) { return true; },
        [&] { nftnl_rule_add_expr(to, log_plain_new(log, xt)); });
    if (!comment.empty()) set_comment(to, comment);
    return out;
}

} // namespace netlog::nft
