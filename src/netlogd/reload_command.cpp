// `netlogd --reload`: check the config, ask the running netlogd to reload it, and wait
// for its answer (daemon.h), so that `systemctl reload` fails when the reload did.
#include "daemon.h"
#include "load.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace netlog::daemon {

namespace {
constexpr int answer_timeout_s = 60; // a reload that loads a large store takes seconds
}

int reload_command(const std::string &config_path, const std::string &pid_text) {
    char *end = nullptr;
    const long pid = std::strtol(pid_text.c_str(), &end, 10);
    if (pid_text.empty() || *end != '\0' || pid <= 1) {
        fmt::print(stderr,
                   "netlogd: --reload: '{}' is not the pid of netlogd: give --pid PID "
                   "(the unit's ExecReload passes $MAINPID)\n",
                   pid_text);
        return 2;
    }
    // The config first, as --check-config: a config that would be refused is said here,
    // and the running netlogd is not disturbed.
    auto l = load_config(config_path);
    if (!l) {
        fmt::print(stderr,
                   "netlogd: --reload: {}; netlogd keeps running its previous "
                   "configuration\n",
                   l.error().message);
        return 1;
    }
    if (auto err = preflight_outputs(l->config); !err.empty()) {
        fmt::print(stderr,
                   "netlogd: --reload: {}; netlogd keeps running its previous "
                   "configuration\n",
                   err);
        return 1;
    }
    // netlogd answers by signal: it must be allowed to signal us. Run as root against a
    // netlogd that runs as its own user, take that user as our real uid for the wait.
    struct stat st {};
    const auto proc = fmt::format("/proc/{}", pid);
    if (::stat(proc.c_str(), &st) == 0 && geteuid() == 0 && st.st_uid != 0 &&
        setresuid(st.st_uid, 0, 0) != 0) {
        fmt::print(stderr, "netlogd: --reload: setresuid: {}\n", std::strerror(errno));
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, reload_reply_signal);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    sigval v{};
    v.sival_int = reload_token;
    if (sigqueue(static_cast<pid_t>(pid), SIGHUP, v) != 0) {
        fmt::print(stderr, "netlogd: --reload: cannot signal pid {}: {}\n", pid,
                   std::strerror(errno));
        return 1;
    }
    const auto deadline = std::time(nullptr) + answer_timeout_s;
    for (;;) {
        const auto left = deadline - std::time(nullptr);
        if (left <= 0) break;
        timespec ts{left, 0};
        siginfo_t info{};
        const int sig = sigtimedwait(&set, &info, &ts);
        if (sig < 0 && errno == EINTR) continue;
        if (sig < 0) break;
        if (info.si_code != SI_QUEUE || info.si_pid != pid) continue; // not the answer
        if (info.si_value.sival_int == 0) {
            fmt::print(stderr, "netlogd: reloaded {} (pid {})\n", config_path, pid);
            return 0;
        }
        fmt::print(stderr,
                   "netlogd: --reload: netlogd (pid {}) refused the reload and keeps "
                   "running its previous configuration; its log says why\n",
                   pid);
        return 1;
    }
    fmt::print(stderr, "netlogd: --reload: no answer from pid {} within {} s: is it netlogd?\n",
               pid, answer_timeout_s);
    return 1;
}

} // namespace netlog::daemon
