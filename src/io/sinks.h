// Where formatted lines go: a file (appended with O_APPEND, reopened on SIGHUP and on its
// own when the path is renamed or deleted, so logrotate's `create` and `copytruncate`
// both work) or stdout. The pipeline appends whole lines to buffer(); flush() writes
// them in one go. A failing sink drops and counts its lines; it never retries forever.
// No sink can stall the pipeline: a file output is a regular file (opened without
// blocking or following a link, safe_file.h), and stdout, when it is a pipe, a FIFO, a
// terminal or a socket, is written without blocking: what its reader does not take waits
// in the sink (at most max_pending bytes), and lines past that are dropped and counted
// for that output alone.
#pragma once

#include <netlog/result.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace netlog::io {

struct SinkCounters {
    std::uint64_t lines = 0; // lines written
    std::uint64_t bytes = 0;
    std::uint64_t dropped = 0; // lines that could not be written
    std::uint64_t errors = 0;  // failed writes / opens
    std::uint64_t reopens = 0;
    // A file output whose path names fields: files open, and lines that went to its
    // fallback (no usable value, or max_files reached, or a file that would not open).
    std::uint64_t files = 0, fallback = 0;
    bool routed = false;
};

class Sink {
  public:
    virtual ~Sink() = default;
    // Lines waiting for flush(); append whole lines ending in '\n'.
    std::string &buffer() { return buf_; }
    // The buffer the next line goes to, for exactly one whole line ending in '\n': the
    // buffer of the file `route` names, for a sink with one file per route (a path naming
    // fields); "" or any other sink: buffer(). The line is counted here, so that a write
    // of the whole buffer need not count its newlines.
    virtual std::string &buffer_for(std::string_view /*route*/) {
        ++buffered_lines_;
        return buf_;
    }
    // The syslog level (0..7) of the line appended next: a klog line's LOG rule level. Only
    // a syslog output that frames klog lines uses it (as the message's severity).
    virtual void next_line_level(std::uint8_t /*level*/) {}
    // Write everything buffered. Returns false if some lines were dropped.
    virtual bool flush() = 0;
    // SIGHUP: reopen the destination (flushes first).
    virtual void reopen() {}
    // Called regularly (e.g. every batch); `now_ns` is CLOCK_MONOTONIC. The file sink
    // checks, at most once a second, whether its path still names the open file; a
    // non-blocking sink writes what waits.
    virtual void tick(std::int64_t /*now_ns*/) {}
    // At exit: write what waits for at most `timeout_ms` (less if the reader takes nothing
    // for half a second), then drop (and count) the rest.
    virtual void drain(int /*timeout_ms*/) { flush(); }
    // Lines buffered but not yet written or dropped (a non-blocking sink's backlog).
    std::uint64_t pending_lines() const;
    const SinkCounters &counters() const { return c_; }
    const std::string &describe() const { return name_; }

  protected:
    // write(2) all of buf_ to fd, counting lines written and dropped; clears buf_. A
    // non-blocking fd (EAGAIN) keeps what it could not take in buf_, up to max_pending
    // bytes; whole lines past that are dropped and counted.
    bool write_all(int fd);
    // drain(): write_all() and wait for POLLOUT until done or `timeout_ms`; the rest is
    // dropped and counted. False if something was dropped.
    bool drain_fd(int fd, int timeout_ms);
    void trim_pending();
    void report(std::string_view what, int err);

    std::string buf_;
    // The lines in buf_ when every line came through buffer_for() (write_all() recounts
    // what a partial write leaves).
    std::uint64_t buffered_lines_ = 0;
    SinkCounters c_;
    std::string name_;
    std::int64_t last_report_ns_ = 0;
    bool blocked_ = false; // the last write met a full pipe (EAGAIN)
    bool socket_ = false;  // send(MSG_DONTWAIT) instead of write
};

constexpr std::size_t max_pending = 4u << 20; // a non-blocking sink's backlog, bytes

// Opens (creating with mode 0640) `path` for appending: a regular file, no link followed.
// The error says which file and why.
Result<std::unique_ptr<Sink>> make_file_sink(const std::string &path);
// One file per route (the path a PathTemplate gave the line), each a file sink opened on
// first use, at most `max_files`; lines without a route, past that number, or for a file
// that would not open go to `fallback` (opened now: an error text when it cannot be).
// Each file is reopened on SIGHUP and when its path is renamed, as a file sink is.
Result<std::unique_ptr<Sink>> make_routed_file_sink(const std::string &describe,
                                                    const std::string &fallback,
                                                    std::size_t max_files);
// `nonblocking`: the daemon's stdout (a stalled reader costs only this output's lines);
// --replay writes blocking (its reader sets the pace).
std::unique_ptr<Sink> make_stdout_sink(bool nonblocking = false);

} // namespace netlog::io
