// netlogd's outputs: the sinks a config's outputs open (file, stdout, syslog, journal),
// checked before anything is created, and the pipeline's lines into their buffers.
#include "outputs.h"

#include "daemon.h"
#include "clock.h"
#include "journal_sink.h"
#include "load.h"
#include "metrics_server.h"
#include "safe_file.h"
#include "syslog_sink.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netlog::daemon {

namespace {

constexpr std::size_t sink_flush_bytes = 1u << 20; // a sink buffer past this is written at once

// A syslog output behind the Sink interface: each buffered line becomes one message. With
// `rule_levels` (klog without a configured severity) each line's severity is its LOG rule's
// level, as the kernel's own line had.
class SyslogOutput final : public io::Sink {
  public:
    SyslogOutput(io::SyslogSettings s, bool rule_levels)
        : half_(s.buffer_bytes / 2), rule_levels_(rule_levels), s_(std::move(s)) {
        name_ = std::string(s_.describe());
    }
    void next_line_level(std::uint8_t level) override {
        if (rule_levels_) levels_.emplace_back(buf_.size(), level);
    }
    bool flush() override {
        const auto ts = to_timestamp(base::realtime_ns());
        std::size_t start = 0;
        std::size_t next_level = 0;
        bool ok = true;
        while (start < buf_.size()) {
            auto nl = buf_.find('\n', start);
            if (nl == std::string::npos) nl = buf_.size();
            // A burst larger than the buffer goes out as it is queued while the server
            // takes it; only what the server does not take waits (and may be dropped).
            if (s_.counters().buffered_bytes >= half_) s_.pump(base::monotonic_ns());
            int severity = -1; // a line without a level (a summary): the output's severity
            while (next_level < levels_.size() && levels_[next_level].first < start) ++next_level;
            if (next_level < levels_.size() && levels_[next_level].first == start)
                severity = levels_[next_level].second;
            if (!s_.push(std::string_view(buf_).substr(start, nl - start), ts, severity))
                ok = false;
            start = nl + 1;
        }
        buf_.clear();
        levels_.clear();
        s_.pump(base::monotonic_ns());
        sync();
        return ok;
    }
    void tick(std::int64_t now_ns) override {
        s_.pump(now_ns);
        sync();
    }

  private:
    void sync() {
        const auto &sc = s_.counters();
        c_.lines = sc.sent;
        c_.dropped = sc.dropped;
        c_.errors = sc.connect_failures;
        c_.reopens = sc.reconnects;
    }
    std::size_t half_;
    bool rule_levels_;
    std::vector<std::pair<std::size_t, std::uint8_t>> levels_; // (line start in buf_, level)
    io::SyslogSink s_;
};

// The output's syslog options (config) over the sink's settings; unset ones stay.
void apply_syslog_options(const SyslogOutputOptions &o, io::SyslogSettings &s) {
    if (o.rfc3164) s.protocol = io::SyslogSettings::Protocol::rfc3164;
    if (o.facility >= 0) s.facility = o.facility;
    if (o.severity >= 0) s.severity = o.severity;
    if (!o.app_name.empty()) s.app_name = o.app_name;
    if (!o.hostname.empty()) s.hostname = o.hostname;
    if (o.buffer) s.buffer_bytes = o.buffer;
}

} // namespace

void SinkLines::line_done(std::size_t i) {
    if (last_ && last_->size() > sink_flush_bytes) sinks_[i]->flush();
}

std::string output_key(const OutputConfig &o) {
    // A syslog output frames by format (klog: each line at its rule's level): a change of
    // format or severity opens it anew.
    if (o.type == OutputType::syslog)
        return fmt::format("syslog:{}:{}:{}", o.address, to_string(o.format), o.syslog.severity);
    if (o.path_template.templated())
        return fmt::format("file:{}:{}:{}", o.path, o.fallback, o.max_files);
    return fmt::format("{}:{}{}", to_string(o.type), o.path, o.address);
}

