// One nftables rule as netlog sees it: LOG rule, netlog companion or other; and the rules
// netlog writes (companions, restored LOG rules) built from the rules read.
#include "nft_backend.h"

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

void RuleDeleter::operator()(nftnl_rule *r) const {
    nftnl_rule_free(r);
}

namespace {

// libnftnl validates every attribute it reads with mnl_attr_validate() and, when one has
// the wrong size, calls exit() ("abi breakage"); it strdup()s strings that need not end in
// a NUL. So before handing it a message, check the message against what libnftnl (1.2.x,
// src/rule.c, src/expr.c, src/expr/*.c) expects, attribute by attribute, with libmnl: a
// kernel's dump always passes (every check here is the kernel's own nla_put_*), a message
// that does not is refused as "cannot parse" instead of ending the process.
enum class A : std::uint8_t { none, u8, u16, u32, u64, str, bin, nested, data, expr, exprs };

struct ExprShape {
    std::string_view name;
    std::vector<std::pair<int, A>> attrs;
};

const std::vector<ExprShape> &expr_shapes() {
    using enum A;
    static const std::vector<ExprShape> shapes = {
        {"bitwise",
         {{NFTA_BITWISE_SREG, u32},
          {NFTA_BITWISE_DREG, u32},
          {NFTA_BITWISE_LEN, u32},
          {NFTA_BITWISE_MASK, data},
          {NFTA_BITWISE_XOR, data},
          {NFTA_BITWISE_OP, u32},
          {NFTA_BITWISE_DATA, data}}},
        {"byteorder",
         {{NFTA_BYTEORDER_SREG, u32},
          {NFTA_BYTEORDER_DREG, u32},
          {NFTA_BYTEORDER_OP, u32},
          {NFTA_BYTEORDER_LEN, u32},
          {NFTA_BYTEORDER_SIZE, u32}}},
        {"cmp", {{NFTA_CMP_SREG, u32}, {NFTA_CMP_OP, u32}, {NFTA_CMP_DATA, data}}},
        {"connlimit", {{NFTA_CONNLIMIT_COUNT, u32}, {NFTA_CONNLIMIT_FLAGS, u32}}},
        {"counter", {{NFTA_COUNTER_BYTES, u64}, {NFTA_COUNTER_PACKETS, u64}}},
        {"ct",
         {{NFTA_CT_DREG, u32}, {NFTA_CT_KEY, u32}, {NFTA_CT_DIRECTION, u8}, {NFTA_CT_SREG, u32}}},
        {"dup", {{NFTA_DUP_SREG_ADDR, u32}, {NFTA_DUP_SREG_DEV, u32}}},
        {"dynset",
         {{NFTA_DYNSET_SET_NAME, str},
          {NFTA_DYNSET_SET_ID, u32},
          {NFTA_DYNSET_OP, u32},
          {NFTA_DYNSET_SREG_KEY, u32},
          {NFTA_DYNSET_SREG_DATA, u32},
          {NFTA_DYNSET_TIMEOUT, u64},
          {NFTA_DYNSET_EXPR, expr},
          {NFTA_DYNSET_FLAGS, u32},
          {NFTA_DYNSET_EXPRESSIONS, exprs}}},
        {"exthdr",
         {{NFTA_EXTHDR_DREG, u32},
          {NFTA_EXTHDR_TYPE, u8},
          {NFTA_EXTHDR_OFFSET, u32},
          {NFTA_EXTHDR_LEN, u32},
          {NFTA_EXTHDR_FLAGS, u32},
          {NFTA_EXTHDR_OP, u32},
          {NFTA_EXTHDR_SREG, u32}}},
        {"fib", {{NFTA_FIB_DREG, u32}, {NFTA_FIB_RESULT, u32}, {NFTA_FIB_FLAGS, u32}}},
        {"flow_offload", {{NFTA_FLOW_TABLE_NAME, str}}},
        {"fwd", {{NFTA_FWD_SREG_DEV, u32}, {NFTA_FWD_SREG_ADDR, u32}, {NFTA_FWD_NFPROTO, u32}}},
        {"hash",
         {{NFTA_HASH_SREG, u32},
          {NFTA_HASH_DREG, u32},
          {NFTA_HASH_LEN, u32},
          {NFTA_HASH_MODULUS, u32},
          {NFTA_HASH_SEED, u32},
          {NFTA_HASH_OFFSET, u32},
          {NFTA_HASH_TYPE, u32}}},
        {"immediate", {{NFTA_IMMEDIATE_DREG, u32}, {NFTA_IMMEDIATE_DATA, data}}},
        {"last", {{NFTA_LAST_SET, u32}, {NFTA_LAST_MSECS, u64}}},
        {"limit",
         {{NFTA_LIMIT_RATE, u64},
          {NFTA_LIMIT_UNIT, u64},
          {NFTA_LIMIT_BURST, u32},
          {NFTA_LIMIT_TYPE, u32},
          {NFTA_LIMIT_FLAGS, u32}}},
        {"log",
         {{NFTA_LOG_GROUP, u16},
          {NFTA_LOG_PREFIX, str},
          {NFTA_LOG_SNAPLEN, u32},
          {NFTA_LOG_QTHRESHOLD, u16},
          {NFTA_LOG_LEVEL, u32},
          {NFTA_LOG_FLAGS, u32}}},
        {"lookup",
         {{NFTA_LOOKUP_SET, str},
          {NFTA_LOOKUP_SREG, u32},
          {NFTA_LOOKUP_DREG, u32},
          {NFTA_LOOKUP_SET_ID, u32},
          {NFTA_LOOKUP_FLAGS, u32}}},
        {"masq",
         {{NFTA_MASQ_FLAGS, u32}, {NFTA_MASQ_REG_PROTO_MIN, u32}, {NFTA_MASQ_REG_PROTO_MAX, u32}}},
        {"match", {{NFTA_MATCH_NAME, str}, {NFTA_MATCH_REV, u32}, {NFTA_MATCH_INFO, bin}}},
        {"meta", {{NFTA_META_DREG, u32}, {NFTA_META_KEY, u32}, {NFTA_META_SREG, u32}}},
        {"nat",
         {{NFTA_NAT_TYPE, u32},
          {NFTA_NAT_FAMILY, u32},
          {NFTA_NAT_REG_ADDR_MIN, u32},
          {NFTA_NAT_REG_ADDR_MAX, u32},
          {NFTA_NAT_REG_PROTO_MIN, u32},
          {NFTA_NAT_REG_PROTO_MAX, u32},
          {NFTA_NAT_FLAGS, u32}}},
        {"numgen",
         {{NFTA_NG_DREG, u32}, {NFTA_NG_MODULUS, u32}, {NFTA_NG_TYPE, u32}, {NFTA_NG_OFFSET, u32}}},
        {"objref",
         {{NFTA_OBJREF_IMM_TYPE, u32},
          {NFTA_OBJREF_IMM_NAME, str},
          {NFTA_OBJREF_SET_SREG, u32},
          {NFTA_OBJREF_SET_NAME, str},
          {NFTA_OBJREF_SET_ID, u32}}},
        {"osf", {{NFTA_OSF_DREG, u32}, {NFTA_OSF_TTL, u8}, {NFTA_OSF_FLAGS, u32}}},
        {"payload",
         {{NFTA_PAYLOAD_DREG, u32},
          {NFTA_PAYLOAD_BASE, u32},
          {NFTA_PAYLOAD_OFFSET, u32},
          {NFTA_PAYLOAD_LEN, u32},
          {NFTA_PAYLOAD_SREG, u32},
          {NFTA_PAYLOAD_CSUM_TYPE, u32},
          {NFTA_PAYLOAD_CSUM_OFFSET, u32},
          {NFTA_PAYLOAD_CSUM_FLAGS, u32}}},
        {"queue",
         {{NFTA_QUEUE_NUM, u16},
          {NFTA_QUEUE_TOTAL, u16},
          {NFTA_QUEUE_FLAGS, u16},
          {NFTA_QUEUE_SREG_QNUM, u32}}},
        {"quota", {{NFTA_QUOTA_BYTES, u64}, {NFTA_QUOTA_FLAGS, u32}, {NFTA_QUOTA_CONSUMED, u64}}},
        {"range",
         {{NFTA_RANGE_SREG, u32},
          {NFTA_RANGE_OP, u32},
          {NFTA_RANGE_FROM_DATA, data},
          {NFTA_RANGE_TO_DATA, data}}},
        {"redir",
         {{NFTA_REDIR_REG_PROTO_MIN, u32},
          {NFTA_REDIR_REG_PROTO_MAX, u32},
          {NFTA_REDIR_FLAGS, u32}}},
        {"reject", {{NFTA_REJECT_TYPE, u32}, {NFTA_REJECT_ICMP_CODE, u8}}},
        {"rt", {{NFTA_RT_DREG, u32}, {NFTA_RT_KEY, u32}}},
        {"socket", {{NFTA_SOCKET_KEY, u32}, {NFTA_SOCKET_DREG, u32}, {NFTA_SOCKET_LEVEL, u32}}},
        {"synproxy",
         {{NFTA_SYNPROXY_MSS, u16}, {NFTA_SYNPROXY_WSCALE, u8}, {NFTA_SYNPROXY_FLAGS, u32}}},
        {"target", {{NFTA_TARGET_NAME, str}, {NFTA_TARGET_REV, u32}, {NFTA_TARGET_INFO, bin}}},
        {"tproxy",
         {{NFTA_TPROXY_FAMILY, u32}, {NFTA_TPROXY_REG_ADDR, u32}, {NFTA_TPROXY_REG_PORT, u32}}},
        {"tunnel", {{NFTA_TUNNEL_KEY, u32}, {NFTA_TUNNEL_DREG, u32}}},
        {"xfrm",
         {{NFTA_XFRM_DREG, u32},
          {NFTA_XFRM_KEY, u32},
          {NFTA_XFRM_DIR, u8},
          {NFTA_XFRM_SPNUM, u32}}},
    };
    return shapes;
}

struct Walk {
    int depth = 0;
};

// libmnl's iteration macros assign from void *, which C++ does not convert: the same walk.
template <class F> bool each_attr(const char *p, const char *end, F &&f) {
    const auto *a = reinterpret_cast<const nlattr *>(p);
    while (mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char *>(a)))) {
        if (!f(a)) return false;
        a = mnl_attr_next(a);
    }
    return true;
}
template <class F> bool each_nested(const nlattr *nest, F &&f) {
    const auto *p = static_cast<const char *>(mnl_attr_get_payload(nest));
    return each_attr(p, p + mnl_attr_get_payload_len(nest), std::forward<F>(f));
}

