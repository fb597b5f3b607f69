#include "poller.h"
#include "subprocess.h"

#include "unique_fd.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

extern char **environ;

namespace netlog {

namespace {

using Fd = base::UniqueFd;

struct Pipe {
    Fd read, write;
    bool open() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) return false;
        read.reset(p[0]);
        write.reset(p[1]);
        return true;
    }
};

} // namespace

Result<ProcessOutput> process_run(const std::vector<std::string> &argv, const std::string &input) {
    if (argv.empty()) return make_error("process_run: empty command");
    std::array<Pipe, 3> pipes; // child's stdin, stdout, stderr
    for (auto &p : pipes)
        if (!p.open())
            return make_error(fmt::format("cannot create a pipe: {}", std::strerror(errno)));

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipes[0].read.get(), 0);
    posix_spawn_file_actions_adddup2(&fa, pipes[1].write.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, pipes[2].write.get(), 2);
    std::vector<char *> args;
    for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return make_error(fmt::format("cannot run {}: {} (is it installed and in PATH?)", argv[0],
                                      std::strerror(rc)));
    pipes[0].read.reset();
    pipes[1].write.reset();
    pipes[2].write.reset();
    if (input.empty()) pipes[0].write.reset();

    ProcessOutput out;
    std::size_t written = 0;
    ::signal(SIGPIPE, SIG_IGN);
    for (;;) {
        if (pipes[1].read.get() < 0 && pipes[2].read.get() < 0 && pipes[0].write.get() < 0) break;
        // A closed pipe's descriptor is -1: poll skips it and reports nothing for it.
        base::Poller fds;
        const auto out_i = fds.add(pipes[1].read.get());
        const auto err_i = fds.add(pipes[2].read.get());
        const auto in_i = fds.add(pipes[0].write.get(), POLLOUT);
        if (fds.wait(-1) < 0) break;
        char buf[65536];
        auto drain = [&](std::size_t idx, Fd &fd, std::string &dst) {
            if (!fds.ready(idx)) return;
            ssize_t r = ::read(fd.get(), buf, sizeof buf);
            if (r > 0)
                dst.append(buf, static_cast<std::size_t>(r));
            else if (r == 0 || errno != EINTR)
                fd.reset();
        };
        drain(out_i, pipes[1].read, out.out);
        drain(err_i, pipes[2].read, out.err);
        if (fds.ready(in_i)) {
            ssize_t w =
                ::write(pipes[0].write.get(), input.data() + written, input.size() - written);
            if (w > 0) written += static_cast<std::size_t>(w);
            if ((w < 0 && errno != EINTR) || written == input.size()) pipes[0].write.reset();
        }
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    out.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return out;
}

bool process_has_net_admin() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("CapEff:", 0) == 0) {
            unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
            return (caps >> 12) & 1; // CAP_NET_ADMIN = 12
        }
    }
    return false;
}

} // namespace netlog
