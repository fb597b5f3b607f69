// store.json -> ContainerIndex, reloaded on inotify events, read under the writer's flock.
#include "poller.h"
#include "store_watcher.h"

#include "safe_file.h"
#include "unique_fd.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace netlog {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kSettle = 25ms;     // a burst of events (store, then version) -> one load
constexpr auto kMaxSettle = 500ms; // ... unless the events never stop
constexpr auto kRewatch = 1000ms;  // the directory went away: try to watch it again
constexpr std::uint32_t kDirEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                     IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

using Fd = base::UniqueFd;

std::string errno_text(int err) {
    return std::strerror(err);
}

// What a writer put in a file, fit for one log line: control bytes and bytes past ASCII
// as \xNN (a version text must not forge a line of netlogd's log).
std::string printable(std::string_view in) {
    std::string out;
    for (unsigned char c : in) {
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out += static_cast<char>(c);
        else
            out += fmt::format("\\x{:02x}", c);
    }
    return out;
}

// Shared flock on the writer's lock file, waited for at most `wait`. No lock file: no lock.
// Returns the held fd (or -1: read without the lock; `note` says why when it matters).
Fd lock_shared(const std::string &lock_path, std::chrono::milliseconds wait, std::string &note) {
    struct stat st {};
    io::OpenFailure why;
    Fd fd(io::open_regular(lock_path, true, st, why));
    if (fd.get() < 0) {
        if (why.err != ENOENT)
            note = fmt::format("cannot open {} ({}), read without the lock", lock_path,
                               printable(why.message));
        return Fd();
    }
    const auto deadline = Clock::now() + wait;
    for (;;) {
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            note = fmt::format("cannot lock {} ({}), read without the lock", lock_path,
                               errno_text(errno));
            return Fd();
        }
        if (Clock::now() >= deadline) {
            note = fmt::format("{} still held by the writer after {} ms, read without the lock",
                               lock_path, wait.count());
            return Fd();
        }
        ::usleep(2000);
    }
}

struct Snapshot {
    std::string text, version;
    std::uint64_t ino = 0, size = 0, mtime_ns = 0;
    bool exists = false;
};

// The whole file, or an error (`missing` set when it does not exist). Non-blocking, no
// link followed, a regular file of at most max_store_bytes: a FIFO, /dev/zero or a huge
// sparse file in its place is refused at once.
Result<std::string> read_file(const std::string &path, std::size_t cap, struct stat *st,
                              bool *missing) {
    io::OpenFailure why;
    auto text = io::read_regular(path, cap, true, st, &why);
    if (!text) {
        *missing = why.err == ENOENT;
        return make_error(why.err == ENOENT || why.err == EACCES
                              ? fmt::format("cannot open: {}", why.message)
                              : why.message);
    }
    return text;
}

std::string read_version(const std::string &path) {
    struct stat st {};
    bool missing = false;
    auto r = read_file(path, StoreWatcher::max_version_bytes, &st, &missing);
    if (!r.ok()) return {};
    std::string v = std::move(r).value();
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    return printable(v.size() > 64 ? v.substr(0, 64) : v);
}

// The store's text under the lock, with its version and identity.
Result<Snapshot> snapshot(const std::string &path, const std::string &lock_path,
                          const std::string &version_path, std::chrono::milliseconds lock_wait,
                          std::string &note) {
    Fd lock = lock_shared(lock_path, lock_wait, note);
    Snapshot s;
    struct stat st {};
    bool missing = false;
    auto text = read_file(path, StoreWatcher::max_store_bytes, &st, &missing);
    s.version = read_version(version_path);
    if (!text.ok()) {
        if (missing)
            return make_error(
                "does not exist (the CNI wrapper creates it with the first container)");
        return text.error();
    }
    s.text = std::move(text).value();
    s.exists = true;
    s.ino = st.st_ino;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.mtime_ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
                 static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
    return s;
}

// Failures are logged once per kind: the same message with other numbers or other details
// (in parentheses) is the same failure.
std::string failure_key(std::string_view message) {
    std::string key;
    for (char c : message.substr(0, message.find('(')))
        if (!std::isdigit(static_cast<unsigned char>(c))) key += c;
    return key;
}

} // namespace

