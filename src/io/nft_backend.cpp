// The nftables backend: read a family's ruleset through netlink dumps, apply a plan as one
// batch transaction guarded by the generation it was planned on, wait for other writers.
#include "nft_backend.h"

#include <cerrno>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unistd.h>

namespace netlog {
namespace nft {
namespace {

// An inet table sees both families' packets: it belongs to both (its companions are
// installed once: the first family's install, and the second finds them in place).
std::vector<std::uint8_t> protos_of(Family f) {
    if (f == Family::ipv6) return {NFPROTO_IPV6, NFPROTO_INET};
    return {NFPROTO_IPV4, NFPROTO_INET};
}

using RuleRef = std::tuple<std::string, std::string, std::uint64_t>; // table key, chain, handle

RuleRef ref_of(const FwRule &r) {
    return {r.table, r.chain, r.handle};
}

struct ReadState {
    std::uint32_t gen = 0;
    AnonSets sets; // the anonymous sets LOG rules and companions look up
    std::map<RuleRef, std::vector<std::uint8_t>> raw; // LOG rules and companions, as dumped
    std::set<std::string> xt_tables;                  // tables written by iptables-nft
};

std::string step_what(const PlanStep &s) {
    static constexpr std::array<std::string_view, 5> ops{"add companion after", "replace",
                                                         "remove companion", "restore LOG rule in",
                                                         "add ICMP error rule first in"};
    return fmt::format("{} {} {} handle {}", ops.at(static_cast<std::size_t>(s.op)), s.rule.table,
                       s.rule.chain, s.rule.handle);
}

// A companion stands before a LOG rule that acts after logging (`log ... drop`): list it
// after that rule, where the planner looks for a LOG rule's companion.
void companions_after_logs(FwChain &c, const std::set<RuleRef> &acts_after_log) {
    auto &r = c.rules;
    for (std::size_t i = 0; i + 1 < r.size(); ++i) {
        if (r[i].kind == RuleKind::companion && r[i + 1].kind == RuleKind::log &&
            acts_after_log.count(ref_of(r[i + 1])) && r[i].match_key == r[i + 1].match_key &&
            prefix_tag_strip(r[i].log_prefix).prefix == r[i + 1].log_prefix) {
            std::swap(r[i], r[i + 1]);
            ++i;
        }
    }
}

class NftBackend final : public RulesBackend {
  public:
    std::string name() const override { return "nft"; }
    Result<Ruleset> read(Family family) override;
    std::size_t prefix_max() const override { return 127; } // NF_LOG_PREFIXLEN - 1
    Result<ApplyStatus> apply(const Plan &plan, Family family, Report &report) override;
    Result<std::vector<RuleNote>> check(const Plan &plan, Family family) override;
    Result<bool> wait_change(std::chrono::milliseconds timeout) override;

  private:
    Result<Netlink *> netlink();
    Result<Ruleset> read_once(Family family, ReadState &st, bool &retry);
    // One batch of the steps of `plan` not in `skip`; committed, or only checked.
    Result<Netlink::Outcome> run_batch(const Plan &plan, ReadState &st,
                                       const std::vector<bool> &skip, bool commit,
                                       std::vector<RuleNote> &unbuildable);
    bool is_own(std::uint32_t gen, std::uint32_t pid) const;

