// /proc/self/stat, the boot time (/proc/stat or the clocks), /proc/self/fd and /proc/self/limits
// for the process_* metrics.
#include "process_view.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

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
    // The boot time as the Prometheus clients read it (/proc/stat's btime), or, where the
    // unit's ProcSubset=pid hides /proc/stat, from the clocks (equal to within the clock's
    // adjustments since boot, well under a second).
    double boot_time = 0;
    const auto stat = read_small("/proc/stat");
    if (const auto at = stat.find("\nbtime "); at != std::string::npos) {
        boot_time = std::strtod(stat.c_str() + at + 7, nullptr);
    } else {
        timespec real{}, boot{};
        clock_gettime(CLOCK_REALTIME, &real);
        clock_gettime(CLOCK_BOOTTIME, &boot);
        boot_time = static_cast<double>(real.tv_sec - boot.tv_sec) +
                    static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
    }
    process_parse_stat(read_small("/proc/self/stat"), boot_time, sysconf(_SC_CLK_TCK),
                       sysconf(_SC_PAGESIZE), v);
    if (DIR *d = opendir("/proc/self/fd")) {
        std::uint64_t n = 0;
        while (const dirent *e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        v.open_fds = n > 0 ? n - 1 : 0; // not the descriptor opendir holds
    }
    // From /proc/self/limits rather than getrlimit(2): the unit's system-call filter
    // denies @resources, prlimit64 with it.
    v.max_fds = process_parse_max_fds(read_small("/proc/self/limits"));
    return v;
}

} // namespace netlog::io
