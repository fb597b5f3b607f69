// The journal output (`type: journal`): entries framed by the pipeline (netlog/journal.h)
// go to systemd-journald in its native protocol (systemd_native.h), one datagram each.
//
// A send blocks while journald does not read (stopped, or its socket queue full), so a
// writer thread makes the calls: flush() only moves entries into a bounded
// buffer for it and returns at once. What does not fit is dropped and counted, as is an
// entry journald's socket refuses, and every entry while the socket is not there (where
// libsystemd's sd_journal_sendv would say nothing and return 0). At exit drain() waits for the
// writer (bounded, and only while journald takes entries: half a second without progress
// ends it); the rest is dropped and counted, and the writer's blocked call is interrupted
// (a signal, no SA_RESTART).
#pragma once

#include "sinks.h"

#include <cstddef>
#include <memory>
#include <string>

namespace netlog::io {

struct JournalSettings {
    std::size_t buffer_bytes = 8u << 20; // entries waiting for the writer
    // Where journald listens: checked before each batch is sent, and sent to.
    std::string socket_path = "/run/systemd/journal/socket";
};

std::unique_ptr<Sink> make_journal_sink(JournalSettings s);

} // namespace netlog::io
