// Interface names from the kernel, cached per index.
#include "ifnames.h"
#include "clock.h"

#include <net/if.h>

#include <ctime>

namespace netlog::io {

namespace {
// An index the kernel does not know (a vanished veth; every index of a replayed capture) is
// looked up per event: the clock is read for its retry at most once per this many such
// lookups, not each time (a clock read cost more than the rest of the lookup).
constexpr unsigned clock_every = 64;
thread_local unsigned unknown_lookups = 0;
} // namespace

std::string_view IfNames::name(std::uint32_t ifindex) {
    if (ifindex == 0) return {};
    // The common case in a few instructions; the rest out of line (its registers and the
    // hash lookup would otherwise be paid on every call).
    if (ifindex < by_index_.size()) {
        if (const Entry *e = by_index_[ifindex]) {
            if (!e->name.empty() || e->retry_after_ns == 0) return e->name;
            if (++unknown_lookups % clock_every != 0) return e->name;
            return lookup(ifindex, e);
        }
    }
    return lookup(ifindex, nullptr);
}

std::string_view IfNames::lookup(std::uint32_t ifindex, const Entry *known) {
    const bool counted = known != nullptr; // name() has counted this unknown lookup
    if (!known) {
        if (auto it = cache_.find(ifindex); it != cache_.end()) known = &it->second;
    }
    if (known && (!known->name.empty() || known->retry_after_ns == 0)) return known->name;
    if (known && !counted && ++unknown_lookups % clock_every != 0) return known->name;
    const auto now = known ? base::monotonic_ns() : 0;
    if (known && now < known->retry_after_ns) return known->name;
    if (cache_.size() > 65536) { // interfaces churn (container veths)
        cache_.clear();
        by_index_.clear();
    }
    char buf[IF_NAMESIZE + 1] = {};
    auto &e = cache_[ifindex];
    if (ifindex < by_index_max) {
        if (ifindex >= by_index_.size()) by_index_.resize(ifindex + 1, nullptr);
        by_index_[ifindex] = &e;
    }
    if (if_indextoname(ifindex, buf)) {
        e.name = buf;
        e.retry_after_ns = 0;
    } else {
        e.name.clear();
        e.retry_after_ns = (now ? now : base::monotonic_ns()) + 1'000'000'000;
    }
    return e.name;
}

} // namespace netlog::io
