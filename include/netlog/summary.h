// Suppression summaries: what the rate limiter says instead of the events it held back.
// One line per container and class at the end of each suppression window, in the same
// format as the output's events ("<direction>-<verdict>-suppressed" with a count).
#pragma once

#include <netlog/format.h>

namespace netlog {

struct SuppressionEvent {
    Direction direction = Direction::egress;
    Verdict verdict = Verdict::denied;
    const ClassDef *cls = nullptr;        // nullptr: unclassified events
    const Container *container = nullptr; // nullptr: unknown container ("" fields)
    IpAddress ip;                         // the container side's address
    std::uint64_t count = 0;
    Timestamp first, last; // first and last suppressed event
};

// {"timestamp":LAST,"source":..,"message":"<dir>-<verdict>-suppressed","log_level":1,
//  "data":{"source"|"destination":{container},"count":N,"first":T,"last":T,"class":..,"ip":..}}
void format_suppression_json(const SuppressionEvent &s, const JsonOptions &opt, std::string &out);
// iptables-logger shape: source cfnetworking.iptables, message
// cfnetworking.iptables.<dir>-<verdict>-suppressed, the timestamp style of the output.
void format_suppression_iptables_logger(const SuppressionEvent &s, const IptablesLoggerOptions &opt,
                                        std::string &out);
// A kernel-log-like line: "netlog: suppressed N <class> events for IP (container H) over Ss".
void format_suppression_klog(const SuppressionEvent &s, std::string &out);

// "2024-05-03T23:35:07.123456789Z" (UTC, 9 fractional digits), appended.
void append_rfc3339(std::string &out, const Timestamp &t);

} // namespace netlog
