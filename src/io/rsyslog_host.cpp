#include "rsyslog_host.h"

#include <fmt/format.h>

#include <glob.h>

#include <fstream>
#include <sstream>

namespace netlog::io {

namespace {

bool read_file(const std::string &path, std::string &text) {
    std::ifstream f(path);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    text = ss.str();
    return true;
}

// Scans `path`, then what it includes (rsyslog reads an include where it stands; only the
// last default template can tell the difference). Bounded: a loop of includes ends.
void scan(const std::string &path, RsyslogConfFacts &facts, int depth, int &files) {
    std::string text;
    if (depth > 8 || ++files > 256 || !read_file(path, text)) return;
    const std::size_t first = facts.includes.size();
    rsyslog_conf_scan(text, facts);
    const std::vector<std::string> patterns(
        facts.includes.begin() + static_cast<std::ptrdiff_t>(first), facts.includes.end());
    for (const auto &pattern : patterns) {
        glob_t g{};
        if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
            for (std::size_t i = 0; i < g.gl_pathc; ++i)
                scan(g.gl_pathv[i], facts, depth + 1, files);
        globfree(&g);
    }
}

} // namespace

KernLogFormat host_kern_log_format(const std::string &conf) {
    std::string probe;
    if (!read_file(conf, probe))
        return {KernelPrefix::traditional,
                fmt::format("{} cannot be read: the traditional format", conf)};
    RsyslogConfFacts facts;
    int files = 0;
    scan(conf, facts, 0, files);
    KernLogFormat f = rsyslog_kern_log_format(facts);
    f.why = fmt::format("{}: {}", conf, f.why);
    return f;
}

} // namespace netlog::io