StoreWatcher::StoreWatcher(Options options) : opts_(std::move(options)) {
    path_ = opts_.path;
    auto slash = path_.rfind('/');
    dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    name_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
    version_name_ = name_ + "_version";
    lock_path_ = path_ + "_lock";
    version_path_ = path_ + "_version";
    current_.store(std::make_shared<const ContainerIndex>());
}

Result<std::unique_ptr<StoreWatcher>> StoreWatcher::open(Options options) {
    if (options.path.empty())
        return make_error("metadata.store is empty: give the path of store.json");
    std::unique_ptr<StoreWatcher> w(new StoreWatcher(std::move(options)));
    if (w->name_.empty())
        return make_error(
            fmt::format("metadata store {}: names a directory, not store.json", w->path_));
    w->inotify_fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!w->inotify_fd_)
        return make_error(fmt::format("metadata store {}: inotify_init1: {} (raise "
                                      "fs.inotify.max_user_instances)",
                                      w->path_, errno_text(errno)));
    if (!w->wake_.ok())
        return make_error(
            fmt::format("metadata store {}: eventfd: {}", w->path_, errno_text(errno)));
    if (!w->add_watch()) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return make_error(fmt::format("metadata store {}: directory {} does not exist: create "
                                          "it or fix metadata.store in the config",
                                          w->path_, w->dir_));
        return make_error(fmt::format("metadata store {}: cannot watch {}: {}", w->path_, w->dir_,
                                      errno_text(err)));
    }
    w->refresh(true);
    return w;
}

Result<std::shared_ptr<const ContainerIndex>>
StoreWatcher::load(const std::string &path, std::chrono::milliseconds lock_wait,
                   StoreReport *report) {
    std::string note;
    auto snap = snapshot(path, path + "_lock", path + "_version", lock_wait, note);
    if (!snap.ok()) return make_error(fmt::format("store {}: {}", path, snap.error().message));
    auto index = ContainerIndex::parse(snap->text, report);
    if (!index.ok()) return make_error(fmt::format("store {}: {}", path, index.error().message));
    return std::shared_ptr<const ContainerIndex>(
        std::make_shared<ContainerIndex>(std::move(index).value()));
}

StoreWatcher::~StoreWatcher() {
    stop();
}

void StoreWatcher::start() {
    if (thread_.joinable()) return;
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
}

void StoreWatcher::stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    wake_.notify();
    thread_.join();
}

void StoreWatcher::request_reload() {
    reload_requested_.store(true);
    wake_.notify();
}

StoreWatcher::Stats StoreWatcher::stats() const {
    Stats s;
    s.reloads_ok = reloads_ok_.load();
    s.reloads_failed = reloads_failed_.load();
    s.last_load_us = last_load_us_.load();
    s.containers = current()->size();
    if (auto p = problem_.load()) s.problem = *p;
    return s;
}

bool StoreWatcher::add_watch() {
    watch_ = ::inotify_add_watch(inotify_fd_.get(), dir_.c_str(), kDirEvents);
    return watch_ >= 0;
}

