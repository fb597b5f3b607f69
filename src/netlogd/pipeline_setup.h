// What the core's Pipeline needs from the host, in one place for the live daemon and
// --replay: its options resolved from the config (the kern.log style the host's rsyslog
// writes, the host name, the boot time) and the local time zone.
#pragma once

#include <netlog/config.h>
#include <netlog/pipeline.h>

#include <string>

namespace netlog::daemon {

struct PipelineSetup {
    PipelineOptions options;
    // For outputs with `kernel_prefix: true`: which format the host's rsyslog writes and
    // why ("" when no output asks).
    std::string kernel_prefix_note;
};

// The pipeline options of config `c` (its outputs, unclassified policy, rate limit), with
// `kernel_prefix: true` resolved from /etc/rsyslog.conf and the kernel prefix's HOST
// defaulting to this host's short name.
PipelineSetup pipeline_setup(const Config &c);

// localtime_r: the host's time zone.
class HostLocalTime final : public LocalTime {
  public:
    void convert(std::int64_t sec, std::tm &out) const override;
};

} // namespace netlog::daemon
