// /proc/self/stat, /proc/stat, /proc/self/fd and RLIMIT_NOFILE for the process_* metrics.
#include "process_view.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

namespace netlog::io {

namespace {

std::string read_small(const char *path) {
    std::string s;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return s;
    char buf[4096];
    for (;;) {
        const auto n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        s.append(buf, static_cast<std::size_t>(n));
        if (s.size() > (1u << 20)) break;
    }
    close(fd);
    return s;
}

} // namespace

ProcessView read_process_view() {
    ProcessView v;
    process_parse_stat(read_small("/proc/self/stat"), read_small("/proc/stat"),
                       sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), v);
    if (DIR *d = opendir("/proc/self/fd")) {
        std::uint64_t n = 0;
        while (const dirent *e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        v.open_fds = n > 0 ? n - 1 : 0; // not the descriptor opendir holds
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) v.max_fds = rl.rlim_cur;
    return v;
}

} // namespace netlog::io