bool attrs_ok(const nlattr *nest, const std::vector<std::pair<int, A>> &want, Walk &w);

// One attribute of the kind `a`; nested kinds are walked.
bool attr_ok(const nlattr *attr, A a, Walk &w) {
    const auto len = mnl_attr_get_payload_len(attr);
    const auto *p = static_cast<const char *>(mnl_attr_get_payload(attr));
    switch (a) {
    case A::none: return true;
    case A::u8: return mnl_attr_validate(attr, MNL_TYPE_U8) == 0;
    case A::u16: return mnl_attr_validate(attr, MNL_TYPE_U16) == 0;
    case A::u32: return mnl_attr_validate(attr, MNL_TYPE_U32) == 0;
    case A::u64: return mnl_attr_validate(attr, MNL_TYPE_U64) == 0;
    case A::bin: return true;
    case A::str: // the kernel's nla_put_string always ends in a NUL; libnftnl strdup()s it,
                 // or validates it as MNL_TYPE_NUL_STRING (the NUL last)
        return len > 0 && p[len - 1] == '\0';
    case A::nested: return mnl_attr_validate(attr, MNL_TYPE_NESTED) == 0;
    case A::data: {
        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) != 0) return false;
        static const std::vector<std::pair<int, A>> data = {{NFTA_DATA_VALUE, A::bin},
                                                            {NFTA_DATA_VERDICT, A::none}};
        static const std::vector<std::pair<int, A>> verdict = {{NFTA_VERDICT_CODE, A::u32},
                                                               {NFTA_VERDICT_CHAIN, A::str},
                                                               {NFTA_VERDICT_CHAIN_ID, A::u32}};
        if (!attrs_ok(attr, data, w)) return false;
        return each_nested(attr, [&](const nlattr *v) {
            if (mnl_attr_get_type(v) != NFTA_DATA_VERDICT) return true;
            if (mnl_attr_validate(v, MNL_TYPE_NESTED) != 0 || !attrs_ok(v, verdict, w))
                return false;
            // libnftnl's nftnl_parse_verdict reads its attribute table uninitialised: the
            // code must be there, and the chain too for a jump or goto
            const nlattr *code = nullptr, *chain = nullptr;
            each_nested(v, [&](const nlattr *x) {
                if (mnl_attr_get_type(x) == NFTA_VERDICT_CODE) code = x;
                if (mnl_attr_get_type(x) == NFTA_VERDICT_CHAIN) chain = x;
                return true;
            });
            if (!code) return false;
            const auto verdict_code = static_cast<std::int32_t>(ntohl(mnl_attr_get_u32(code)));
            return (verdict_code != NFT_JUMP && verdict_code != NFT_GOTO) || chain != nullptr;
        });
    }
    case A::expr: { // NFTA_EXPR_NAME, NFTA_EXPR_DATA (libnftnl's nftnl_expr_parse)
        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) != 0 || ++w.depth > 8) return false;
        // libnftnl validates every NAME and DATA it meets (exit() on the first bad one) and
        // keeps the last of each: so every one is checked here, the last one is used
        const nlattr *name = nullptr, *data = nullptr;
        if (!each_nested(attr, [&](const nlattr *a2) {
                if (mnl_attr_get_type(a2) == NFTA_EXPR_NAME) {
                    name = a2;
                    return attr_ok(a2, A::str, w);
                }
                if (mnl_attr_get_type(a2) == NFTA_EXPR_DATA) {
                    data = a2;
                    return mnl_attr_validate(a2, MNL_TYPE_NESTED) == 0;
                }
                return true;
            }))
            return false;
        // libnftnl reads the name without checking that there is one
        if (!name) return false;
        const std::string_view n(mnl_attr_get_str(name));
        bool ok = true;
        if (data)
            for (const auto &s : expr_shapes())
                if (s.name == n) ok = attrs_ok(data, s.attrs, w);
        --w.depth;
        return ok;
    }
    case A::exprs: { // a list of NFTA_LIST_ELEM expressions
        if (mnl_attr_validate(attr, MNL_TYPE_NESTED) != 0) return false;
        return each_nested(attr, [&](const nlattr *e) {
            return mnl_attr_get_type(e) != NFTA_LIST_ELEM || attr_ok(e, A::expr, w);
        });
    }
    }
    return false;
}