void StoreWatcher::log(StoreLogLevel level, std::string_view line) const {
    if (opts_.log) {
        opts_.log(level, line);
        return;
    }
    std::string out = fmt::format("netlogd: {}\n", line);
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

void StoreWatcher::fail(const std::string &what, bool problem) {
    reloads_failed_.fetch_add(1);
    problem_.store(problem ? std::make_shared<const std::string>(what) : nullptr);
    std::string key = failure_key(what);
    if (key == last_failure_key_) return;
    last_failure_key_ = std::move(key);
    log(StoreLogLevel::error,
        fmt::format("store {}: {}; keeping the previous index of {} containers", path_, what,
                    current()->size()));
}

void StoreWatcher::refresh(bool force) {
    // Cheap check first: has anything changed since the last attempt?
    struct stat st {};
    FileSig sig;
    if (::lstat(path_.c_str(), &st) == 0) {
        sig.exists = true;
        sig.ino = static_cast<std::uint64_t>(st.st_ino);
        sig.size = static_cast<std::uint64_t>(st.st_size);
        sig.mtime_ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
                       static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
    }
    std::string version = read_version(version_path_);
    if (!force && have_loaded_ && sig == loaded_sig_ && version == loaded_version_) return;
    have_loaded_ = true;
    loaded_sig_ = sig;
    loaded_version_ = version;

    const auto t0 = Clock::now();
    std::string note;
    auto snap = snapshot(path_, lock_path_, version_path_, opts_.lock_wait, note);
    if (!snap.ok()) {
        fail(snap.error().message, sig.exists);
        return;
    }
    // What was read is what we have seen (the file may have changed since the stat above).
    loaded_sig_ = FileSig{snap->ino, snap->size, snap->mtime_ns, true};
    loaded_version_ = snap->version;
    StoreReport report;
    auto index = ContainerIndex::parse(snap->text, &report);
    if (!index.ok()) {
        fail(note.empty() ? index.error().message
                          : fmt::format("{} ({})", index.error().message, note));
        return;
    }
    std::shared_ptr<const ContainerIndex> fresh =
        std::make_shared<ContainerIndex>(std::move(index).value());
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    current_.store(fresh);
    generation_.fetch_add(1, std::memory_order_release);
    reloads_ok_.fetch_add(1);
    last_load_us_.store(static_cast<std::uint64_t>(us.count()));
    last_failure_key_.clear();
    problem_.store(nullptr);

    std::string line = fmt::format(
        "store {}: {} containers (version {}) loaded in {:.1f} ms", path_, fresh->size(),
        snap->version.empty() ? "-" : snap->version, static_cast<double>(us.count()) / 1000.0);
    if (report.warnings())
        line += fmt::format("; {} entries not indexed or partly indexed, first: {}",
                            report.warnings(), report.first_warning);
    if (report.repaired) // as the store's Go readers read them
        line +=
            fmt::format("; {} strings with a lone UTF-16 surrogate or bytes that are not "
                        "UTF-8 read as U+FFFD{}",
                        report.repaired,
                        report.warnings() ? "" : fmt::format(" (first: {})", report.first_warning));
    if (!note.empty()) line += fmt::format(" ({})", note);
    log(StoreLogLevel::info, line);
    if (opts_.on_load) opts_.on_load(fresh);
}

void StoreWatcher::run() {
    alignas(struct inotify_event) char buf[16384];
    bool pending = false, force = false;
    Clock::time_point first_event{}, last_event{};
    while (!stop_.load()) {
        int timeout = -1;
        const auto now = Clock::now();
        if (pending) {
            auto due = std::min(last_event + kSettle, first_event + kMaxSettle);
            timeout = static_cast<int>(std::max<std::int64_t>(
                0, std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count() + 1));
        } else if (watch_ < 0) {
            timeout = static_cast<int>(kRewatch.count());
        }
        base::Poller fds;
        const auto inotify = fds.add(inotify_fd_.get()), wake = fds.add(wake_.fd());
        const int n = fds.wait(timeout);
        if (n < 0) {
            log(StoreLogLevel::error,
                fmt::format("store {}: poll: {}; no more reloads", path_, errno_text(errno)));
            return;
        }
        auto note_event = [&](bool forced) {
            const auto t = Clock::now();
            if (!pending) first_event = t;
            last_event = t;
            pending = true;
            force = force || forced;
        };
        if (n > 0 && fds.readable(wake)) {
            wake_.drain();
            if (stop_.load()) return;
            if (reload_requested_.exchange(false)) note_event(true);
        }
        if (n > 0 && fds.readable(inotify)) {
            for (;;) {
                ssize_t len = ::read(inotify_fd_.get(), buf, sizeof buf);
                if (len <= 0) break;
                for (char *p = buf; p < buf + len;) {
                    auto *ev = reinterpret_cast<struct inotify_event *>(p);
                    p += sizeof(struct inotify_event) + ev->len;
                    if (ev->mask & IN_Q_OVERFLOW) {
                        note_event(true);
                    } else if (ev->mask & IN_IGNORED) { // the directory is gone
                        watch_ = -1;
                        fail(fmt::format("directory {} was removed", dir_));
                    } else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
                        // IN_IGNORED follows for a delete; a moved directory keeps its watch
                    } else if (ev->len > 0) {
                        std::string_view name(ev->name);
                        if (name == name_ || name == version_name_) note_event(false);
                    }
                }
            }
        }
        if (watch_ < 0 && add_watch()) note_event(true);
        if (pending) {
            const auto t = Clock::now();
            if (t >= last_event + kSettle || t >= first_event + kMaxSettle) {
                pending = false;
                refresh(force);
                force = false;
            }
        }
    }
}

} // namespace netlog