// Output `i` of the config; a refusal names the entry's FILE:LINE:COL and key.
Result<std::unique_ptr<io::Sink>> open_output(const OutputConfig &o, std::size_t i) {
    switch (o.type) {
    case OutputType::stdout_: return io::make_stdout_sink(true);
    case OutputType::file: {
        auto s = o.path_template.templated()
                     ? io::make_routed_file_sink(o.path, o.fallback, o.max_files)
                     : io::make_file_sink(o.path);
        if (!s)
            return make_error(
                fmt::format("{}: key 'outputs[{}].path': {}", o.where, i, s.error().message));
        return s;
    }
    case OutputType::syslog: {
        io::SyslogSettings base;
        if (o.format == OutputFormat::klog) base.facility = 0; // kern, like the kernel's lines
        if (o.format == OutputFormat::klog)
            base.app_name = "kernel"; // rsyslog files them as kernel lines
        apply_syslog_options(o.syslog, base);
        auto s = io::syslog_parse_address(o.address, base);
        if (!s)
            return make_error(
                fmt::format("{}: key 'outputs[{}].address': {}", o.where, i, s.error().message));
        // klog lines carry their LOG rule's level unless the output sets a severity.
        const bool rule_levels = o.format == OutputFormat::klog && o.syslog.severity < 0;
        return std::unique_ptr<io::Sink>(
            std::make_unique<SyslogOutput>(std::move(*s), rule_levels));
    }
    case OutputType::journal: {
        io::JournalSettings js;
        if (o.syslog.buffer) js.buffer_bytes = o.syslog.buffer;
        return io::make_journal_sink(std::move(js));
    }
    }
    return make_error("unknown output type");
}

std::string preflight_outputs(const Config &c) {
    if (!c.store_path.empty()) { // the watcher needs the store's directory (to watch it)
        const auto slash = c.store_path.rfind('/');
        const std::string dir = slash == std::string::npos ? "."
                                : slash == 0               ? "/"
                                                           : c.store_path.substr(0, slash);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            return fmt::format("{}: metadata store {}: directory {} does not exist: create it "
                               "(the store's writer may create store.json there later)",
                               config_key_where(c.source_name, "metadata.store"), c.store_path,
                               dir);
    }
    std::string host;
    int port = 0;
    if (!c.metrics_listen.empty() &&
        (!io::split_host_port(c.metrics_listen, host, port) || port == 0))
        return fmt::format("{}: '{}' is not HOST:PORT (e.g. 127.0.0.1:7561)",
                           config_key_where(c.source_name, "metrics.listen"), c.metrics_listen);
    for (std::size_t i = 0; i < c.outputs.size(); ++i) {
        const auto &o = c.outputs[i];
        if (o.type == OutputType::syslog) {
            if (auto a = io::syslog_parse_address(o.address); !a)
                return fmt::format("{}: key 'outputs[{}].address': {}", o.where, i,
                                   a.error().message);
        } else if (struct stat st{};
                   o.type == OutputType::file && lstat(o.path.c_str(), &st) == 0) {
            if (!S_ISREG(st.st_mode)) // a directory, a FIFO, a link: refused (safe_file.h)
                return fmt::format("{}: key 'outputs[{}].path': output {} is {}, not a regular "
                                   "file: give the path of a file (netlogd creates it)",
                                   o.where, i, o.path, io::file_kind(st.st_mode));
        } else if (o.type == OutputType::file) {
            const auto slash = o.path.rfind('/');
            const std::string dir = slash == std::string::npos ? "."
                                    : slash == 0               ? "/"
                                                               : o.path.substr(0, slash);
            struct stat st {};
            if (stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) errno = ENOTDIR;
            if (!S_ISDIR(st.st_mode) || access(dir.c_str(), W_OK | X_OK) != 0) {
                const int err = errno;
                return fmt::format("{}: key 'outputs[{}].path': output {}: cannot open for "
                                   "appending: {}{}",
                                   o.where, i, o.path, std::strerror(err),
                                   err == ENOENT ? " (create its directory first)" : "");
            }
        }
    }
    return {};
}

} // namespace netlog::daemon