// Every attribute of `nest` whose type is in `want` has the expected kind (mnl_attr_get_type
// masks NLA_F_NESTED / NLA_F_NET_BYTEORDER, as libnftnl does). Others are ignored, as there.
bool attrs_ok(const nlattr *nest, const std::vector<std::pair<int, A>> &want, Walk &w) {
    return each_nested(nest, [&](const nlattr *a) {
        const int type = mnl_attr_get_type(a);
        for (const auto &[t, kind] : want)
            if (t == type && !attr_ok(a, kind, w)) return false;
        return true;
    });
}

bool rule_message_ok(const void *nlmsg, std::size_t len) {
    const auto *nlh = static_cast<const nlmsghdr *>(nlmsg);
    // libmnl walks the attributes up to the aligned end of the message: so must this check
    // (and that end must be inside the buffer)
    if (len < sizeof(nlmsghdr) || NLMSG_ALIGN(nlh->nlmsg_len) > len ||
        nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg)))
        return false;
    static const std::vector<std::pair<int, A>> rule = {
        {NFTA_RULE_TABLE, A::str},       {NFTA_RULE_CHAIN, A::str},
        {NFTA_RULE_HANDLE, A::u64},      {NFTA_RULE_EXPRESSIONS, A::exprs},
        {NFTA_RULE_COMPAT, A::nested},   {NFTA_RULE_POSITION, A::u64},
        {NFTA_RULE_USERDATA, A::bin},    {NFTA_RULE_ID, A::u32},
        {NFTA_RULE_POSITION_ID, A::u32},
    };
    static const std::vector<std::pair<int, A>> compat = {{NFTA_RULE_COMPAT_PROTO, A::u32},
                                                          {NFTA_RULE_COMPAT_FLAGS, A::u32}};
    Walk w;
    const auto *base = reinterpret_cast<const char *>(nlh);
    return each_attr(base + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)),
                     base + NLMSG_ALIGN(nlh->nlmsg_len), [&](const nlattr *a) {
                         const int type = mnl_attr_get_type(a);
                         for (const auto &[t, kind] : rule)
                             if (t == type && !attr_ok(a, kind, w)) return false;
                         if (type == NFTA_RULE_COMPAT && !attrs_ok(a, compat, w)) return false;
                         // libnftnl refuses anything but list elements there, but only after reading the
                         // elements before: refuse it first
                         return type != NFTA_RULE_EXPRESSIONS ||
                                each_nested(a, [](const nlattr *e) {
                                    return mnl_attr_get_type(e) == NFTA_LIST_ELEM;
                                });
                     });
}

} // namespace

