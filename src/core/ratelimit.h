// Token-bucket rate limiting per container and class, with suppression summaries:
// a suppressed event is never silent — each suppression window ends with one summary
// (how many, from when to when) that the pipeline emits as a "<dir>-<verdict>-suppressed"
// event. Pure: the caller passes the time. Memory is bounded by `max_buckets`.
#pragma once

#include <netlog/packet.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace netlog {

struct RateLimitSettings {
    double rate = 100;  // tokens (events) per second
    double burst = 200; // bucket size
};

struct RateLimitKey {
    IpAddress ip;              // the container's side: dst for ingress, src for egress
    std::uint16_t class_index; // index in RulesFile::classes; 0xffff = unclassified
    bool operator==(const RateLimitKey &) const = default;
};

struct SuppressionSummary {
    RateLimitKey key;
    std::uint64_t count = 0;
    std::int64_t first_ns = 0, last_ns = 0; // times of the first and last suppressed event
};

class RateLimiter {
  public:
    // `per_class[i]` overrides the default for class i when set (rate <= 0 there: no limit).
    // A window is summarised when the bucket admits again, or `window_ns` after it began.
    RateLimiter(RateLimitSettings defaults, std::vector<std::optional<RateLimitSettings>> per_class,
                std::size_t max_buckets = 65536, std::int64_t window_ns = 10'000'000'000);

    // True: emit the event. False: suppressed and counted in the open window. When this
    // call closes a window (the bucket admits again), its summary goes to `on_summary`
    // before the function returns true.
    bool admit(const RateLimitKey &key, std::int64_t now_ns,
               const std::function<void(const SuppressionSummary &)> &on_summary);

    // Close windows older than window_ns (call periodically, e.g. once per batch), and
    // every window when `all` (at shutdown).
    void flush(std::int64_t now_ns,
               const std::function<void(const SuppressionSummary &)> &on_summary, bool all = false);

    std::size_t buckets() const { return buckets_.size(); }
    std::uint64_t evictions() const { return evictions_; }
    std::uint64_t unlimited_overflow() const { return overflow_; }

  private:
    struct Bucket {
        double tokens;
        std::int64_t last_ns;
        SuppressionSummary open; // count == 0: no open window
    };
    struct KeyHash {
        std::size_t operator()(const RateLimitKey &k) const noexcept;
    };
    const RateLimitSettings *settings_for(std::uint16_t class_index) const;
    void evict_idle(std::int64_t now_ns);

    RateLimitSettings defaults_;
    std::vector<std::optional<RateLimitSettings>> per_class_;
    std::size_t max_buckets_;
    std::int64_t window_ns_;
    std::unordered_map<RateLimitKey, Bucket, KeyHash> buckets_;
    std::uint64_t evictions_ = 0, overflow_ = 0;
};

} // namespace netlog
