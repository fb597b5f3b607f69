// File and stdout sinks.
#include "poller.h"
#include "sinks.h"
#include "unique_fd.h"
#include "clock.h"

#include "safe_file.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>
#include <unordered_map>

namespace netlog::io {

namespace {

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
    const auto now = base::monotonic_ns();
    if (now - last_report_ns_ < 1'000'000'000) return;
    last_report_ns_ = now;
    fmt::print(stderr, "netlogd: output {}: {}: {} (lines are dropped and counted)\n", name_, what,
               std::strerror(err));
}

std::uint64_t Sink::pending_lines() const {
    return blocked_ ? count_lines(buf_.data(), buf_.size()) : 0;
}

bool Sink::write_all(int fd) {
    std::size_t off = 0;
    bool ok = true, again = false;
    while (off < buf_.size()) {
        if (fd < 0) {
            ok = false;
            break;
        }
        const auto n =
            socket_ ? ::send(fd, buf_.data() + off, buf_.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL)
                    : ::write(fd, buf_.data() + off, buf_.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                again = true; // a reader that does not keep up: the rest waits
                break;
            }
            ++c_.errors;
            report("write failed", errno);
            ok = false;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    // Lines wholly written count as written (a line begun by an earlier call counts when
    // its newline goes out).
    // Every line in the buffer, when all of it went out: counted as they were appended.
    c_.lines += off == buf_.size() ? buffered_lines_ : count_lines(buf_.data(), off);
    c_.bytes += off;
    if (again) {
        blocked_ = true;
        buf_.erase(0, off);
        buffered_lines_ = count_lines(buf_.data(), buf_.size());
        trim_pending();
        return true;
    }
    blocked_ = false;
    // A line cut by a short write (a full disk) counts as dropped, and its written part is
    // taken back out of the file (truncating works on a full disk) so that no broken line
    // stays there and the next line starts clean. Where that is not possible (a pipe, or
    // the file grew meanwhile), the cut line is ended with a newline instead.
    c_.dropped += count_lines(buf_.data() + off, buf_.size() - off);
    if (!ok && off > 0 && buf_[off - 1] != '\n' && fd >= 0) {
        const auto nl = std::string_view(buf_.data(), off).rfind('\n');
        const auto cut = static_cast<off_t>(nl == std::string_view::npos ? off : off - nl - 1);
        const off_t end = ::lseek(fd, 0, SEEK_CUR);
        struct stat st {};
        if (end >= cut && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == end &&
            ::ftruncate(fd, end - cut) == 0) {
            c_.bytes -= static_cast<std::uint64_t>(cut);
        } else {
            [[maybe_unused]] auto r = ::write(fd, "\n", 1);
        }
    }
    buf_.clear();
    buffered_lines_ = 0;
    return ok;
}

void Sink::trim_pending() {
    if (buf_.size() <= max_pending) return;
    // Keep whole lines up to the cap (and always the first, which may be half written:
    // its rest must follow what went out); drop the newest past it.
    auto keep = buf_.rfind('\n', max_pending - 1);
    if (keep == std::string::npos) keep = buf_.find('\n');
    if (keep == std::string::npos || keep + 1 >= buf_.size()) return;
    c_.dropped += count_lines(buf_.data() + keep + 1, buf_.size() - keep - 1);
    buf_.resize(keep + 1);
    buffered_lines_ = count_lines(buf_.data(), buf_.size());
    const auto now = base::monotonic_ns();
    if (now - last_report_ns_ >= 1'000'000'000) {
        last_report_ns_ = now;
        fmt::print(stderr,
                   "netlogd: output {}: its reader does not keep up ({} waiting); lines "
                   "past that are dropped and counted for this output only\n",
                   name_,
                   max_pending >= (1u << 20) ? fmt::format("{} MiB", max_pending >> 20)
                                             : fmt::format("{} bytes", max_pending));
    }
}

bool Sink::drain_fd(int fd, int timeout_ms) {
    const auto deadline = base::monotonic_ns() + std::int64_t{timeout_ms} * 1'000'000;
    for (;;) {
        if (!buf_.empty()) write_all(fd);
        if (buf_.empty() || !blocked_) return true;
        // A reader that takes nothing for half a second is not coming back in time.
        const auto left =
            std::min<std::int64_t>((deadline - base::monotonic_ns()) / 1'000'000, 500);
        short rev = 0;
        if (left <= 0 || base::wait_fd(fd, POLLOUT, static_cast<int>(left), &rev) <= 0 ||
            (rev & (POLLERR | POLLHUP))) {
            c_.dropped += count_lines(buf_.data(), buf_.size());
            buf_.clear();
            buffered_lines_ = 0;
            blocked_ = false;
            return false;
        }
    }
}

namespace {

class FileSink final : public Sink {
  public:
    explicit FileSink(std::string path) : path_(std::move(path)) { name_ = path_; }
    ~FileSink() override { flush(); }

    // Opens the path (a regular file, no link followed, never blocking: safe_file.h); on
    // success the new descriptor replaces the old one. On failure the old descriptor (if
    // any) stays, and `why_` says what went wrong.
    int open_file() {
        const int fd = io::open_append(path_, 0640, why_);
        if (fd < 0) return why_.err;
        struct stat st {};
        if (::fstat(fd, &st) == 0) {
            dev_ = st.st_dev;
            ino_ = st.st_ino;
        }
        fd_.reset(fd);
        return 0;
    }
    const OpenFailure &why() const { return why_; }

    bool flush() override {
        if (buf_.empty()) return true;
        // A file whose last name went away (deleted, or its directory removed) would take
        // the lines unseen: noticed here, at the write, not at the next tick.
        struct stat st {};
        if (fd_ && ::fstat(fd_.get(), &st) == 0 && st.st_nlink == 0) reopen_now();
        if (!fd_) {
            // The last open failed: try again now rather than dropping.
            if (open_file() != 0) {
                c_.dropped += count_lines(buf_.data(), buf_.size());
                buf_.clear();
                buffered_lines_ = 0;
                return false;
            }
            if (reopen_failing_) {
                fmt::print(stderr, "netlogd: output {}: reopened; lines go to this path again\n",
                           name_);
                reopen_failing_ = false;
                ++c_.reopens;
            }
        }
        return write_all(fd_.get());
    }

    void reopen() override {
        flush();
        reopen_now();
    }

    void tick(std::int64_t now_ns) override {
        if (now_ns - last_check_ns_ < 1'000'000'000) return;
        last_check_ns_ = now_ns;
        struct stat st {};
        // Renamed away (logrotate create), deleted, or replaced (by a link, too: lstat):
        // the path no longer names our file. copytruncate keeps the inode; O_APPEND then
        // writes at the new end.
        if (!fd_ || ::lstat(path_.c_str(), &st) != 0 || st.st_ino != ino_ || st.st_dev != dev_)
            reopen_now();
    }

  private:
    void reopen_now() {
        if (const int err = open_file(); err != 0) {
            // Keep writing to the file we have while it still has a name (renamed away by
            // a rotation, most often) rather than dropping every line until the path can
            // be opened; tick() tries again every second. A file deleted meanwhile (no name
            // left) would swallow the lines unseen: then close it, and drop and count them.
            // So does a path that is now something else than a regular file (a link, a
            // FIFO, a device: refused, safe_file.h): whoever put it there does not get to
            // redirect or stall the lines.
            const bool refused = err == ELOOP || err == EINVAL || err == ENXIO || err == EISDIR ||
                                 why_.message.find("not a regular file") != std::string::npos;
            struct stat st {};
            const bool named = !refused && fd_ && ::fstat(fd_.get(), &st) == 0 && st.st_nlink > 0;
            if (!named) fd_.reset();
            ++c_.errors;
            if (!reopen_failing_ || why_.message != last_why_)
                fmt::print(stderr, "netlogd: output {}: cannot reopen: {}; {} ({})\n", name_,
                           why_.message,
                           named ? "lines go on to the file it had open (renamed: not at this "
                                   "path)"
                                 : "lines are dropped and counted until it can be opened",
                           refused ? "retrying every second: a regular file must be at this path"
                                   : "retrying every second: check that netlogd's user may "
                                     "create files in the directory");
            last_why_ = why_.message;
            reopen_failing_ = true;
            return;
        }
        if (reopen_failing_)
            fmt::print(stderr, "netlogd: output {}: reopened; lines go to this path again\n",
                       name_);
        reopen_failing_ = false;
        ++c_.reopens;
    }

    std::string path_;
    base::UniqueFd fd_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::int64_t last_check_ns_ = 0;
    bool reopen_failing_ = false;
    OpenFailure why_;
    std::string last_why_;
};

class StdoutSink final : public Sink {
  public:
    explicit StdoutSink(bool nonblocking) {
        name_ = "stdout";
        if (!nonblocking) return;
        struct stat st {};
        if (::fstat(STDOUT_FILENO, &st) != 0) return;
        if (S_ISSOCK(st.st_mode)) {
            socket_ = true; // the journal's stream: send(MSG_DONTWAIT), per call
        } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
            // A description of our own (O_NONBLOCK on fd 1 would change it for whoever
            // shares it): opening /proc/self/fd/1 of a pipe or a terminal gives one.
            own_.reset(::open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
        }
    }
    ~StdoutSink() override { flush(); }
    bool flush() override {
        if (buf_.empty()) return true;
        if (blocked_) {
            // The reader is behind: try it again at most every 5 ms, else only bound what waits.
            const auto now = base::monotonic_ns();
            if (now - last_try_ns_ < 5'000'000) {
                trim_pending();
                return true;
            }
            last_try_ns_ = now;
        }
        return write_all(fd());
    }
    void tick(std::int64_t now_ns) override {
        if (blocked_ && now_ns - last_try_ns_ >= 5'000'000) {
            last_try_ns_ = now_ns;
            write_all(fd());
        }
    }
    void drain(int timeout_ms) override { drain_fd(fd(), timeout_ms); }

  private:
    int fd() const { return own_ ? own_.get() : STDOUT_FILENO; }
    base::UniqueFd own_; // its own description of fd 1 (a pipe or a terminal), or none
    std::int64_t last_try_ns_ = 0;
};

// One file sink per route, bounded; the fallback takes the rest. Its counters are the sums
// of its files' (files are never closed before the sink is, so the sums only grow).
class RoutedFileSink final : public Sink {
  public:
    RoutedFileSink(const std::string &describe, std::unique_ptr<Sink> fallback,
                   std::size_t max_files)
        : fallback_(std::move(fallback)), max_files_(max_files) {
        name_ = describe;
        c_.routed = true;
    }
    ~RoutedFileSink() override { flush(); }

    std::string &buffer_for(std::string_view route) override {
        if (route.empty()) return to_fallback();
        if (route == last_route_ && last_) return last_->buffer_for({});
        auto it = files_.find(route);
        if (it == files_.end()) {
            if (files_.size() >= max_files_) {
                if (now_s() != last_full_report_s_) {
                    last_full_report_s_ = now_s();
                    fmt::print(stderr,
                               "netlogd: output {}: {} files are open, its max_files: the lines "
                               "of {} go to {} (raise max_files to give each its own file)\n",
                               name_, max_files_, route, fallback_->describe());
                }
                return to_fallback();
            }
            auto sink = make_file_sink(std::string(route));
            if (!sink) {
                ++open_errors_;
                if (now_s() != last_open_report_s_) {
                    last_open_report_s_ = now_s();
                    fmt::print(stderr, "netlogd: {}; its lines go to {}\n", sink.error().message,
                               fallback_->describe());
                }
                return to_fallback();
            }
            it = files_.emplace(std::string(route), std::move(*sink)).first;
            c_.files = files_.size();
        }
        last_route_ = it->first;
        last_ = it->second.get();
        return last_->buffer_for({});
    }

    bool flush() override {
        bool ok = fallback_->flush();
        for (auto &[path, f] : files_) ok = f->flush() && ok;
        sync();
        return ok;
    }
    void reopen() override {
        fallback_->reopen();
        for (auto &[path, f] : files_) f->reopen();
        sync();
    }
    void tick(std::int64_t now_ns) override {
        fallback_->tick(now_ns);
        for (auto &[path, f] : files_) f->tick(now_ns);
        sync();
    }

  private:
    std::string &to_fallback() {
        ++c_.fallback;
        return fallback_->buffer_for({});
    }
    static std::int64_t now_s() { return base::monotonic_ns() / 1'000'000'000; }
    void sync() {
        SinkCounters sum = fallback_->counters();
        for (const auto &[path, f] : files_) {
            const auto &x = f->counters();
            sum.lines += x.lines;
            sum.bytes += x.bytes;
            sum.dropped += x.dropped;
            sum.errors += x.errors;
            sum.reopens += x.reopens;
        }
        sum.errors += open_errors_;
        sum.files = files_.size();
        sum.fallback = c_.fallback;
        sum.routed = true;
        c_ = sum;
    }

    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unique_ptr<Sink> fallback_;
    std::size_t max_files_;
    std::unordered_map<std::string, std::unique_ptr<Sink>, Hash, std::equal_to<>> files_;
    std::string_view last_route_; // the key of `last_` in files_ (node keys do not move)
    Sink *last_ = nullptr;
    std::int64_t last_full_report_s_ = -1, last_open_report_s_ = -1;
    std::uint64_t open_errors_ = 0; // files that would not open (their lines: fallback)
};

} // namespace

Result<std::unique_ptr<Sink>> make_routed_file_sink(const std::string &describe,
                                                    const std::string &fallback,
                                                    std::size_t max_files) {
    auto fb = make_file_sink(fallback);
    if (!fb) return fb.error();
    return std::unique_ptr<Sink>(
        std::make_unique<RoutedFileSink>(describe, std::move(*fb), max_files));
}

Result<std::unique_ptr<Sink>> make_file_sink(const std::string &path) {
    auto s = std::make_unique<FileSink>(path);
    if (const int err = s->open_file(); err != 0)
        return make_error(fmt::format("output {}: cannot open for appending: {}{}", path,
                                      s->why().message,
                                      err == ENOENT ? " (create its directory first)" : ""));
    return std::unique_ptr<Sink>(std::move(s));
}

std::unique_ptr<Sink> make_stdout_sink(bool nonblocking) {
    return std::make_unique<StdoutSink>(nonblocking);
}

} // namespace netlog::io
