// Options -> Context: the rules file, the mode, the families and the backends.
#include "commands.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace netlog::cli {

void complain(std::string_view message) {
    fmt::print(stderr, "netlog-rules: {}\n", message);
    std::fflush(stderr);
}

std::string rule_where(const FwRule &r) {
    return fmt::format("{} {} #{} \"{}\"", r.table, r.chain, r.handle, r.log_prefix);
}

namespace {

Result<RulesFile> rules_load(const std::string &path) {
    std::ifstream f(path);
    if (!f)
        return make_error(
            fmt::format("cannot read the rules file {}: {} (give another with --rules FILE)", path,
                        std::strerror(errno)));
    std::stringstream ss;
    ss << f.rdbuf();
    auto rules = rules_parse(ss.str(), path);
    if (!rules) return rules.error();
    if (rules->classes.empty())
        return make_error(
            fmt::format("{}: no classes: nothing would be mirrored (add classes: [...])", path));
    return rules;
}

std::size_t rule_count(const Ruleset &rs) {
    std::size_t n = 0;
    for (const FwChain &c : rs.chains)
        n += c.rules.size();
    return n;
}

// Rules in the backend's tables, over the families; an Error if it cannot be read.
Result<std::size_t> rules_in(RulesBackend &b, const std::vector<Family> &families) {
    std::size_t n = 0;
    for (Family f : families) {
        auto rs = b.read(f);
        if (!rs) return rs.error();
        n += rule_count(*rs);
    }
    return n;
}

Result<std::vector<std::unique_ptr<RulesBackend>>>
backends_pick(const std::string &which, const std::vector<Family> &families) {
    std::vector<std::unique_ptr<RulesBackend>> out;
    if (which == "legacy") {
        out.push_back(make_legacy_backend());
        return out;
    }
    if (which == "nft") {
        out.push_back(make_nft_backend());
        return out;
    }
    auto legacy = make_legacy_backend();
    auto nft = make_nft_backend();
    auto in_legacy = rules_in(*legacy, families);
    auto in_nft = rules_in(*nft, families);
    if (!in_legacy && !in_nft) return in_legacy.error();
    std::size_t nl = in_legacy ? *in_legacy : 0, nn = in_nft ? *in_nft : 0;
    std::string why =
        fmt::format("{} rules in iptables-legacy tables{}, {} in nftables{}", nl,
                    in_legacy ? "" : " (unreadable: " + in_legacy.error().message + ")", nn,
                    in_nft ? "" : " (unreadable: " + in_nft.error().message + ")");
    if (nl > 0 && nn > 0) {
        complain(fmt::format("--backend auto: using legacy and nft ({})", why));
        out.push_back(std::move(legacy));
        out.push_back(std::move(nft));
    } else if (nl > 0) {
        complain(fmt::format("--backend auto: using legacy ({})", why));
        out.push_back(std::move(legacy));
    } else {
        complain(fmt::format("--backend auto: using nft ({})", why));
        out.push_back(std::move(nft));
    }
    return out;
}

} // namespace

Result<std::unique_ptr<Context>> context_make(const Options &opts) {
    auto ctx = std::make_unique<Context>();
    ctx->opts = opts;
    if (opts.mode == "alongside")
        ctx->mode = PlanMode::alongside;
    else if (opts.mode == "replace")
        ctx->mode = PlanMode::replace;
    else
        return make_error(
            fmt::format("unknown mode '{}' (--mode): use alongside or replace", opts.mode));
    if (opts.family == "ipv4")
        ctx->families = {Family::ipv4};
    else if (opts.family == "ipv6")
        ctx->families = {Family::ipv6};
    else if (opts.family == "all")
        ctx->families = {Family::ipv4, Family::ipv6};
    else
        return make_error(
            fmt::format("unknown family '{}' (--family): use ipv4, ipv6 or all", opts.family));
    if (opts.backend != "auto" && opts.backend != "nft" && opts.backend != "legacy")
        return make_error(
            fmt::format("unknown backend '{}' (--backend): use auto, nft or legacy", opts.backend));
    if (!(opts.interval > 0 && opts.interval <= 3600))
        return make_error(fmt::format(
            "bad --interval {}: give seconds, more than 0 and at most 3600", opts.interval));
    auto rules = rules_load(opts.rules_file);
    if (!rules) return rules.error();
    ctx->rules = std::move(*rules);
    auto backends = backends_pick(opts.backend, ctx->families);
    if (!backends) return backends.error();
    ctx->backends = std::move(*backends);
    return ctx;
}

} // namespace netlog::cli
