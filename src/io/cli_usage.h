// A command line CLI11 refuses, said as the project says errors: "PROG: what; see PROG
// --help", exit 2 (the usage-error convention), instead of CLI11's unprefixed text and its
// own exit codes (105, 106, 109, ...). --help and --version still print and exit 0.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <string>

namespace netlog {

inline int usage_error(const CLI::App &app, const CLI::ParseError &e, const char *prog) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::string what = e.what();
    if (dynamic_cast<const CLI::ExtrasError *>(&e)) {
        const auto colon = what.find(": ");
        what = "unexpected argument" +
               (colon == std::string::npos ? std::string() : what.substr(colon));
    } else if (what == "A subcommand is required") {
        what = "a command is required";
    } else if (const auto m = what.find(": 1 required ");
               m != std::string::npos && what.size() > 8 &&
               what.compare(what.size() - 8, 8, " missing") == 0) {
        what = what.substr(0, m) + " needs a value"; // "--config: 1 required TEXT missing"
    }
    if (!what.empty() && what[0] >= 'A' && what[0] <= 'Z' &&
        (what.size() < 2 || what[1] < 'A' || what[1] > 'Z'))
        what[0] = static_cast<char>(what[0] - 'A' + 'a');
    fmt::print(stderr, "{}: {}; see {} --help\n", prog, what, prog);
    return 2;
}

} // namespace netlog
