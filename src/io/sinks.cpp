// File and stdout sinks.
#include "sinks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

namespace netlog::io {

namespace {

std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// memchr jumps from newline to newline with vector compares: a few instructions per line
// instead of several per byte (std::count is not vectorised at -O2).
std::size_t count_lines(const char *p, std::size_t n) {
    std::size_t lines = 0;
    const char *end = p + n;
    while (p < end) {
        const void *nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        if (!nl) break;
        ++lines;
        p = static_cast<const char *>(nl) + 1;
    }
    return lines;
}

} // namespace

void Sink::report(std::string_view what, int err) {
    // At most one message per second per sink: a full disk must not flood stderr.
    const auto now = monotonic_ns();
    if (now - last_report_ns_ < 1'000'000'000) return;
    last_report_ns_ = now;
    fmt::print(stderr, "netlogd: output {}: {}: {} (lines are dropped and counted)\n", name_,
               what, std::strerror(err));
}

bool Sink::write_all(int fd) {
    std::size_t off = 0;
    bool ok = true;
    while (off < buf_.size()) {
        if (fd < 0) {
            ok = false;
            break;
        }
        const auto n = ::write(fd, buf_.data() + off, buf_.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            ++c_.errors;
            report("write failed", errno);
            ok = false;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    // Lines wholly written count as written; a line cut by a short write (a full disk)
    // counts as dropped, and its written part is taken back out of the file (truncating
    // works on a full disk) so that no broken line stays there and the next line starts
    // clean. Where that is not possible (a pipe, or the file grew meanwhile), the cut line
    // is ended with a newline instead.
    const auto full = count_lines(buf_.data(), off);
    c_.lines += full;
    c_.bytes += off;
    c_.dropped += count_lines(buf_.data() + off, buf_.size() - off);
    if (!ok && off > 0 && buf_[off - 1] != '\n' && fd >= 0) {
        const auto nl = std::string_view(buf_.data(), off).rfind('\n');
        const auto cut = static_cast<off_t>(nl == std::string_view::npos ? off : off - nl - 1);
        const off_t end = ::lseek(fd, 0, SEEK_CUR);
        struct stat st{};
        if (end >= cut && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == end &&
            ::ftruncate(fd, end - cut) == 0) {
            c_.bytes -= static_cast<std::uint64_t>(cut);
        } else {
            [[maybe_unused]] auto r = ::write(fd, "\n", 1);
        }
    }
    buf_.clear();
    return ok;
}

namespace {

class FileSink final : public Sink {
public:
    explicit FileSink(std::string path) : path_(std::move(path)) { name_ = path_; }
    ~FileSink() override {
        flush();
        if (fd_ >= 0) ::close(fd_);
    }

    // Opens the path; on success the new descriptor replaces the old one. On failure the
    // old descriptor (if any) stays: lines keep going to the file it names.
    int open_file() {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) return errno;
        struct stat st{};
        if (::fstat(fd, &st) == 0) {
            dev_ = st.st_dev;
            ino_ = st.st_ino;
        }
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
        return 0;
    }

    bool flush() override {
        if (buf_.empty()) return true;
        if (fd_ < 0) {
            // The last open failed: try again now rather than dropping.
            if (open_file() != 0) {
                c_.dropped += count_lines(buf_.data(), buf_.size());
                buf_.clear();
                return false;
            }
            if (reopen_failing_) {
                fmt::print(stderr, "netlogd: output {}: reopened; lines go to this path again\n",
                           name_);
                reopen_failing_ = false;
                ++c_.reopens;
            }
        }
        return write_all(fd_);
    }

    void reopen() override {
        flush();
        if (const int err = open_file(); err != 0) {
            // Keep writing to the file we have while it still has a name (renamed away by
            // a rotation, most often) rather than dropping every line until the path can
            // be opened; tick() tries again every second. A file deleted meanwhile (no name
            // left) would swallow the lines unseen: then close it, and drop and count them.
            struct stat st{};
            const bool named = fd_ >= 0 && ::fstat(fd_, &st) == 0 && st.st_nlink > 0;
            if (!named && fd_ >= 0) {
                ::close(fd_);
                fd_ = -1;
            }
            if (!reopen_failing_) {
                ++c_.errors;
                fmt::print(stderr,
                           "netlogd: output {}: cannot reopen: {}; {} (retrying every second: "
                           "check that netlogd's user may create files in the directory)\n",
                           name_, std::strerror(err),
                           named ? "lines go on to the file it had open (renamed: not at this "
                                   "path)"
                                 : "lines are dropped and counted until it can be opened");
            }
            reopen_failing_ = true;
            return;
        }
        if (reopen_failing_)
            fmt::print(stderr, "netlogd: output {}: reopened; lines go to this path again\n",
                       name_);
        reopen_failing_ = false;
        ++c_.reopens;
    }

    void tick(std::int64_t now_ns) override {
        if (now_ns - last_check_ns_ < 1'000'000'000) return;
        last_check_ns_ = now_ns;
        struct stat st{};
        // Renamed away (logrotate create), deleted, or replaced: the path no longer names
        // our file. copytruncate keeps the inode; O_APPEND then writes at the new end.
        if (fd_ < 0 || ::stat(path_.c_str(), &st) != 0 || st.st_ino != ino_ ||
            st.st_dev != dev_)
            reopen();
    }

private:
    std::string path_;
    int fd_ = -1;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::int64_t last_check_ns_ = 0;
    bool reopen_failing_ = false;
};

class StdoutSink final : public Sink {
public:
    StdoutSink() { name_ = "stdout"; }
    ~StdoutSink() override { flush(); }
    bool flush() override { return buf_.empty() || write_all(STDOUT_FILENO); }
};

} // namespace

std::unique_ptr<Sink> make_file_sink(const std::string &path, std::string &error) {
    auto s = std::make_unique<FileSink>(path);
    if (const int err = s->open_file(); err != 0) {
        error = fmt::format("output {}: cannot open for appending: {}{}", path,
                            std::strerror(err),
                            err == ENOENT ? " (create its directory first)" : "");
        return nullptr;
    }
    return s;
}

std::unique_ptr<Sink> make_stdout_sink() { return std::make_unique<StdoutSink>(); }

} // namespace netlog::io
