// Run a program with some text on its stdin and collect its exit status, stdout and
// stderr (for iptables-legacy-save / -restore). No shell: argv[0] is looked up in PATH.
#pragma once

#include <netlog/result.h>

#include <string>
#include <vector>

namespace netlog {

struct ProcessOutput {
    int status = -1; // exit code; 128 + signal number when killed by a signal
    std::string out, err;
};

// An Error only when the program could not be started at all.
Result<ProcessOutput> process_run(const std::vector<std::string> &argv,
                                  const std::string &input = {});

// The process has CAP_NET_ADMIN in its effective set (/proc/self/status CapEff).
bool process_has_net_admin();

} // namespace netlog