RulePtr rule_parse(const void *nlmsg, std::size_t len) {
    if (!rule_message_ok(nlmsg, len)) return nullptr;
    RulePtr r(nftnl_rule_alloc());
    if (!r) return nullptr;
    const auto *nlh = static_cast<const nlmsghdr *>(nlmsg);
    if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) return nullptr;
    return r;
}

namespace {

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

std::string_view expr_name(const nftnl_expr *e) {
    const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    return n ? n : "";
}

std::string_view bounded(const char *s, std::size_t max) {
    return {s, strnlen(s, max)};
}

// The payload of an xt match/target, when it is named `name`.
std::string_view xt_info(const nftnl_expr *e, bool target, std::string_view name) {
    if (expr_name(e) != (target ? "target" : "match")) return {};
    const auto name_attr = target ? static_cast<std::uint16_t>(NFTNL_EXPR_TG_NAME)
                                  : static_cast<std::uint16_t>(NFTNL_EXPR_MT_NAME);
    const auto info_attr = target ? static_cast<std::uint16_t>(NFTNL_EXPR_TG_INFO)
                                  : static_cast<std::uint16_t>(NFTNL_EXPR_MT_INFO);
    const char *n = nftnl_expr_get_str(e, name_attr);
    if (!n || name != n) return {};
    std::uint32_t len = 0;
    const void *d = nftnl_expr_get(e, info_attr, &len);
    return d ? std::string_view(static_cast<const char *>(d), len) : std::string_view{};
}

std::string xt_comment(const nftnl_expr *e) {
    auto info = xt_info(e, false, "comment");
    return info.empty() ? std::string() : std::string(bounded(info.data(), info.size()));
}

// What the "log expression" of a rule says.
struct LogExpr {
    bool found = false;
    bool group = false; // NFLOG (log group / xt NFLOG), else kernel LOG
    std::string prefix;
    std::uint16_t group_id = 0;
    std::uint32_t level = 4; // LOG: syslog level (the kernel's default: warning)
    std::uint32_t flags = 0; // LOG: NF_LOG_* flags (tcp sequence, options, uid, mac...)
};

constexpr std::uint32_t default_level = log_default_level;

LogExpr log_expr(const nftnl_expr *e) {
    LogExpr l;
    auto name = expr_name(e);
    if (name == "log") {
        l.found = true;
        if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX))
            l.prefix = nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX);
        if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_LEVEL))
            l.level = nftnl_expr_get_u32(e, NFTNL_EXPR_LOG_LEVEL);
        if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_FLAGS))
            l.flags = nftnl_expr_get_u32(e, NFTNL_EXPR_LOG_FLAGS);
        l.group = nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP);
        if (l.group) l.group_id = nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP);
    } else if (auto info = xt_info(e, true, "LOG"); info.size() >= sizeof(XtLogInfo)) {
        XtLogInfo li{};
        std::memcpy(&li, info.data(), sizeof li);
        l.found = true;
        l.prefix = bounded(li.prefix, sizeof li.prefix);
        l.level = li.level;
        l.flags = li.logflags;
    } else if (auto ninfo = xt_info(e, true, "NFLOG"); ninfo.size() >= sizeof(XtNflogInfo)) {
        XtNflogInfo ni{};
        std::memcpy(&ni, ninfo.data(), sizeof ni);
        l.found = true;
        l.group = true;
        l.group_id = ni.group;
        l.prefix = bounded(ni.prefix, sizeof ni.prefix);
    }
    return l;
}

