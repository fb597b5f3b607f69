// netlog-rules: mirror kernel LOG rules to NFLOG, keep them mirrored, remove them exactly.
// Subcommands come from a table; each lives in its own file.
#include "commands.h"

#include "cli_usage.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>

namespace {

struct Command {
    const char *name;
    const char *help;
    int (*run)(netlog::cli::Context &);
};

constexpr std::array<Command, 5> commands{{
    {"plan", "print the changes install would make; change nothing", netlog::cli::cmd_plan},
    {"install", "add the NFLOG companions (atomic, idempotent)", netlog::cli::cmd_install},
    {"remove", "delete exactly the companions netlog installed", netlog::cli::cmd_remove},
    {"status", "LOG rules covered / not covered, orphaned companions, unused classes",
     netlog::cli::cmd_status},
    {"watch", "keep the companions in place while other agents rewrite chains",
     netlog::cli::cmd_watch},
}};

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"netlog-rules: mirror kernel LOG rules to NFLOG (see netlog-rules(8))",
                 "netlog-rules"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "netlog-rules " NETLOG_VERSION);
    netlog::cli::Options opts;
    const Command *chosen = nullptr;
    for (const Command &c : commands) {
        CLI::App *sub = app.add_subcommand(c.name, c.help);
        sub->add_option("--rules", opts.rules_file, "rules file (classes, NFLOG group)")
            ->capture_default_str()
            ->each([&opts](const std::string &) { opts.rules_given = true; });
        sub->add_option("--config", opts.config_file,
                        "netlogd.yaml: its rules file, and connections.outcomes (the ICMP "
                        "error rule)");
        sub->add_option("--backend", opts.backend, "auto|nft|legacy")->capture_default_str();
        sub->add_option("--family", opts.family, "ipv4|ipv6|all")->capture_default_str();
        sub->add_option("--mode", opts.mode, "alongside|replace")->capture_default_str();
        if (std::string_view(c.name) == "watch")
            sub->add_option("--interval", opts.interval, "seconds between polls (legacy)")
                ->capture_default_str();
        sub->callback([&chosen, &c] { chosen = &c; });
    }
    if (argc > 1 && argv[1][0] != '-' &&
        std::none_of(commands.begin(), commands.end(),
                     [&](const Command &c) { return std::string_view(c.name) == argv[1]; })) {
        netlog::cli::complain(fmt::format(
            "unknown command '{}': use plan, install, remove, status or watch", argv[1]));
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return netlog::usage_error(app, e, "netlog-rules");
    }
    if (!chosen) return 2;
    auto ctx = netlog::cli::context_make(opts);
    if (!ctx) {
        netlog::cli::complain(ctx.error().message);
        return 1;
    }
    return chosen->run(**ctx);
}
