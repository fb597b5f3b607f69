// The live daemon: NFLOG socket -> reader thread -> BatchQueue -> pipeline thread ->
// outputs. The main thread only waits for signals: SIGHUP reopens the outputs and reloads
// config, rules and store (prepared on a loader thread, swapped in between batches); SIGTERM/SIGINT drain the queue and exit 0; SIGUSR1 prints the
// counters. On exit one line of counters goes to stderr.
#pragma once

#include <netlog/config.h>
#include "counters.h"

#include <csignal>
#include <string>

namespace netlog::daemon {

int run(const std::string &config_path);

// `netlogd --reload`: a synchronous reload for the service manager's ExecReload (a plain
// SIGHUP cannot say whether the reload worked). The caller sends SIGHUP with sigqueue(3)
// and the value reload_token; netlogd answers with reload_reply_signal, value 0 (reloaded)
// or 1 (refused: still running the previous configuration), once the reload is done.
constexpr int reload_token = 0x4e4c5244;
constexpr int reload_reply_signal = SIGUSR2;
// Checks the config first (as --check-config), then asks netlogd `pid` to reload and
// waits for its answer: 0 reloaded, 1 refused or no answer.
int reload_command(const std::string &config_path, const std::string &pid_text);

// What would refuse the outputs of `c` at start, checked without creating anything: a
// metrics.listen that is not HOST:PORT, a store in a missing directory, a syslog address that does not parse, a new file in a directory that cannot be written
// (missing, read-only, not a directory). "" if none; else one line naming the entry's
// FILE:LINE:COL and key. Used by start and by --check-config.
std::string preflight_outputs(const Config &c);

} // namespace netlog::daemon