std::string udata_comment(const nftnl_rule *r) {
    if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) return {};
    std::uint32_t len = 0;
    const void *d = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
    // nftnl_udata_parse walks the TLVs without checking that each fits in the buffer (a
    // length byte may point past its end): the callback checks, and stops the walk.
    struct Walk {
        std::array<const nftnl_udata *, NFTNL_UDATA_RULE_MAX + 1> tb{};
        const char *end = nullptr;
    } walk;
    walk.end = static_cast<const char *>(d) + len;
    auto cb = [](const nftnl_udata *attr, void *data) -> int {
        auto *w = static_cast<Walk *>(data);
        const auto *a = reinterpret_cast<const char *>(attr);
        if (w->end - a < 2 || w->end - a - 2 < static_cast<std::ptrdiff_t>(nftnl_udata_len(attr)))
            return -1; // (type, length) header, then `length` bytes, all inside the buffer
        if (nftnl_udata_type(attr) <= NFTNL_UDATA_RULE_MAX) w->tb[nftnl_udata_type(attr)] = attr;
        return 0;
    };
    if (!d || nftnl_udata_parse(d, len, cb, &walk) < 0) return {};
    const auto &tb = walk.tb;
    if (!tb[NFTNL_UDATA_RULE_COMMENT]) return {};
    const auto *c = static_cast<const char *>(nftnl_udata_get(tb[NFTNL_UDATA_RULE_COMMENT]));
    return std::string(bounded(c, nftnl_udata_len(tb[NFTNL_UDATA_RULE_COMMENT])));
}

