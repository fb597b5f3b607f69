// Token buckets per (container IP, class) and their suppression windows.
#include "ratelimit.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace netlog {

std::size_t RateLimiter::KeyHash::operator()(const RateLimitKey &k) const noexcept {
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, k.ip.bytes.data(), 8);
    std::memcpy(&b, k.ip.bytes.data() + 8, 8);
    std::uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL);
    h ^=
        (static_cast<std::uint64_t>(k.class_index) << 32) ^ static_cast<std::uint64_t>(k.ip.family);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return static_cast<std::size_t>(h);
}

RateLimiter::RateLimiter(RateLimitSettings defaults,
                         std::vector<std::optional<RateLimitSettings>> per_class,
                         std::size_t max_buckets, std::int64_t window_ns)
    : defaults_(defaults), per_class_(std::move(per_class)),
      max_buckets_(std::max<std::size_t>(max_buckets, 1)), window_ns_(window_ns) {
    buckets_.reserve(std::min<std::size_t>(max_buckets_, 4096));
}

const RateLimitSettings *RateLimiter::settings_for(std::uint16_t class_index) const {
    if (class_index < per_class_.size() && per_class_[class_index]) {
        const auto &s = *per_class_[class_index];
        return s.rate > 0 ? &s : nullptr;
    }
    return defaults_.rate > 0 ? &defaults_ : nullptr;
}

// Buckets that are full again and have no open window carry no information: drop them.
void RateLimiter::evict_idle(std::int64_t now_ns) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        const auto *s = settings_for(it->first.class_index);
        const double elapsed = static_cast<double>(now_ns - it->second.last_ns) / 1e9;
        const bool full = !s || it->second.tokens + elapsed * s->rate >= s->burst;
        if (full && it->second.open.count == 0) {
            it = buckets_.erase(it);
            ++evictions_;
        } else {
            ++it;
        }
    }
}

bool RateLimiter::admit(const RateLimitKey &key, std::int64_t now_ns,
                        const std::function<void(const SuppressionSummary &)> &on_summary) {
    const auto *s = settings_for(key.class_index);
    if (!s) return true;
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_buckets_) {
            evict_idle(now_ns);
            if (buckets_.size() >= max_buckets_) {
                // Every bucket is busy: admit rather than lose events silently; counted.
                ++overflow_;
                return true;
            }
        }
        it = buckets_.emplace(key, Bucket{s->burst, now_ns, {}}).first;
    }
    auto &b = it->second;
    if (now_ns > b.last_ns) {
        b.tokens =
            std::min(s->burst, b.tokens + static_cast<double>(now_ns - b.last_ns) / 1e9 * s->rate);
        b.last_ns = now_ns;
    }
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        if (b.open.count) {
            if (on_summary) on_summary(b.open);
            b.open = {};
        }
        return true;
    }
    if (b.open.count == 0) {
        b.open.key = key;
        b.open.first_ns = now_ns;
    }
    ++b.open.count;
    b.open.last_ns = now_ns;
    return false;
}

void RateLimiter::flush(std::int64_t now_ns,
                        const std::function<void(const SuppressionSummary &)> &on_summary,
                        bool all) {
    for (auto &[key, b] : buckets_) {
        if (b.open.count && (all || now_ns - b.open.first_ns >= window_ns_)) {
            if (on_summary) on_summary(b.open);
            b.open = {};
        }
    }
}

} // namespace netlog
