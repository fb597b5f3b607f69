// ifindex -> interface name for the pipeline (IN= / OUT=), cached. A miss asks the kernel
// (if_indextoname) once; unknown indexes are remembered as "" for a second, then asked
// again (at the next of every 64th lookup of that index, which reads the clock). clear()
// (SIGHUP) forgets everything, e.g. after interfaces were renamed.
#pragma once

#include <netlog/pipeline.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace netlog::io {

class IfNames final : public InterfaceNames {
  public:
    std::string_view name(std::uint32_t ifindex) override;
    void clear() {
        cache_.clear();
        by_index_.clear();
    }
    std::size_t size() const { return cache_.size(); }

  private:
    struct Entry {
        std::string name;
        std::int64_t retry_after_ns = 0; // for unknown indexes
        // Lookups left before lookup() looks at this entry again: a known name never (it
        // does not go down to 0), an unknown index every clock_every lookups (the clock
        // read for its retry cost more than the rest of the lookup).
        std::uint64_t until_check = 0;
    };
    static constexpr unsigned clock_every = 64;
    [[gnu::noinline]] std::string_view lookup(std::uint32_t ifindex, Entry *known);
    std::unordered_map<std::uint32_t, Entry> cache_;
    // The entries of indexes below by_index_max, by index (a map's nodes do not move): an
    // array read per lookup instead of a hash lookup; null where the map has none yet.
    static constexpr std::uint32_t by_index_max = 16384;
    std::vector<Entry *> by_index_;
};

} // namespace netlog::io