std::string expr_text(const nftnl_expr *e) {
    std::array<char, 1024> buf{};
    nftnl_expr_snprintf(buf.data(), buf.size(), e, NFTNL_OUTPUT_DEFAULT, 0);
    std::string_view text(buf.data());
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    return fmt::format("{} {}", expr_name(e), text);
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        out[2 * i] = digits[c >> 4];
        out[2 * i + 1] = digits[c & 15];
    }
    return out;
}

const char *anon_set_of(const nftnl_expr *e) {
    if (expr_name(e) != "lookup" || !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET)) return nullptr;
    const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
    return set && is_anon_set_name(set) ? set : nullptr;
}

// The canonical text of a match expression: libnftnl's rendering, plus the xt payload
// (the rendering names an xt match but does not show its options); an anonymous set is
// named by its elements (its own name differs from copy to copy).
std::string expr_key(const nftnl_expr *e, const std::string &table, const AnonSets &sets) {
    std::string k = expr_text(e);
    if (const char *set = anon_set_of(e)) {
        auto it = sets.find({table, set});
        std::string content = it == sets.end() ? "?" : "{" + it->second.content + "}";
        for (auto pos = k.find(set); pos != std::string::npos;
             pos = k.find(set, pos + content.size()))
            k.replace(pos, std::strlen(set), content);
    }
    auto name = expr_name(e);
    if (name == "match" || name == "target") {
        std::uint32_t len = 0;
        const auto attr = name == "match" ? static_cast<std::uint16_t>(NFTNL_EXPR_MT_INFO)
                                          : static_cast<std::uint16_t>(NFTNL_EXPR_TG_INFO);
        const void *d = nftnl_expr_get(e, attr, &len);
        if (d) k += " info " + hex({static_cast<const char *>(d), len});
    }
    return k;
}

std::string_view family_name(std::uint32_t f) {
    switch (f) {
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    case NFPROTO_INET: return "inet";
    default: return "?";
    }
}

bool is_counter(const nftnl_expr *e) {
    return expr_name(e) == "counter";
}
bool is_comment_match(const nftnl_expr *e) {
    return !xt_info(e, false, "comment").empty();
}

// The expressions of a rule, in order (borrowed from the rule).
std::vector<nftnl_expr *> exprs_of(const nftnl_rule *r) {
    std::vector<nftnl_expr *> out;
    nftnl_expr_iter *it = nftnl_expr_iter_create(r);
    if (!it) return out;
    for (nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it))
        out.push_back(e);
    nftnl_expr_iter_destroy(it);
    return out;
}

// The whole packet mark the rule sets or requires: xt MARK (--set-xmark with a full mask)
// and xt mark matches as iptables-nft may write them, and native `meta mark set <value>`
// (immediate into a register, meta set from it) and `meta mark <value>` (meta load, cmp eq
// of that register). A partial mask, an inverted match or anything else: not recorded.
void rule_marks(const std::vector<nftnl_expr *> &ex, RuleFacts &f) {
    struct XtMarkTarget {
        std::uint32_t mark, mask;
    };
    struct XtMarkMatch {
        std::uint32_t mark, mask;
        std::uint8_t invert;
    };
    const auto u32_data = [](const nftnl_expr *e,
                             std::uint16_t attr) -> std::optional<std::uint32_t> {
        std::uint32_t len = 0;
        const void *d = nftnl_expr_get(e, attr, &len);
        if (!d || len != 4) return std::nullopt;
        std::uint32_t v;
        std::memcpy(&v, d, 4);
        return v;
    };
    const auto is_meta_mark = [](const nftnl_expr *e, std::uint16_t reg_attr) {
        return expr_name(e) == "meta" && nftnl_expr_is_set(e, NFTNL_EXPR_META_KEY) &&
               nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) == NFT_META_MARK &&
               nftnl_expr_is_set(e, reg_attr);
    };
    for (std::size_t i = 0; i < ex.size(); ++i) {
        const nftnl_expr *e = ex[i];
        if (auto t = xt_info(e, true, "MARK"); t.size() >= sizeof(XtMarkTarget)) {
            XtMarkTarget m{};
            std::memcpy(&m, t.data(), sizeof m);
            if (m.mask == 0xffffffff) f.mark_set = m.mark;
        } else if (auto mt = xt_info(e, false, "mark"); mt.size() >= sizeof(XtMarkMatch)) {
            XtMarkMatch m{};
            std::memcpy(&m, mt.data(), sizeof m);
            if (m.mask == 0xffffffff && !m.invert) f.mark_match = m.mark;
        } else if (i + 1 < ex.size() && is_meta_mark(e, NFTNL_EXPR_META_DREG) &&
                   expr_name(ex[i + 1]) == "cmp" &&
                   nftnl_expr_get_u32(ex[i + 1], NFTNL_EXPR_CMP_OP) == NFT_CMP_EQ &&
                   nftnl_expr_get_u32(ex[i + 1], NFTNL_EXPR_CMP_SREG) ==
                       nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG)) {
            if (auto v = u32_data(ex[i + 1], NFTNL_EXPR_CMP_DATA)) f.mark_match = *v;
        } else if (i + 1 < ex.size() && expr_name(e) == "immediate" &&
                   nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DREG) &&
                   is_meta_mark(ex[i + 1], NFTNL_EXPR_META_SREG) &&
                   nftnl_expr_get_u32(ex[i + 1], NFTNL_EXPR_META_SREG) ==
                       nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG)) {
            if (auto v = u32_data(e, NFTNL_EXPR_IMM_DATA)) f.mark_set = *v;
        }
    }
}

