// The live daemon: NFLOG socket -> reader thread -> BatchQueue -> pipeline thread ->
// outputs. The main thread only waits for signals: SIGHUP reopens the outputs and reloads
// config, rules and store; SIGTERM/SIGINT drain the queue and exit 0; SIGUSR1 prints the
// counters. On exit one line of counters goes to stderr.
#pragma once

#include <netlog/config.h>
#include <netlog/counters.h>

#include <string>

namespace netlog::daemon {

int run(const std::string &config_path);

// What would refuse the outputs of `c` at start, checked without creating anything: a
// metrics.listen that is not HOST:PORT, a store in a missing directory, a syslog address that does not parse, a new file in a directory that cannot be written
// (missing, read-only, not a directory). "" if none; else one line naming the entry's
// FILE:LINE:COL and key. Used by start and by --check-config.
std::string preflight_outputs(const Config &c);

} // namespace netlog::daemon
