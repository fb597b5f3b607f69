// One nftables rule as netlog sees it: LOG rule, netlog companion or other; and the rules
// netlog writes (companions, restored LOG rules) built from the rules read.
#include "nft_backend.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <string_view>

namespace netlog::nft {

void RuleDeleter::operator()(nftnl_rule *r) const {
    nftnl_rule_free(r);
}

RulePtr rule_parse(const void *nlmsg, std::size_t len) {
    RulePtr r(nftnl_rule_alloc());
    if (!r) return nullptr;
    const auto *nlh = static_cast<const nlmsghdr *>(nlmsg);
    if (len < sizeof(nlmsghdr) || nlh->nlmsg_len > len || nftnl_rule_nlmsg_parse(nlh, r.get()) < 0)
        return nullptr;
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

constexpr std::uint32_t default_level = 4;

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
    std::array<const nftnl_udata *, NFTNL_UDATA_RULE_MAX + 1> tb{};
    auto cb = [](const nftnl_udata *attr, void *data) -> int {
        auto *t = static_cast<std::array<const nftnl_udata *, NFTNL_UDATA_RULE_MAX + 1> *>(data);
        if (nftnl_udata_type(attr) <= NFTNL_UDATA_RULE_MAX) (*t)[nftnl_udata_type(attr)] = attr;
        return 0;
    };
    if (nftnl_udata_parse(d, len, cb, &tb) < 0 || !tb[NFTNL_UDATA_RULE_COMMENT]) return {};
    const auto *c = static_cast<const char *>(nftnl_udata_get(tb[NFTNL_UDATA_RULE_COMMENT]));
    return std::string(bounded(c, nftnl_udata_len(tb[NFTNL_UDATA_RULE_COMMENT])));
}

std::string expr_text(const nftnl_expr *e) {
    std::array<char, 1024> buf{};
    nftnl_expr_snprintf(buf.data(), buf.size(), e, NFTNL_OUTPUT_DEFAULT, 0);
    std::string_view text(buf.data());
    while (!text.empty() && text.back() == ' ')
        text.remove_suffix(1);
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
    case NFPROTO_IPV4:
        return "ip";
    case NFPROTO_IPV6:
        return "ip6";
    case NFPROTO_INET:
        return "inet";
    default:
        return "?";
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

std::size_t log_index(const std::vector<nftnl_expr *> &ex) {
    for (std::size_t i = 0; i < ex.size(); ++i)
        if (log_expr(ex[i]).found) return i;
    return ex.size();
}

// A fresh rule on the same table and chain as `from`.
RulePtr rule_like(const nftnl_rule *from) {
    RulePtr r(nftnl_rule_alloc());
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, nftnl_rule_get_u32(from, NFTNL_RULE_FAMILY));
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, nftnl_rule_get_str(from, NFTNL_RULE_TABLE));
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, nftnl_rule_get_str(from, NFTNL_RULE_CHAIN));
    return r;
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

nftnl_expr *log_plain_new(const std::string &prefix, bool xt) {
    if (!xt) {
        nftnl_expr *e = nftnl_expr_alloc("log");
        nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix.c_str());
        return e;
    }
    XtLogInfo li{};
    li.level = 4; // iptables' default: warning
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
    std::string comment = udata_comment(r);
    f.text = fmt::format(
        "{} {} {} handle {}:", family_name(nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)),
        nftnl_rule_get_str(r, NFTNL_RULE_TABLE), nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
        nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE));
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
        }
        if (i > li && !is_counter(ex[i])) f.acts_after_log = true;
    }
    if (!comment.empty()) f.text += fmt::format(" comment \"{}\"", comment);
    if (li == ex.size()) return f;
    LogExpr l = log_expr(ex[li]);
    f.log_prefix = l.prefix;
    if (!l.group) {
        f.kind = RuleKind::log;
        if (l.level != default_level) f.log_options = fmt::format("level {}", l.level);
        if (l.flags)
            f.log_options +=
                fmt::format("{}flags {:#x}", f.log_options.empty() ? "" : " ", l.flags);
    } else if (comment.rfind(owner_tag_prefix, 0) == 0) {
        f.kind = RuleKind::companion;
        f.owner_class = comment.substr(owner_tag_prefix.size());
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
    if (replace) {
        out.placement = Placement::in_place;
        nftnl_rule_set_u64(to, NFTNL_RULE_HANDLE,
                           nftnl_rule_get_u64(log_rule.get(), NFTNL_RULE_HANDLE));
        exprs_move(
            log_rule.get(), to, [](const nftnl_expr *e, bool) { return !is_comment_match(e); },
            [&] { nftnl_rule_add_expr(to, log_group_new(c)); });
    } else {
        RuleFacts f = rule_facts(log_rule.get(), AnonSets{});
        out.placement = f.acts_after_log ? Placement::before : Placement::after;
        bool counter = false;
        exprs_move(
            log_rule.get(), to,
            [&](const nftnl_expr *e, bool before_log) {
                counter = counter || is_counter(e);
                return before_log && !is_counter(e) && !is_comment_match(e);
            },
            [] {});
        if (counter) nftnl_rule_add_expr(to, counter_new());
        nftnl_rule_add_expr(to, log_group_new(c));
        nftnl_rule_set_u64(to, NFTNL_RULE_POSITION,
                           nftnl_rule_get_u64(log_rule.get(), NFTNL_RULE_HANDLE));
    }
    set_comment(to, c.comment());
    return out;
}

BuiltRule log_restore_build(RulePtr comp_rule, const std::string &prefix, bool xt) {
    BuiltRule out;
    out.placement = Placement::in_place;
    out.rule = rule_like(comp_rule.get());
    nftnl_rule *to = out.rule.get();
    nftnl_rule_set_u64(to, NFTNL_RULE_HANDLE,
                       nftnl_rule_get_u64(comp_rule.get(), NFTNL_RULE_HANDLE));
    exprs_move(
        comp_rule.get(), to, [](const nftnl_expr *e, bool) { return !is_comment_match(e); },
        [&] { nftnl_rule_add_expr(to, log_plain_new(prefix, xt)); });
    return out;
}

} // namespace netlog::nft
