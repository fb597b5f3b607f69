// Anonymous sets: read them with the rules that look them up, and copy them for the
// companions (an anonymous set is bound to a single rule; the kernel refuses a second).
#include "nft_backend.h"

#include <algorithm>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <string_view>
#include <vector>

namespace netlog::nft {

namespace {

struct SetDeleter {
    void operator()(nftnl_set *s) const { nftnl_set_free(s); }
};
using SetPtr = std::unique_ptr<nftnl_set, SetDeleter>;

std::string hex_attr(nftnl_set_elem *e, std::uint16_t attr) {
    if (!nftnl_set_elem_is_set(e, attr)) return {};
    std::uint32_t len = 0;
    const auto *d = static_cast<const unsigned char *>(nftnl_set_elem_get(e, attr, &len));
    std::string out;
    for (std::uint32_t i = 0; d && i < len; ++i) out += fmt::format("{:02x}", d[i]);
    return out;
}

// One element as text that does not depend on the set's name or the dump order.
std::string elem_key(nftnl_set_elem *e) {
    std::string k = hex_attr(e, NFTNL_SET_ELEM_KEY);
    if (auto end = hex_attr(e, NFTNL_SET_ELEM_KEY_END); !end.empty()) k += "-" + end;
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
        k += fmt::format("/{}", nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS));
    if (auto data = hex_attr(e, NFTNL_SET_ELEM_DATA); !data.empty()) k += ":" + data;
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
        k += fmt::format(":v{}", nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
    if (const char *chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN))
        k += fmt::format(":{}", chain);
    return k;
}

// Parse every element message of a set into `into` (which then names the dumped set).
bool elems_parse(const std::vector<std::vector<std::uint8_t>> &msgs, nftnl_set *into) {
    for (const auto &m : msgs)
        if (nftnl_set_elems_nlmsg_parse(reinterpret_cast<const nlmsghdr *>(m.data()), into) < 0)
            return false;
    return true;
}

std::string content_of(nftnl_set *s) {
    std::vector<std::string> keys;
    nftnl_set_elem_foreach(
        s,
        [](nftnl_set_elem *e, void *data) {
            static_cast<std::vector<std::string> *>(data)->push_back(elem_key(e));
            return 0;
        },
        &keys);
    std::sort(keys.begin(), keys.end());
    std::string out;
    for (const auto &k : keys) out += (out.empty() ? "" : ",") + k;
    return out;
}

} // namespace

Status anon_sets_read(Netlink &nl, std::uint8_t nfproto, const char *table,
                      const std::vector<std::string> &names, AnonSets &out) {
    std::string tkey = table_key(nfproto, table);
    auto sets = nl.dump(NFT_MSG_GETSET, nfproto, [&](nlmsghdr *nlh) {
        SetPtr filter(nftnl_set_alloc());
        nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, table);
        nftnl_set_nlmsg_build_payload(nlh, filter.get());
    });
    if (!sets) return sets.error();
    for (const auto &m : *sets) {
        SetPtr s(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(reinterpret_cast<const nlmsghdr *>(m.data()), s.get()) < 0)
            continue;
        std::string name = nftnl_set_get_str(s.get(), NFTNL_SET_NAME);
        if (!(nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS) ||
            std::find(names.begin(), names.end(), name) == names.end() || out.count({tkey, name}))
            continue;
        AnonSet a;
        a.set_msg = m;
        auto elems = nl.dump(NFT_MSG_GETSETELEM, nfproto, [&](nlmsghdr *nlh) {
            SetPtr which(nftnl_set_alloc());
            nftnl_set_set_str(which.get(), NFTNL_SET_TABLE, table);
            nftnl_set_set_str(which.get(), NFTNL_SET_NAME, name.c_str());
            nftnl_set_elems_nlmsg_build_payload(nlh, which.get());
        });
        if (!elems) return elems.error();
        a.elem_msgs = std::move(*elems);
        SetPtr parsed(nftnl_set_alloc());
        if (!elems_parse(a.elem_msgs, parsed.get()))
            return make_error(fmt::format(
                "nftables: cannot parse the elements of set {} in table {}", name, tkey));
        a.content = content_of(parsed.get());
        out.emplace(std::make_pair(tkey, name), std::move(a));
    }
    return {};
}

