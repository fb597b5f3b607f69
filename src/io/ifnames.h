// ifindex -> interface name for the pipeline (IN= / OUT=), cached. A miss asks the kernel
// (if_indextoname) once; unknown indexes are remembered as "" for a second, then asked
// again (at the next of every 64th lookup of an unknown index, which reads the clock). clear() (SIGHUP) forgets everything, e.g. after interfaces were renamed.
#pragma once

#include <netlog/pipeline.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace netlog::io {

class IfNames final : public InterfaceNames {
  public:
    std::string_view name(std::uint32_t ifindex) override;
    void clear() { cache_.clear(); }
    std::size_t size() const { return cache_.size(); }

  private:
    struct Entry {
        std::string name;
        std::int64_t retry_after_ns = 0; // for unknown indexes
    };
    std::unordered_map<std::uint32_t, Entry> cache_;
};

} // namespace netlog::io