std::size_t log_index(const std::vector<nftnl_expr *> &ex) {
    for (std::size_t i = 0; i < ex.size(); ++i)
        if (log_expr(ex[i]).found) return i;
    return ex.size();
}

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

// iptables' xt_recent match payload (linux/netfilter/xt_recent.h, revision 0 and 1).
constexpr std::size_t xt_recent_check_set_offset = 8; // after seconds, hit_count
constexpr std::uint8_t xt_recent_set = 1 << 1, xt_recent_update = 1 << 2, xt_recent_remove = 1 << 3;

// Why evaluating the expression `e` a second time would change something ("" = it would
// not): state shared by name, or state a private copy would let drift from the LOG rule's.
std::string side_effect_of(const nftnl_expr *e) {
    auto name = expr_name(e);
    auto str = [e](std::uint16_t attr) {
        const char *v = nftnl_expr_is_set(e, attr) ? nftnl_expr_get_str(e, attr) : nullptr;
        return std::string(v ? v : "?");
    };
    if (name == "dynset")
        return fmt::format("it updates the set @{} (add/update, or a meter): a companion would "
                           "update it a second time",
                           str(NFTNL_EXPR_DYNSET_SET_NAME));
    if (name == "objref") {
        if (nftnl_expr_is_set(e, NFTNL_EXPR_OBJREF_SET_NAME))
            return "it picks a stateful object through a map: a companion would use it twice";
        static constexpr std::array<std::string_view, 5> types{"object", "counter", "quota",
                                                               "ct helper", "limit"};
        std::uint32_t t = nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE);
        return fmt::format("it uses the named {} \"{}\": a companion would use it a second time",
                           t < types.size() ? types[t] : "object", str(NFTNL_EXPR_OBJREF_IMM_NAME));
    }
    if (name == "quota")
        return "quota counts down with each packet: a companion's own quota would run out at "
               "other packets than the LOG rule's";
    if (name == "numgen" && nftnl_expr_get_u32(e, NFTNL_EXPR_NG_TYPE) == NFT_NG_INCREMENTAL)
        return "numgen inc counts packets: a companion's own count would pick other packets";
    if (name != "match") return "";
    const char *mt = nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME);
    std::string_view m = mt ? mt : "";
    if (m == "recent") {
        auto info = xt_info(e, false, "recent");
        auto flags = info.size() > xt_recent_check_set_offset
                         ? static_cast<std::uint8_t>(info[xt_recent_check_set_offset])
                         : std::uint8_t{0};
        if (flags & (xt_recent_set | xt_recent_update | xt_recent_remove))
            return "-m recent --set/--update/--remove writes its list: a companion would write "
                   "it a second time";
        return "";
    }
    if (m == "hashlimit")
        return "-m hashlimit is a bucket shared by name: a companion would take tokens from the "
               "LOG rule's bucket";
    if (m == "quota" || m == "quota2")
        return "-m quota counts down with each packet: a companion's own quota would run out at "
               "other packets than the LOG rule's";
    if (m == "statistic")
        return "-m statistic: a companion would pick other packets than the LOG rule";
    return "";
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
    nftnl_expr *e = nftnl_expr_alloc("target");
    nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFLOG");
    nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 0);
    auto *info = static_cast<XtNflogInfo *>(std::calloc(1, sizeof ni));
    std::memcpy(info, &ni, sizeof ni);
    nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof ni);
    return e;
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
    nftnl_expr *e = nftnl_expr_alloc("target");
    nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "LOG");
    nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 0);
    // libnftnl keeps the pointer: give it a heap copy it will free with the expression.
    auto *info = static_cast<XtLogInfo *>(std::calloc(1, sizeof li));
    std::memcpy(info, &li, sizeof li);
    nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof li);
    return e;
}