namespace {

// A new lookup expression like `old` but naming `set` (numbered `id` in the batch); the caller
// links it in the rule in place of `old`.
nftnl_expr *lookup_renamed(const nftnl_expr *old, const char *set, std::uint32_t id) {
    nftnl_expr *e = nftnl_expr_alloc("lookup");
    for (auto attr : {NFTNL_EXPR_LOOKUP_SREG, NFTNL_EXPR_LOOKUP_DREG, NFTNL_EXPR_LOOKUP_FLAGS})
        if (nftnl_expr_is_set(old, attr))
            nftnl_expr_set_u32(e, attr, nftnl_expr_get_u32(old, attr));
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
    return e;
}

} // namespace

Status anon_sets_clone(nftnl_rule *built, const AnonSets &sets, Netlink::Batch &b,
                       std::uint32_t &next_set_id) {
    auto family = static_cast<std::uint16_t>(nftnl_rule_get_u32(built, NFTNL_RULE_FAMILY));
    const char *table = nftnl_rule_get_str(built, NFTNL_RULE_TABLE);
    std::string tkey = table_key(family, table);
    nftnl_expr_iter *it = nftnl_expr_iter_create(built);
    if (!it) return make_error("nftables: out of memory");
    std::vector<nftnl_expr *> exprs;
    for (nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it))
        exprs.push_back(e);
    nftnl_expr_iter_destroy(it);
    const std::vector<nftnl_expr *> linked = exprs;
    Status result;
    bool renamed = false;
    for (nftnl_expr *&e : exprs) {
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        if (!name || std::string_view(name) != "lookup" ||
            !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET))
            continue;
        std::string set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
        if (!is_anon_set_name(set)) continue; // a named set: shared by any number of rules
        auto found = sets.find({tkey, set});
        if (found == sets.end()) {
            result = make_error(
                fmt::format("nftables: the anonymous set {} of table {} was not read", set, tkey));
            break;
        }
        std::uint32_t id = ++next_set_id;
        const char *anon_name =
            set.rfind("__map", 0) == 0 ? "__map%d" : "__set%d"; // the kernel numbers it
        SetPtr copy(nftnl_set_alloc());
        SetPtr elems(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(reinterpret_cast<const nlmsghdr *>(found->second.set_msg.data()),
                                  copy.get()) < 0 ||
            !elems_parse(found->second.elem_msgs, elems.get())) {
            result = make_error(
                fmt::format("nftables: cannot copy the anonymous set {} of table {}", set, tkey));
            break;
        }
        for (nftnl_set *s : {copy.get(), elems.get()}) {
            nftnl_set_unset(s, NFTNL_SET_HANDLE);
            nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
            nftnl_set_set_str(s, NFTNL_SET_NAME, anon_name);
            nftnl_set_set_u32(s, NFTNL_SET_ID, id);
            nftnl_set_set_u32(s, NFTNL_SET_FAMILY, family);
        }
        std::size_t size = 4096;
        for (const auto &m : found->second.elem_msgs) size += m.size();
        if (size > 60000) { // one netlink attribute holds at most 64 KiB
            result = make_error(
                fmt::format("nftables: the anonymous set {} of table {} is too large to copy "
                            "({} bytes of elements); use a named set in that rule",
                            set, tkey, size));
            break;
        }
        std::string what = fmt::format("copy of the anonymous set {} in table {}", set, tkey);
        b.add_msg(
            NFT_MSG_NEWSET, family, NLM_F_CREATE,
            [&](nlmsghdr *nlh) { nftnl_set_nlmsg_build_payload(nlh, copy.get()); }, what, 4096);
        b.add_msg(
            NFT_MSG_NEWSETELEM, family, NLM_F_CREATE,
            [&](nlmsghdr *nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, elems.get()); }, what,
            size * 2);
        // libnftnl 1.2.x leaks the old name when a lookup's set name is set again, so the
        // lookup is rebuilt rather than renamed in place.
        e = lookup_renamed(e, anon_name, id);
        renamed = true;
    }
    if (renamed) { // relink the expressions in their order, the rebuilt lookups in place
        for (nftnl_expr *e : linked) nftnl_rule_del_expr(e);
        for (nftnl_expr *e : exprs) nftnl_rule_add_expr(built, e);
        for (std::size_t i = 0; i < linked.size(); ++i)
            if (linked[i] != exprs[i]) nftnl_expr_free(linked[i]);
    }
    return result;
}

} // namespace netlog::nft
