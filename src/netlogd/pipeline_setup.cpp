// The pipeline's options from the config and the host (pipeline_setup.h).
#include "pipeline_setup.h"

#include "clock.h"
#include "rsyslog_host.h"

#include <fmt/format.h>

#include <unistd.h>

#include <optional>

namespace netlog::daemon {

namespace {

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    std::string s(buf);
    if (auto dot = s.find('.'); dot != std::string::npos)
        s.resize(dot); // like rsyslog's %HOSTNAME%
    return s.empty() ? "localhost" : s;
}

} // namespace

PipelineSetup pipeline_setup(const Config &c) {
    PipelineSetup s;
    auto &po = s.options;
    po.unclassified = c.unclassified;
    po.rate_limit = c.rate_limit;
    const auto host = host_name();
    std::optional<KernLogFormat> host_format;
    for (const auto &o : c.outputs) {
        auto spec = output_spec(c, o);
        if (spec.kernel_prefix == KernelPrefix::host) {
            if (!host_format) {
                host_format = io::host_kern_log_format();
                s.kernel_prefix_note = fmt::format("kernel_prefix: {} ({})",
                                                   to_string(host_format->style), host_format->why);
            }
            spec.kernel_prefix = host_format->style;
        }
        if (spec.kernel_host.empty()) spec.kernel_host = host;
        po.outputs.push_back(std::move(spec));
    }
    po.boot_wall_ns = base::realtime_ns() - base::monotonic_ns();
    return s;
}

void HostLocalTime::convert(std::int64_t sec, std::tm &out) const {
    const auto t = static_cast<time_t>(sec);
    localtime_r(&t, &out);
}

} // namespace netlog::daemon