    std::unique_ptr<Netlink> nl_;
    std::unique_ptr<Monitor> monitor_;
    std::map<Family, ReadState> reads_;
    std::deque<std::uint32_t> own_gens_; // generations our own transactions created
};

Result<Netlink *> NftBackend::netlink() {
    if (!nl_) {
        auto n = Netlink::open();
        if (!n) return n.error();
        nl_ = std::move(*n);
    }
    return nl_.get();
}

Result<Ruleset> NftBackend::read_once(Family family, ReadState &st, bool &retry) {
    retry = false;
    Netlink *nl = nl_.get();
    auto g1 = nl->generation();
    if (!g1) return g1.error();
    Ruleset rs;
    std::map<std::pair<std::string, std::string>, std::size_t> chain_index;
    std::set<RuleRef> acts_after_log;
    for (std::uint8_t proto : protos_of(family)) {
        auto chains = nl->dump(NFT_MSG_GETCHAIN, proto);
        auto rules = chains ? nl->dump(NFT_MSG_GETRULE, proto) : chains;
        for (const auto *r : {&chains, &rules}) {
            if (!*r && r->error().message.rfind("EINTR", 0) == 0) {
                retry = true;
                return r->error();
            }
            if (!*r) return r->error();
        }
        for (const auto &m : *chains) {
            nftnl_chain *c = nftnl_chain_alloc();
            if (nftnl_chain_nlmsg_parse(reinterpret_cast<const nlmsghdr *>(m.data()), c) >= 0) {
                FwChain fc;
                fc.family = family;
                fc.table = table_key(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY),
                                     nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
                fc.chain = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
                chain_index.emplace(std::make_pair(fc.table, fc.chain), rs.chains.size());
                rs.chains.push_back(std::move(fc));
            }
            nftnl_chain_free(c);
        }
        std::vector<RulePtr> parsed;
        std::map<std::string, std::vector<std::string>> anon; // table -> sets to read
        for (const auto &m : *rules) {
            RulePtr r = rule_parse(m.data(), m.size());
            if (!r)
                return make_error(
                    "nftables: cannot parse a rule the kernel listed (newer kernel than "
                    "libnftnl?); upgrade libnftnl");
            for (auto &set : rule_anon_sets(r.get()))
                anon[nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)].push_back(std::move(set));
            parsed.push_back(std::move(r));
        }
        for (const auto &[table, names] : anon) {
            auto ok = anon_sets_read(*nl, proto, table.c_str(), names, st.sets);
            if (!ok && ok.error().message.rfind("EINTR", 0) == 0) retry = true;
            if (!ok) return ok.error();
        }
        for (std::size_t k = 0; k < parsed.size(); ++k) {
            const auto &m = (*rules)[k];
            RulePtr &r = parsed[k];
            RuleFacts f = rule_facts(r.get(), st.sets);
            FwRule fr;
            fr.family = family;
            fr.table = table_key(nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY),
                                 nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE));
            fr.chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
            fr.handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
            fr.kind = f.kind;
            fr.match_key = std::move(f.match_key);
            fr.log_prefix = std::move(f.log_prefix);
            fr.log_options = std::move(f.log_options);
            fr.log_level = f.log_level;
            fr.log_flags = f.log_flags;
            fr.side_effect = std::move(f.side_effect);
            fr.comment = std::move(f.comment);
            if (f.acts_after_log) acts_after_log.insert(ref_of(fr));
            fr.owner_class = std::move(f.owner_class);
            fr.group = f.group;
            fr.text = std::move(f.text);
            fr.mark_set = f.mark_set;
            fr.mark_match = f.mark_match;
            fr.note = std::move(f.note);
            if (f.xt) st.xt_tables.insert(fr.table);
            if (fr.kind != RuleKind::other) st.raw.emplace(ref_of(fr), m);
            auto key = std::make_pair(fr.table, fr.chain);
            auto it = chain_index.find(key);
            if (it == chain_index.end()) { // a chain created between the two dumps
                retry = true;
                return make_error("nftables: the ruleset changed while it was being listed");
            }
            rs.chains[it->second].rules.push_back(std::move(fr));
        }
    }
    for (FwChain &c : rs.chains) companions_after_logs(c, acts_after_log);
    auto g2 = nl->generation();
    if (!g2) return g2.error();
    if (*g1 != *g2) {
        retry = true;
        return make_error("nftables: the ruleset changed while it was being listed");
    }
    st.gen = *g1;
    return rs;
}

Result<Ruleset> NftBackend::read(Family family) {
    auto nl = netlink();
    if (!nl) return nl.error();
    if (!monitor_) { // subscribe before the first read so no later change goes unseen
        auto m = Monitor::open();
        if (m) monitor_ = std::move(*m);
    }
    for (int attempt = 0;; ++attempt) {
        ReadState st;
        bool retry = false;
        auto rs = read_once(family, st, retry);
        if (rs) {
            reads_[family] = std::move(st);
            return rs;
        }
        if (!retry || attempt >= 20) return rs.error();
    }
}

