// One nftables rule as netlog sees it: LOG rule, netlog companion or other, with what a
// companion must copy (its matches, comment, marks) and what would forbid one.
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

std::string_view bounded(const char *s, std::size_t max) {
    return {s, strnlen(s, max)};
}

} // namespace

std::string_view expr_name(const nftnl_expr *e) {
    const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    return n ? n : "";
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

bool is_counter(const nftnl_expr *e) {
    return expr_name(e) == "counter";
}

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

namespace {

std::string xt_comment(const nftnl_expr *e) {
    auto info = xt_info(e, false, "comment");
    return info.empty() ? std::string() : std::string(bounded(info.data(), info.size()));
}

constexpr std::uint32_t default_level = log_default_level;

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

bool is_comment_match(const nftnl_expr *e) {
    return !xt_info(e, false, "comment").empty();
}

// The expressions of a rule, in order (borrowed from the rule).
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

} // namespace netlog::nft
