// The journal sink: a bounded buffer and a writer thread sending entries to journald.
#include "journal_sink.h"
#include "systemd_native.h"

#include <netlog/journal.h>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace netlog::io {

namespace {

using Clock = std::chrono::steady_clock;

// Interrupts a writer blocked in sendmsg (journald stopped): the handler does nothing, and
// without SA_RESTART the call returns EINTR.
int interrupt_signal() {
    return SIGRTMIN + 5;
}

void on_interrupt(int) {}

void install_interrupt_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; // no SA_RESTART
        sigaction(interrupt_signal(), &sa, nullptr);
    });
}

// What the pipeline thread and the writer share; the writer holds it too, so that a
// writer still blocked when the sink goes away touches nothing freed.
struct Shared {
    JournalSettings settings;
    std::mutex mu;
    std::condition_variable wake, idle;
    std::string pending; // framed entries for the writer
    bool stop = false;   // the sink is closing: write what is pending, then end
    bool abort = false;  // give up: what is left is dropped
    bool busy = false;   // the writer is sending a batch
    std::atomic<std::uint64_t> sent{0}, bytes{0}, dropped{0}, errors{0}, progress{0};
    std::atomic<std::int64_t> last_report_ms{-1000000};

    void report(std::string_view what) {
        const auto now =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
                .count();
        auto last = last_report_ms.load();
        if (now - last < 1000 || !last_report_ms.compare_exchange_strong(last, now)) return;
        fmt::print(stderr, "netlogd: output journal: {} (entries are dropped and counted)\n", what);
    }
};

bool socket_there(const std::string &path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

void send_batch(Shared &sh, const std::string &work, std::vector<std::string_view> &fields,
                JournalSocket &journal) {
    if (!socket_there(sh.settings.socket_path)) {
        const auto n = journal_count_entries(work);
        sh.dropped += n;
        sh.progress += n;
        sh.report(
            fmt::format("{} is not there (is systemd-journald running?)", sh.settings.socket_path));
        return;
    }
    JournalEntries entries(work);
    while (entries.next(fields)) {
        if (sh.abort) {
            sh.dropped +=
                1 + journal_count_entries(std::string_view(work).substr(entries.offset()));
            return;
        }
        std::size_t len = 0;
        for (auto f : fields) len += f.size();
        const int r = journal.send(fields);
        if (r < 0) {
            ++sh.dropped;
            ++sh.errors;
            if (r != -EINTR)
                sh.report(
                    fmt::format("sending to {}: {}", sh.settings.socket_path, std::strerror(-r)));
        } else {
            ++sh.sent;
            sh.bytes += len;
        }
        ++sh.progress;
    }
}

void writer_main(std::shared_ptr<Shared> sh) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, interrupt_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    std::string work;
    std::vector<std::string_view> fields;
    JournalSocket journal(sh->settings.socket_path);
    for (;;) {
        {
            std::unique_lock lk(sh->mu);
            sh->busy = false;
            sh->idle.notify_all();
            sh->wake.wait(lk, [&] { return !sh->pending.empty() || sh->stop; });
            if (sh->pending.empty()) return;
            work.swap(sh->pending);
            sh->pending.clear();
            sh->busy = true;
        }
        send_batch(*sh, work, fields, journal);
        work.clear();
    }
}

class JournalSink final : public Sink {
  public:
    explicit JournalSink(JournalSettings s) : sh_(std::make_shared<Shared>()) {
        name_ = "journal";
        sh_->settings = std::move(s);
        install_interrupt_handler();
        writer_ = std::thread(writer_main, sh_);
    }

    ~JournalSink() override {
        flush();
        drain(1000);
        {
            std::lock_guard lk(sh_->mu);
            sh_->stop = true;
        }
        sh_->wake.notify_all();
        // drain() ended any blocked call it could; a writer still inside one owns its
        // share of the state and ends with the process.
        bool idle;
        {
            std::lock_guard lk(sh_->mu);
            idle = !sh_->busy;
        }
        if (idle)
            writer_.join();
        else
            writer_.detach();
    }

    bool flush() override {
        bool ok = true;
        if (!buf_.empty()) {
            std::size_t lost = 0;
            {
                std::lock_guard lk(sh_->mu);
                const std::size_t limit = sh_->settings.buffer_bytes;
                const std::size_t room =
                    limit > sh_->pending.size() ? limit - sh_->pending.size() : 0;
                std::size_t take = buf_.size();
                if (sh_->abort) {
                    take = 0;
                } else if (take > room) { // whole entries only
                    JournalEntries r(buf_);
                    std::size_t fit = 0;
                    while (r.next(fields_) && r.offset() <= room) fit = r.offset();
                    take = fit;
                }
                sh_->pending.append(buf_, 0, take);
                if (take < buf_.size())
                    lost = journal_count_entries(std::string_view(buf_).substr(take));
            }
            sh_->wake.notify_one();
            if (lost) {
                sh_->dropped += lost;
                ok = false;
                sh_->report("the journal does not keep up: buffer full");
            }
            buf_.clear();
        }
        sync();
        return ok;
    }

    void tick(std::int64_t) override { sync(); }

    // Waits for the writer at most `timeout_ms`, and less once journald has taken nothing
    // for half a second; then what is left is dropped and counted.
    void drain(int timeout_ms) override {
        flush();
        std::unique_lock lk(sh_->mu);
        const auto end = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
        auto last = sh_->progress.load();
        auto stall = Clock::now() + std::chrono::milliseconds(500);
        while (!sh_->pending.empty() || sh_->busy) {
            sh_->idle.wait_for(lk, std::chrono::milliseconds(50));
            const auto now = Clock::now();
            if (const auto p = sh_->progress.load(); p != last) {
                last = p;
                stall = now + std::chrono::milliseconds(500);
            } else if (now >= stall || now >= end) {
                sh_->abort = true;
                break;
            }
            if (now >= end) {
                sh_->abort = true;
                break;
            }
        }
        if (sh_->abort) {
            sh_->dropped += journal_count_entries(sh_->pending);
            sh_->pending.clear();
            // The writer is blocked in sendmsg: interrupt it until it is out (bounded).
            for (int i = 0; i < 40 && sh_->busy; ++i) {
                pthread_kill(writer_.native_handle(), interrupt_signal());
                sh_->idle.wait_for(lk, std::chrono::milliseconds(50));
            }
            sh_->report("systemd-journald did not take the last entries at exit");
        }
        lk.unlock();
        sync();
    }

  private:
    void sync() {
        c_.lines = sh_->sent.load();
        c_.bytes = sh_->bytes.load();
        c_.dropped = sh_->dropped.load();
        c_.errors = sh_->errors.load();
    }

    std::shared_ptr<Shared> sh_;
    std::thread writer_;
    std::vector<std::string_view> fields_;
};

} // namespace

std::unique_ptr<Sink> make_journal_sink(JournalSettings s) {
    return std::make_unique<JournalSink>(std::move(s));
}

} // namespace netlog::io