Result<Netlink::Outcome> NftBackend::run_batch(const Plan &plan, ReadState &st,
                                               const std::vector<bool> &skip, bool commit,
                                               std::vector<RuleNote> &unbuildable) {
    Netlink *nl = nl_.get();
    auto batch = nl->batch_start(st.gen);
    std::uint32_t set_id = 0x6e6c0000; // "nl": ids only need to be unique within the batch
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
        if (skip[i]) continue;
        const PlanStep &s = plan.steps[i];
        batch.current_step = static_cast<int>(i);
        if (s.op == PlanStep::Op::insert_first) {
            RulePtr icmp =
                icmp_error_rule_build(s.rule.family, s.rule.table, s.rule.chain, s.companion);
            batch.add(icmp.get(), NFT_MSG_NEWRULE, NLM_F_CREATE, step_what(s));
            continue;
        }
        auto raw = st.raw.find(ref_of(s.rule));
        if (raw == st.raw.end())
            return make_error(fmt::format(
                "nftables: internal error: {} is not a rule that was read", step_what(s)));
        RulePtr r = rule_parse(raw->second.data(), raw->second.size());
        if (!r) return make_error(fmt::format("nftables: cannot parse {}", step_what(s)));
        // A rule whose anonymous sets cannot be copied is one rule not covered, not an
        // error of the whole batch: its messages are taken back out.
        const std::size_t mark = batch.buf.size(), mark_n = batch.what.size();
        const std::uint32_t mark_seq = batch.seq;
        auto add_rule = [&](nftnl_rule *rule, std::uint16_t flags) -> bool {
            auto cloned = anon_sets_clone(rule, st.sets, batch, set_id);
            if (!cloned) {
                batch.buf.resize(mark);
                batch.what.resize(mark_n);
                batch.step.resize(mark_n);
                batch.seq = mark_seq;
                unbuildable.push_back(RuleNote{s.rule, cloned.error().message});
                return false;
            }
            batch.add(rule, NFT_MSG_NEWRULE, flags, step_what(s));
            return true;
        };
        switch (s.op) {
        case PlanStep::Op::add_after: {
            BuiltRule b = companion_build(std::move(r), s.companion, false);
            auto flags = static_cast<std::uint16_t>(
                NLM_F_CREATE | (b.placement == Placement::after ? NLM_F_APPEND : 0));
            add_rule(b.rule.get(), flags);
            break;
        }
        case PlanStep::Op::replace: {
            BuiltRule b = companion_build(std::move(r), s.companion, true);
            add_rule(b.rule.get(), NLM_F_REPLACE);
            break;
        }
        case PlanStep::Op::remove: {
            RulePtr del(nftnl_rule_alloc());
            nftnl_rule_set_u32(del.get(), NFTNL_RULE_FAMILY,
                               nftnl_rule_get_u32(r.get(), NFTNL_RULE_FAMILY));
            nftnl_rule_set_str(del.get(), NFTNL_RULE_TABLE,
                               nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE));
            nftnl_rule_set_str(del.get(), NFTNL_RULE_CHAIN,
                               nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN));
            nftnl_rule_set_u64(del.get(), NFTNL_RULE_HANDLE, s.rule.handle);
            batch.add(del.get(), NFT_MSG_DELRULE, 0, step_what(s));
            break;
        }
        case PlanStep::Op::insert_first: break; // above
        case PlanStep::Op::restore_log: {
            BuiltRule b = log_restore_build(std::move(r), s.log, s.rule.comment,
                                            st.xt_tables.count(s.rule.table) > 0);
            add_rule(b.rule.get(), NLM_F_REPLACE);
            break;
        }
        }
    }
    if (batch.what.empty()) return Netlink::Outcome{};
    return nl->batch_commit(batch, commit);
}

namespace {

Error refused_whole(const Netlink::Outcome &out) {
    if (out.error == EPERM || out.error == EACCES)
        return make_error(
            "nftables: permission denied changing the ruleset: run netlog-rules as root "
            "(CAP_NET_ADMIN); nothing was changed");
    return make_error(
        fmt::format("nftables: the kernel refused the transaction{}{}: {}; nothing was changed",
                    out.failed.empty() ? "" : " at ", out.failed, std::strerror(out.error)));
}

// A step the kernel refused on its own (not for want of privilege): a companion or a
// restored LOG rule it will not take; the rest of the batch can go without it.
bool refusal_of_one(const Netlink::Outcome &out, const Plan &plan) {
    if (out.error == EPERM || out.error == EACCES || out.error == ERESTART || out.step < 0)
        return false;
    for (auto [step, err] : out.failures) {
        if (step < 0 || static_cast<std::size_t>(step) >= plan.steps.size()) return false;
        auto op = plan.steps[static_cast<std::size_t>(step)].op;
        if (op != PlanStep::Op::add_after && op != PlanStep::Op::replace &&
            op != PlanStep::Op::insert_first)
            return false;
    }
    return true;
}

std::string refusal_text(int err, const FwRule &r) {
    std::string hint;
    if (err == EOPNOTSUPP && r.chain.rfind("__chain", 0) == 0)
        hint = " (the rule is in an anonymous chain bound to a `jump { ... }` rule, which "
               "takes no rule beside its own)";
    return fmt::format("the kernel refused its companion: {}{}", std::strerror(err), hint);
}

} // namespace

