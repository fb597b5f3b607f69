// Where formatted lines go: a file (appended with O_APPEND, reopened on SIGHUP and on its
// own when the path is renamed or deleted, so logrotate's `create` and `copytruncate`
// both work) or stdout. The pipeline appends whole lines to buffer(); flush() writes
// them in one go. A failing sink drops and counts its lines; it never retries forever.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace netlog::io {

struct SinkCounters {
    std::uint64_t lines = 0;   // lines written
    std::uint64_t bytes = 0;
    std::uint64_t dropped = 0; // lines that could not be written
    std::uint64_t errors = 0;  // failed writes / opens
    std::uint64_t reopens = 0;
};

class Sink {
public:
    virtual ~Sink() = default;
    // Lines waiting for flush(); append whole lines ending in '\n'.
    std::string &buffer() { return buf_; }
    // Write everything buffered. Returns false if some lines were dropped.
    virtual bool flush() = 0;
    // SIGHUP: reopen the destination (flushes first).
    virtual void reopen() {}
    // Called regularly (e.g. every batch); `now_ns` is CLOCK_MONOTONIC. The file sink
    // checks, at most once a second, whether its path still names the open file.
    virtual void tick(std::int64_t /*now_ns*/) {}
    // At exit, after the last flush(): wait (bounded) until lines a writer thread still
    // holds are written or dropped, so that counters() is final.
    virtual void drain() {}
    const SinkCounters &counters() const { return c_; }
    const std::string &describe() const { return name_; }

protected:
    // write(2) all of buf_ to fd, counting lines written and dropped; clears buf_.
    bool write_all(int fd);
    void report(std::string_view what, int err);

    std::string buf_;
    SinkCounters c_;
    std::string name_;
    std::int64_t last_report_ns_ = 0;
};

// Opens (creating with mode 0640) `path` for appending. Error text for the user on failure.
std::unique_ptr<Sink> make_file_sink(const std::string &path, std::string &error);
std::unique_ptr<Sink> make_stdout_sink();

} // namespace netlog::io
