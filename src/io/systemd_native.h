// The two systemd protocols netlogd speaks, written here rather than through libsystemd
// (which maps libgcrypt, liblzma, libzstd, liblz4, libgpg-error and libcap with it, about
// 1.1 MiB resident, for three calls):
// - service notification (sd_notify(3)): one datagram of "KEY=value" lines to the AF_UNIX
//   socket $NOTIFY_SOCKET names ('@' = the abstract namespace); the watchdog's period
//   from $WATCHDOG_USEC, for this process when $WATCHDOG_PID is unset or names it;
// - the journal's native protocol (systemd.journal-fields(7), "Native Journal Protocol"):
//   one datagram per entry to /run/systemd/journal/socket, each field "NAME=value\n", or,
//   when the value holds a newline, "NAME\n", its length as a little-endian 64-bit
//   integer, the value and "\n". An entry too large for one datagram goes as a sealed
//   memfd passed with SCM_RIGHTS, as journald accepts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace netlog::io {

// Sends `state` ("READY=1", "STATUS=...", several lines allowed) to $NOTIFY_SOCKET. False
// when the variable is unset (not run by systemd), names no usable socket, or the send
// failed; like sd_notify, the caller goes on either way.
bool systemd_notify(std::string_view state);

// The watchdog period the service manager asked for ($WATCHDOG_USEC), 0 when none is
// asked of this process.
std::uint64_t systemd_watchdog_usec();

// The native-protocol datagram of one entry: `fields` are "NAME=value" (the value may hold
// any byte). Empty when a field has no '=', an empty name or a newline in its name
// (journald would refuse or misread the entry).
std::string journal_datagram(std::span<const std::string_view> fields);

// A socket to journald's native socket at `path`. Blocking, as libsystemd's: a journald
// that does not read holds the sender (the journal sink sends from its own thread, and
// interrupts it with a signal to give up).
class JournalSocket {
  public:
    explicit JournalSocket(std::string path) : path_(std::move(path)) {}
    JournalSocket(const JournalSocket &) = delete;
    JournalSocket &operator=(const JournalSocket &) = delete;
    ~JournalSocket();

    // Sends one entry; 0, or -errno (EINVAL: a field without a name; EINTR: interrupted).
    int send(std::span<const std::string_view> fields);
    // For tests: the send buffer the socket asks for (before it is opened).
    void set_send_buffer(int bytes) { sndbuf_ = bytes; }

  private:
    int open();
    int send_memfd(const std::string &datagram);

    std::string path_;
    int fd_ = -1;
    int sndbuf_ = 8 << 20; // libsystemd's: large entries fit one datagram
};

} // namespace netlog::io