void set_comment(nftnl_rule *r, const std::string &comment) {
    nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 16);
    nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment.c_str());
    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
    nftnl_udata_buf_free(ud);
}

} // namespace

std::string table_key(std::uint32_t nfproto, const char *name) {
    return nfproto == NFPROTO_INET ? std::string("inet:") + name : std::string(name);
}

std::vector<std::string> rule_anon_sets(const nftnl_rule *r) {
    std::vector<std::string> out;
    for (const nftnl_expr *e : exprs_of(r))
        if (const char *set = anon_set_of(e)) out.emplace_back(set);
    return out;
}

RuleFacts rule_facts(const nftnl_rule *r, const AnonSets &sets) {
    RuleFacts f;
    std::string table = table_key(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
                                  nftnl_rule_get_str(r, NFTNL_RULE_TABLE));
    auto ex = exprs_of(r);
    std::size_t li = log_index(ex);
    // iptables-nft keeps a rule's comment in the rule's user data, or as an xt comment
    // match where -m comment stood between other matches; a companion copies the xt match
    // with the others, and writes the user-data comment beside its owner tag.
    const std::string udata = udata_comment(r);
    std::string comment = udata;
    f.text = fmt::format(
        "{} {} {} handle {}:", family_name(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)),
        nftnl_rule_get_str(r, NFTNL_RULE_TABLE), nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
        nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE));
    std::string side_effect;
    for (std::size_t i = 0; i < ex.size(); ++i) {
        auto name = expr_name(ex[i]);
        f.xt = f.xt || name == "match" || name == "target";
        f.text += " [" + expr_text(ex[i]) + "]";
        if (is_comment_match(ex[i])) {
            if (comment.empty()) comment = xt_comment(ex[i]);
            continue;
        }
        if (i < li && !is_counter(ex[i])) {
            if (!f.match_key.empty()) f.match_key += "; ";
            f.match_key += expr_key(ex[i], table, sets);
            if (side_effect.empty()) side_effect = side_effect_of(ex[i]);
        }
        if (i > li && !is_counter(ex[i])) f.acts_after_log = true;
    }
    if (!comment.empty()) f.text += fmt::format(" comment \"{}\"", comment);
    f.note = comment;
    rule_marks(ex, f);
    if (li == ex.size()) return f;
    LogExpr l = log_expr(ex[li]);
    f.log_prefix = l.prefix;
    CommentParts parts = comment_split(comment);
    if (!l.group) {
        f.kind = RuleKind::log;
        f.comment = udata;
        f.side_effect = std::move(side_effect);
        f.log_level = static_cast<std::uint8_t>(std::min<std::uint32_t>(l.level, 255));
        f.log_flags = static_cast<std::uint8_t>(l.flags & 0xff);
        if (l.level != default_level)
            f.log_options =
                l.level == log_level_audit ? "level audit" : fmt::format("level {}", l.level);
        if (l.flags)
            f.log_options +=
                fmt::format("{}flags {:#x}", f.log_options.empty() ? "" : " ", l.flags);
    } else if (!parts.owner_class.empty()) {
        f.kind = RuleKind::companion;
        f.owner_class = parts.owner_class;
        f.comment = comment_split(udata).own;
        f.group = l.group_id;
    }
    return f;
}

namespace {

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
    nftnl_expr *ct = nftnl_expr_alloc("match");
    nftnl_expr_set_str(ct, NFTNL_EXPR_MT_NAME, "conntrack");
    nftnl_expr_set_u32(ct, NFTNL_EXPR_MT_REV, 3);
    auto *info = static_cast<xt_conntrack_mtinfo3 *>(std::calloc(1, sizeof ci));
    std::memcpy(info, &ci, sizeof ci);
    nftnl_expr_set(ct, NFTNL_EXPR_MT_INFO, info, sizeof ci); // libnftnl frees it
    nftnl_rule_add_expr(to, ct);
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
