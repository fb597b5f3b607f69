// Options -> Context: the rules file, the mode, the families and the backends.
#include "commands.h"
#include "rules_watch.h"
#include "safe_file.h"

#include <netlog/config.h>

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

int exit_status(std::size_t covered, std::size_t not_covered) {
    if (not_covered == 0) return exit_ok;
    return covered == 0 ? exit_failed : exit_partial;
}

void say_notes(const Plan &plan) {
    std::string text = plan.notes_text();
    if (!text.empty()) fmt::print("{}", text);
    std::fflush(stdout);
}

std::string chains_of(const std::vector<FwRule> &rules) {
    std::vector<std::string> out;
    for (const FwRule &r : rules) out.push_back(r.table + "/" + r.chain);
    return fmt::format("{}", fmt::join(out, " "));
}

void say_icmp_no_chain(const RulesBackend &b, Family f, const Plan &plan) {
    if (plan.icmp_no_chain) say("{} {}: {}", b.name(), to_string(f), icmp_no_chain_text);
}

bool inet_seen_before(const Context &ctx, Family f, const FwRule &r) {
    return r.table.rfind("inet:", 0) == 0 && ctx.families.size() > 1 && f != ctx.families.front();
}

namespace {

Result<RulesFile> rules_load(const std::string &path) {
    // A FIFO or a device in place of the file is refused, never waited on or read forever.
    auto text = io::read_regular(path, 4u << 20, false);
    if (!text)
        return make_error(
            fmt::format("cannot read the rules file {}: {} (give another with --rules FILE)", path,
                        text.error().message));
    auto rules = rules_parse(*text, path);
    if (!rules) return rules.error();
    if (rules->classes.empty())
        return make_error(
            fmt::format("{}: no classes: nothing would be mirrored (add classes: [...])", path));
    return rules;
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
    std::string rules_file = opts.rules_file;
    if (!opts.config_file.empty()) {
        auto text = io::read_regular(opts.config_file, 4u << 20, false);
        if (!text)
            return make_error(fmt::format("cannot read the config {}: {} (--config names "
                                          "netlogd.yaml)",
                                          opts.config_file, text.error().message));
        auto cfg = config_parse(*text, opts.config_file);
        if (!cfg) return cfg.error();
        ctx->icmp_errors = cfg->connections.outcomes;
        if (!opts.rules_given) rules_file = config_resolve_path(opts.config_file, cfg->rules_path);
    }
    auto rules = rules_load(rules_file);
    if (!rules) return rules.error();
    ctx->rules = std::move(*rules);
    std::string why;
    auto backends = rules_backends_pick(opts.backend, ctx->families, why);
    if (!backends) return backends.error();
    if (opts.backend == "auto") complain(fmt::format("--backend auto: using {}", why));
    ctx->backends = std::move(*backends);
    return ctx;
}

} // namespace netlog::cli