Result<std::vector<RuleNote>> NftBackend::check(const Plan &plan, Family family) {
    std::vector<RuleNote> out;
    if (plan.empty()) return out;
    auto it = reads_.find(family);
    if (it == reads_.end())
        return make_error("nftables: internal error: a plan checked without reading the ruleset");
    std::vector<bool> skip(plan.steps.size());
    for (int round = 0; round < 64; ++round) {
        std::vector<RuleNote> unbuildable;
        auto res = run_batch(plan, it->second, skip, false, unbuildable);
        if (!res) return res.error();
        for (RuleNote &n : unbuildable) out.push_back(std::move(n));
        if (!res->error) return out;
        if (res->error == ERESTART) return out; // the ruleset moved on: the plan is stale
        if (!refusal_of_one(*res, plan)) return refused_whole(*res);
        for (auto [step, err] : res->failures) {
            auto i = static_cast<std::size_t>(step);
            if (skip[i]) continue;
            skip[i] = true;
            out.push_back(RuleNote{plan.steps[i].rule, refusal_text(err, plan.steps[i].rule)});
        }
    }
    return out;
}

Result<ApplyStatus> NftBackend::apply(const Plan &plan, Family family, Report &report) {
    if (plan.empty()) return ApplyStatus::applied;
    auto it = reads_.find(family);
    if (it == reads_.end())
        return make_error(
            "nftables: internal error: a plan applied without reading the ruleset first");
    ReadState &st = it->second;
    // The kernel checks every message of a batch before it aborts, and reports each one it
    // refuses: leave those steps out and send the rest again (the generation did not move).
    std::vector<bool> skip(plan.steps.size());
    for (;;) {
        std::vector<RuleNote> unbuildable;
        auto out = run_batch(plan, st, skip, true, unbuildable);
        if (!out) return out.error();
        for (RuleNote &n : unbuildable) {
            for (std::size_t i = 0; i < plan.steps.size(); ++i)
                if (same_rule(plan.steps[i].rule, n.rule)) skip[i] = true;
            report.refused.push_back(std::move(n));
        }
        if (out->error == ERESTART) return ApplyStatus::conflict;
        if (out->error) {
            if (!refusal_of_one(*out, plan)) return refused_whole(*out);
            for (auto [step, err] : out->failures) {
                auto i = static_cast<std::size_t>(step);
                if (skip[i]) continue;
                skip[i] = true;
                report.refused.push_back(
                    RuleNote{plan.steps[i].rule, refusal_text(err, plan.steps[i].rule)});
            }
            continue;
        }
        std::size_t sent = 0;
        for (std::size_t i = 0; i < plan.steps.size(); ++i)
            if (!skip[i]) {
                report.applied.push_back(i);
                ++sent;
            }
        if (sent == 0) return ApplyStatus::applied; // nothing was sent: no new generation
        break;
    }
    // Our commit moved the generation by exactly one (the kernel checked it was st.gen).
    std::uint32_t old = st.gen, now = old + 1 == 0 ? 1 : old + 1;
    own_gens_.push_back(now);
    if (own_gens_.size() > 64) own_gens_.pop_front();
    for (auto &[f, other] : reads_)
        if (other.gen == old) other.gen = now;
    return ApplyStatus::applied;
}

bool NftBackend::is_own(std::uint32_t gen, std::uint32_t pid) const {
    if (pid == static_cast<std::uint32_t>(getpid())) return true;
    for (std::uint32_t g : own_gens_)
        if (g == gen) return true;
    return false;
}

Result<bool> NftBackend::wait_change(std::chrono::milliseconds timeout) {
    if (!monitor_) {
        auto m = Monitor::open();
        if (!m) return m.error();
        monitor_ = std::move(*m);
    }
    return monitor_->wait(
        static_cast<int>(timeout.count()),
        [this](std::uint32_t gen, std::uint32_t pid) { return is_own(gen, pid); });
}

} // namespace
} // namespace nft

std::unique_ptr<RulesBackend> make_nft_backend() {
    return std::make_unique<nft::NftBackend>();
}

} // namespace netlog
