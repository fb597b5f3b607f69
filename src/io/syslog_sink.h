// A syslog client that never blocks its caller: RFC 5424 (or RFC 3164) messages over UDP,
// TCP (RFC 6587 octet counting) or a unix socket (datagram or stream). While the server
// is away, messages wait in a bounded buffer; reconnection backs off exponentially
// (100 ms .. 10 s); messages beyond the buffer are dropped and counted.
//
// Use from one thread: push() each message, pump() regularly (every batch and on poll
// readiness of fd()); both return at once.
#pragma once

#include "unique_fd.h"

#include <netlog/nflog.h>
#include <netlog/result.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace netlog::io {

struct SyslogSettings {
    enum class Transport : std::uint8_t { udp, tcp, unix_dgram, unix_stream };
    enum class Protocol : std::uint8_t { rfc5424, rfc3164 };
    Transport transport = Transport::udp;
    std::string host, port; // udp/tcp
    std::string path;       // unix
    Protocol protocol = Protocol::rfc5424;
    int facility = 1; // user; 0 = kern (for klog lines), 16..23 = local0..7
    int severity = 6; // info
    std::string app_name = "netlogd";
    std::string hostname; // empty: gethostname()
    std::size_t buffer_bytes = 8u << 20;
};

// "udp://HOST:PORT", "tcp://HOST:PORT", "unix:///PATH" (datagram, e.g. /dev/log),
// "unix-stream:///PATH". IPv6 hosts in brackets: "tcp://[::1]:5514".
Result<SyslogSettings> syslog_parse_address(std::string_view address, SyslogSettings base = {});

struct SyslogCounters {
    std::uint64_t sent = 0;       // messages handed to the kernel
    std::uint64_t dropped = 0;    // messages that did not fit the buffer (or failed to send)
    std::uint64_t reconnects = 0; // successful connections after the first
    std::uint64_t connect_failures = 0;
    std::size_t buffered_bytes = 0;
    bool connected = false;
};

class SyslogSink {
  public:
    explicit SyslogSink(SyslogSettings s);
    ~SyslogSink();
    SyslogSink(const SyslogSink &) = delete;
    SyslogSink &operator=(const SyslogSink &) = delete;

    // Frame `msg` (one line, without '\n') for event time `ts` and queue it, with the
    // settings' severity or `severity` (0..7). False: dropped.
    bool push(std::string_view msg, Timestamp ts, int severity = -1);
    // Connect if due, send what the socket takes. `now_ns`: CLOCK_MONOTONIC.
    void pump(std::int64_t now_ns);
    int fd() const { return fd_.get(); }
    bool wants_write() const { return fd_ && head_ < buf_.size(); }
    const SyslogCounters &counters() const { return c_; }
    std::string_view describe() const { return description_; }

  private:
    void frame(std::string_view msg, Timestamp ts, int severity);
    void try_connect(std::int64_t now_ns);
    void disconnect(std::int64_t now_ns);
    void on_connected();
    void send_records(std::int64_t now_ns);

    SyslogSettings s_;
    std::string description_;
    std::string hostname_;
    std::string pid_;
    base::UniqueFd fd_;
    bool ever_connected_ = false;
    bool connecting_ = false;
    std::size_t partial_ = 0; // bytes of the head record already sent (streams)
    std::int64_t next_attempt_ns_ = 0;
    std::int64_t backoff_ns_ = 100'000'000;
    // Queued records, each a u32 length + the framed message, sent from head_.
    std::string buf_;
    std::size_t head_ = 0;
    std::string scratch_;
    SyslogCounters c_;
};

} // namespace netlog::io
