// What a Docker/Podman source knows about the host's containers, kept up to date from the
// list and the events (src/io/engine_source.h drives it), and turned into the pipeline's
// ContainerIndex. A container that is gone (died, removed, or missing from a new list)
// stays known for a grace period, so that a late packet of a stopped container is still
// named; a running container always wins an address over a gone one. Pure: the caller
// passes the clock.
#pragma once

#include <netlog/container.h>
#include "engine_api.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace netlog {

// The json output's container object of a Docker/Podman container:
// {"container_id":..,"container_name":..,"image":..,"labels":{..}} with c.labels in order.
std::string engine_container_json(const Container &c);
// The same object for an event whose container is unknown (every value empty, labels {}).
inline constexpr std::string_view engine_unknown_container_json =
    R"({"container_id":"","container_name":"","image":"","labels":{}})";

class EngineIndex {
  public:
    explicit EngineIndex(std::int64_t grace_ns) : grace_ns_(grace_ns) {}

    // A full list: what it holds is running; a running container missing from it is gone
    // from `now` (its addresses kept for the grace period).
    void apply_list(std::vector<EngineContainer> list, std::int64_t now);
    // One container's inspection: running or starting (not running yet, but with
    // addresses), it replaces what was known; stopped (not running, no addresses), it is
    // gone from `now`.
    void apply_inspect(EngineContainer c, std::int64_t now);
    // The container died, was removed, or the daemon no longer knows it.
    void mark_gone(std::string_view id, std::int64_t now);
    // Forget gone containers whose grace period ended by `now`; true when any was.
    bool expire(std::int64_t now);
    // When the next gone container expires; 0 when none is gone.
    std::int64_t next_expiry() const;

    // The pipeline's index: running containers first, then gone ones (the most recently
    // gone first) for the addresses no running container claims. After a few changes it is
    // an overlay of the changed containers over the last full index (ContainerIndex::
    // overlay); after many (more than max(256, 1/8 of all)), or a list, a full one.
    std::shared_ptr<const ContainerIndex> build();
    // A full index of what is known now, whatever changed (build() gives the same answers).
    ContainerIndex build_full() const;

    std::size_t running() const { return running_; }
    std::size_t gone() const { return records_.size() - running_; }
    bool known(std::string_view id) const { return records_.count(std::string(id)) != 0; }

  private:
    struct Record {
        Container c;
        std::int64_t gone_at = 0; // 0: running
    };
    static Container to_container(EngineContainer e);
    void set_gone(Record &r, std::int64_t now);
    ContainerIndex build_overlay() const;

    std::int64_t grace_ns_;
    std::unordered_map<std::string, Record> records_;
    std::size_t running_ = 0;
    std::shared_ptr<const ContainerIndex> base_; // the last full index
    std::unordered_set<std::string> changed_;    // ids changed since base_ was built
    bool full_ = true;                           // a list came: build a full index
};

} // namespace netlog
