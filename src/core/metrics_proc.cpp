// The kernel's and the process's own view, parsed from /proc text: the NFLOG groups and our
// netlink socket (drops, receive memory), the process_* metrics' stat and fd limit.
#include "metrics.h"
#include "metrics_text.h"

namespace netlog {

using metrics_text::fields;
using metrics_text::for_each_line;
using metrics_text::num;

std::vector<KernelGroupView> kernel_parse_nfnetlink_log(std::string_view text) {
    std::vector<KernelGroupView> out;
    for_each_line(text, [&](std::string_view line) {
        const auto f = fields(line);
        if (f.size() < 7) return;
        KernelGroupView g;
        if (num(f[0], g.group) && num(f[1], g.portid) && num(f[2], g.queue_len) &&
            num(f[3], g.copy_mode) && num(f[4], g.copy_range) && num(f[5], g.flush_timeout) &&
            num(f[6], g.use))
            out.push_back(g);
    });
    return out;
}

// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
bool kernel_parse_netlink(std::string_view text, std::uint32_t portid, KernelSocketView &out) {
    bool found = false;
    for_each_line(text, [&](std::string_view line) {
        const auto f = fields(line);
        if (found || f.size() < 10) return;
        std::uint32_t proto = 0, pid = 0;
        if (!num(f[1], proto) || !num(f[2], pid) || proto != 12 || pid != portid) return;
        KernelSocketView v;
        v.portid = pid;
        if (num(f[4], v.rmem) && num(f[8], v.drops)) {
            out = v;
            found = true;
        }
    });
    return found;
}

bool process_parse_stat(std::string_view self_stat, double boot_time, long ticks_per_second,
                        long page_size, ProcessView &out) {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. Field 3 (state) is then the first, utime the 12th, stime 13th, starttime
    // 20th, vsize 21st, rss 22nd.
    const auto close = self_stat.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0) return false;
    const auto f = fields(self_stat.substr(close + 1));
    std::uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
    if (f.size() < 22 || !num(f[11], utime) || !num(f[12], stime) || !num(f[19], start) ||
        !num(f[20], vsize) || !num(f[21], rss))
        return false;
    const auto hz = static_cast<double>(ticks_per_second);
    out.cpu_seconds = static_cast<double>(utime + stime) / hz;
    out.start_time_seconds = boot_time + static_cast<double>(start) / hz;
    out.virtual_bytes = vsize;
    out.resident_bytes = rss * static_cast<std::uint64_t>(page_size);
    out.known = true;
    return true;
}

std::uint64_t process_parse_max_fds(std::string_view limits) {
    std::uint64_t v = 0;
    for_each_line(limits, [&](std::string_view line) {
        constexpr std::string_view key = "Max open files";
        if (line.substr(0, key.size()) != key) return;
        const auto f = fields(line.substr(key.size()));
        if (!f.empty()) num(f[0], v);
    });
    return v;
}

} // namespace netlog
