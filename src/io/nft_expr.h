// The reading of nftables expressions shared by nft_rule.cpp (what a rule says) and
// nft_rule_build.cpp (the rules netlog writes from the rules read). Private to src/io.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct nftnl_expr;
struct nftnl_rule;

namespace netlog::nft {

// iptables' xt target/match payloads (linux/netfilter/xt_LOG.h, xt_NFLOG.h, xt_comment.h).
struct XtLogInfo {
    unsigned char level;
    unsigned char logflags;
    char prefix[30];
};
struct XtNflogInfo {
    std::uint32_t len;
    std::uint16_t group;
    std::uint16_t threshold;
    std::uint16_t flags;
    std::uint16_t pad;
    char prefix[64];
};

std::string_view expr_name(const nftnl_expr *e);

// The payload of an xt match/target, when it is named `name`.
std::string_view xt_info(const nftnl_expr *e, bool target, std::string_view name);

// What the "log expression" of a rule says.
struct LogExpr {
    bool found = false;
    bool group = false; // NFLOG (log group / xt NFLOG), else kernel LOG
    std::string prefix;
    std::uint16_t group_id = 0;
    std::uint32_t level = 4; // LOG: syslog level (the kernel's default: warning)
    std::uint32_t flags = 0; // LOG: NF_LOG_* flags (tcp sequence, options, uid, mac...)
};
LogExpr log_expr(const nftnl_expr *e);

bool is_counter(const nftnl_expr *e);

// The expressions of a rule, in order (borrowed from the rule).
std::vector<nftnl_expr *> exprs_of(const nftnl_rule *r);

// The index of the rule's log expression (LOG or NFLOG, nft or xt); ex.size() if none.
std::size_t log_index(const std::vector<nftnl_expr *> &ex);

} // namespace netlog::nft
