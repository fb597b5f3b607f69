// Interface names from the kernel, cached per index.
#include "ifnames.h"
#include "clock.h"

#include <net/if.h>

#include <ctime>

namespace netlog::io {

std::string_view IfNames::name(std::uint32_t ifindex) {
    if (ifindex == 0) return {};
    // The common case in a few instructions; the rest out of line (its registers and the
    // hash lookup would otherwise be paid on every call).
    if (ifindex < by_index_.size()) {
        Entry *e = by_index_[ifindex];
        if (e && e->until_check != 0) {
            --e->until_check;
            return e->name;
        }
        if (e) return lookup(ifindex, e);
    }
    return lookup(ifindex, nullptr);
}

std::string_view IfNames::lookup(std::uint32_t ifindex, Entry *known) {
    const bool counted = known != nullptr; // name() has counted this lookup
    if (!known) {
        if (auto it = cache_.find(ifindex); it != cache_.end()) known = &it->second;
    }
    if (known && (!known->name.empty() || known->retry_after_ns == 0)) return known->name;
    if (known && !counted && known->until_check != 0) {
        --known->until_check;
        return known->name;
    }
    const auto now = known ? base::monotonic_ns() : 0;
    if (known && now < known->retry_after_ns) {
        known->until_check = clock_every - 1;
        return known->name;
    }
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
        e.until_check = UINT64_MAX;
    } else {
        e.name.clear();
        e.retry_after_ns = (now ? now : base::monotonic_ns()) + 1'000'000'000;
        e.until_check = clock_every - 1;
    }
    return e.name;
}

} // namespace netlog::io
