// The output stage between the pipeline and the sinks: rate limiting per
// container and class with suppression summaries, and the klog format's kern.log prefix.
//
// Rate limiting: after the pipeline has built (classified, enriched) an event and before
// it is formatted, RateLimiter::admit() with {the container-side IP (dst for ingress, src
// for egress), the class index}. A suppressed event is counted; each closed suppression
// window becomes one summary line in every output's own format, appended to the sinks'
// buffers like any event.
//
// Time: the buckets run on CLOCK_MONOTONIC at the time the batch is processed (never on
// the NFLOG timestamp, which comes from the wall clock and can jump); summaries report
// wall-clock times (monotonic + the offset set by set_wall_offset()). Replay uses the
// capture's timestamps with offset 0.
#pragma once

#include "sinks.h"
#include "syslog_sink.h"

#include <netlog/config.h>
#include "counters.h"
#include <netlog/container.h>
#include <netlog/pipeline.h>
#include "ratelimit.h"
#include <netlog/result.h>
#include <netlog/summary.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace netlog::daemon {

// The output's syslog options (config) over the sink's settings; unset ones stay.
void apply_syslog_options(const SyslogOutputOptions &o, io::SyslogSettings &s);

class OutputStage {
public:
    // Fails (one line, naming the config position) when rate_limit.classes names a class
    // the rules file does not have.
    static Result<std::unique_ptr<OutputStage>> make(const Config &c, const RulesFile &rules);

    void set_containers(const ContainerIndex *index) { containers_ = index; }
    // wall-clock ns = bucket clock ns + offset (for the summaries' first/last).
    void set_wall_offset(std::int64_t ns) { wall_offset_ns_ = ns; }

    // True: format `ev` for every output. False: suppressed (counted). Summaries of windows
    // this call closes are appended to the sinks' buffers first.
    bool admit(const Event &ev, std::int64_t now_ns, std::span<std::unique_ptr<io::Sink>> sinks);
    // Same, with one output buffer (replay).
    bool admit(const Event &ev, std::int64_t now_ns, std::string &out);

    // Pipeline::format plus the klog kernel prefix when the output asks for it.
    void format(const Pipeline &p, const Event &ev, std::size_t i, std::string &out) const;

    // Close windows older than the window (or all, at shutdown/reload) into the sinks.
    void flush(std::int64_t now_ns, std::span<std::unique_ptr<io::Sink>> sinks, bool all = false);
    void flush(std::int64_t now_ns, std::string &out, bool all = false);

    bool limiting() const { return limiter_.has_value(); }
    // For outputs with `kernel_prefix: true`: which format the host's rsyslog writes and
    // why ("" when no output asks).
    const std::string &kernel_prefix_note() const { return kprefix_note_; }
    const RateLimitCounters &counters();
    // Carry the counts over to a stage built after a reload (same class list or not).
    void add_counters(const RateLimitCounters &c);

private:
    OutputStage(const Config &c, const RulesFile &rules);
    template <class Out>
    void summarise(const SuppressionSummary &s, Out &&out);
    void append_summary(const SuppressionEvent &e, std::size_t i, std::string &out) const;
    void kernel_prefix(const Event &ev, std::size_t i, std::string &out) const;

    const RulesFile *rules_;
    std::vector<OutputSpec> specs_;
    std::vector<KernelPrefix> kprefix_; // per output: off, traditional or rfc3339 (resolved)
    std::vector<bool> kprefix_short_;  // per output: syslog: only "[uptime] "
    std::vector<std::string> khost_;   // per output: host name in the kernel prefix
    std::string kprefix_note_;
    std::int64_t boot_wall_ns_ = 0;    // wall-clock time of CLOCK_MONOTONIC 0 (kernel "uptime")
    std::optional<RateLimiter> limiter_;
    const ContainerIndex *containers_ = nullptr;
    std::int64_t wall_offset_ns_ = 0;
    UnclassifiedPolicy unclassified_;
    std::uint64_t evictions_base_ = 0, overflow_base_ = 0; // carried over from before a reload
    RateLimitCounters c_;
};

} // namespace netlog::daemon
