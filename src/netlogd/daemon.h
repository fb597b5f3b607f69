// The live daemon: NFLOG socket -> reader thread -> BatchQueue -> pipeline thread ->
// outputs. The main thread only waits for signals: SIGHUP reopens the outputs and reloads
// config, rules and store; SIGTERM/SIGINT drain the queue and exit 0; SIGUSR1 prints the
// counters. On exit one line of counters goes to stderr.
#pragma once

#include <netlog/counters.h>

#include <string>

namespace netlog::daemon {

int run(const std::string &config_path);

} // namespace netlog::daemon
