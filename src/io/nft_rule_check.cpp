// The check of an nftables rule message before libnftnl parses it: libnftnl exit()s on
// an attribute of the wrong size, so a message from anywhere is held against what it
// expects first.
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

} // namespace netlog::nft
