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
    auto it = cache_.find(ifindex);
    if (it != cache_.end() && (!it->second.name.empty() || it->second.retry_after_ns == 0))
        return it->second.name;
    if (it != cache_.end() && ++unknown_lookups % clock_every != 0) return it->second.name;
    const auto now = it == cache_.end() ? 0 : base::monotonic_ns();
    if (it != cache_.end() && now < it->second.retry_after_ns) return it->second.name;
    if (cache_.size() > 65536) cache_.clear(); // interfaces churn (container veths)
    char buf[IF_NAMESIZE + 1] = {};
    auto &e = cache_[ifindex];
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
