// StoreWatcher: keeps a ContainerIndex in step with Cloud Foundry's metadata store
// (store.json, rewritten in place by the CNI wrapper under an exclusive flock on
// store.json_lock, which then bumps store.json_version).
//
// How to use it (the daemon):
//   auto w = StoreWatcher::open({.path = cfg.metadata.store});   // loads once, never fails on
//   if (!w) { error(w.error().message); exit }                    //   a bad store, only on a
//   (*w)->start();                                                //   missing directory
//   ... pipeline thread, once per batch:
//   if (w->generation() != seen) { seen = w->generation(); index = w->current(); }
//   ... SIGHUP: w->request_reload();   (async-signal-safe: an eventfd write)
//   ... exit: w.reset() (stops and joins the thread)
//
// Threading: the watcher owns one thread that sleeps in poll() on an inotify fd watching the
// store's directory (IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_MOVED_FROM for
// store.json and store.json_version) and on an eventfd (stop, reload). Events are coalesced
// (a burst settles for 25 ms) and a reload happens only when the version text or the store's
// inode/size/mtime changed: nothing is polled or read per packet. The reload reads the store
// under a shared flock on store.json_lock (waiting at most `lock_wait`, then reading anyway;
// without a lock file it reads anyway), parses it off the pipeline's path, and publishes the
// new index with an atomic shared_ptr store. current() is an atomic load, never null.
// A missing, empty, half-written or corrupt store keeps the last good index and logs one
// error line per distinct failure (the same failure again is not repeated until a load
// succeeds). Every file is opened without blocking and without following a link, and must
// be a regular file of bounded size (safe_file.h): a FIFO, a device or a huge file in
// place of the store, its version or its lock never stalls the watcher or bloats it.
#pragma once

#include "poller.h"
#include "unique_fd.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <netlog/container.h>
#include <netlog/result.h>
#include <string>
#include <string_view>
#include <thread>

namespace netlog {

enum class StoreLogLevel { info, error };

class StoreWatcher {
  public:
    struct Options {
        std::string path; // store.json; its companions are <path>_lock and <path>_version
        std::chrono::milliseconds lock_wait{1000};
        // One line per call, without "netlogd: " and without a newline. Called from the
        // watcher's thread (and from open()). Default: "netlogd: <line>\n" to stderr.
        std::function<void(StoreLogLevel, std::string_view)> log;
        // Called on the watcher's thread after each successful load (and after open()'s).
        std::function<void(const std::shared_ptr<const ContainerIndex> &)> on_load;
    };

    // The store is a regular file of at most this many bytes, its version file at most
    // max_version_bytes (netlogd.yaml(5)); anything else is refused, the index kept.
    static constexpr std::size_t max_store_bytes = std::size_t{512} << 20;
    static constexpr std::size_t max_version_bytes = 4096;

    struct Stats {
        std::uint64_t reloads_ok = 0, reloads_failed = 0;
        std::uint64_t last_load_us = 0; // read + parse + index of the last successful load
        std::size_t containers = 0;
        // Why the last load failed, while it did ("" once a load succeeds; a store that does
        // not exist yet is not a problem): the health check reports it.
        std::string problem;
    };

    // Opens the inotify watch and loads the store once (a bad store is logged and leaves an
    // empty index: not an error). Errors: the store's directory does not exist or cannot
    // be watched. Does not start the thread.
    static Result<std::unique_ptr<StoreWatcher>> open(Options options);

    // One synchronous load, no watching (for --replay, --check-config, tools).
    static Result<std::shared_ptr<const ContainerIndex>> load(const std::string &path,
                                                              std::chrono::milliseconds lock_wait,
                                                              StoreReport *report = nullptr);

    ~StoreWatcher();
    StoreWatcher(const StoreWatcher &) = delete;
    StoreWatcher &operator=(const StoreWatcher &) = delete;

    void start();          // the watching thread; idempotent
    void stop();           // stops and joins; the destructor does it too
    void request_reload(); // reload even if nothing seems changed; async-signal-safe

    std::shared_ptr<const ContainerIndex> current() const { return current_.load(); }
    // Increments on every successful load: a cheap per-batch check for the pipeline.
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    Stats stats() const;
    const std::string &path() const { return path_; }

  private:
    explicit StoreWatcher(Options options);
    void run();
    void refresh(bool force);
    bool add_watch();
    void log(StoreLogLevel level, std::string_view line) const;
    void fail(const std::string &what, bool problem = true);

    Options opts_;
    std::string path_, dir_, name_, version_name_, lock_path_, version_path_;
    base::UniqueFd inotify_fd_;
    base::Wakeup wake_;
    int watch_ = -1;
    std::thread thread_;
    std::atomic<bool> stop_{false}, reload_requested_{false};

    std::atomic<std::shared_ptr<const ContainerIndex>> current_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> reloads_ok_{0}, reloads_failed_{0}, last_load_us_{0};
    std::atomic<std::shared_ptr<const std::string>> problem_;

    // watcher thread only
    std::string loaded_version_;
    struct FileSig {
        std::uint64_t ino = 0, size = 0, mtime_ns = 0;
        bool exists = false;
        bool operator==(const FileSig &) const = default;
    } loaded_sig_;
    bool have_loaded_ = false;
    std::string last_failure_key_;
};

} // namespace netlog
