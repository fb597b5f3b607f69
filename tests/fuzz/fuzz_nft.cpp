// libFuzzer: what the nftables backend reads from the kernel (src/io/nft_rule.cpp): one
// NFT_MSG_NEWRULE netlink message -> rule_parse (checked attribute by attribute with libmnl,
// then libnftnl's nftnl_rule_nlmsg_parse) ->
// rule_facts (the expression walk: log expression, xt LOG/NFLOG/comment payloads, udata
// comment, match key) -> companion_build / log_restore_build on what was read.
// Seeds: tests/data/corpus/nft, real dumps recorded by tests/fuzz/record_nft_corpus.py.
#include "nft_backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <libnftnl/rule.h>
#include <linux/netlink.h>
#include <vector>

using namespace netlog;

namespace {

void require(bool ok, const char *what, const std::string &detail) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n%s\n", what, detail.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    // A recv() buffer is aligned; keep the copy aligned (NLMSG_ALIGN) like the socket's.
    static std::vector<std::uint32_t> aligned;
    aligned.assign((size + 3) / 4, 0);
    if (size) std::memcpy(aligned.data(), data, size);

    auto r = nft::rule_parse(aligned.data(), size);
    if (!r) return 0;
    // The kernel always names the table and chain of a dumped rule (nf_tables_fill_rule_info);
    // netlog relies on that, so a message without them is not a rule it can be given.
    if (!nftnl_rule_is_set(r.get(), NFTNL_RULE_TABLE) ||
        !nftnl_rule_is_set(r.get(), NFTNL_RULE_CHAIN))
        return 0;

    nft::AnonSets sets;
    for (const auto &name : nft::rule_anon_sets(r.get()))
        sets[{nft::table_key(nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY),
                             nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)),
              name}]
            .content = "1, 2";
    nft::RuleFacts f = nft::rule_facts(r.get(), sets);
    require(!f.text.empty(), "a rule without text", "");
    if (f.kind == RuleKind::companion)
        require(!f.owner_class.empty() || f.text.find("netlog:") != std::string::npos,
                "a companion without an owner tag", f.text);

    Companion c;
    c.class_name = "fuzz";
    c.group = 42;
    c.prefix = prefix_tag_add({f.log_prefix, static_cast<std::uint8_t>(f.log_level & 7),
                               static_cast<std::uint8_t>(f.log_flags & log_flags_known)});
    c.snaplen = 128;
    c.rule_comment = f.comment;
    if (f.kind == RuleKind::log) {
        for (bool replace : {false, true}) {
            auto again = nft::rule_parse(aligned.data(), size);
            require(again != nullptr, "a message that parses once but not twice", f.text);
            nft::BuiltRule b = nft::companion_build(std::move(again), c, replace);
            require(b.rule != nullptr, "companion_build built nothing", f.text);
            nft::RuleFacts bf = nft::rule_facts(b.rule.get(), nft::AnonSets{});
            require(bf.kind == RuleKind::companion, "a built companion is not seen as one",
                    f.text + "\n -> " + bf.text);
        }
    } else if (f.kind == RuleKind::companion) {
        for (bool xt : {false, true}) {
            auto again = nft::rule_parse(aligned.data(), size);
            LogOptions log = prefix_tag_strip(f.log_prefix);
            nft::BuiltRule b = nft::log_restore_build(std::move(again), log, f.comment, xt);
            nft::RuleFacts bf = nft::rule_facts(b.rule.get(), nft::AnonSets{});
            require(bf.kind == RuleKind::log, "a restored LOG rule is not seen as one",
                    f.text + "\n -> " + bf.text);
            // the restored rule logs with the options the companion's tag carried
            require(bf.log_prefix == log.prefix && bf.log_level == log.level &&
                        bf.log_flags == log.flags,
                    "a restored LOG rule lost its prefix, level or flags",
                    f.text + "\n -> " + bf.text);
        }
    }
    return 0;
}
