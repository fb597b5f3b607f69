// The container index: hash maps by IP and by handle. Built from Cloud Foundry's metadata
// store (store.json text, read by src/io/store_watcher.h) or from the containers a Docker
// or Podman daemon reports (engine_index.h). Pure; every lookup is a hash lookup: nothing
// scans per event.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <netlog/packet.h>
#include <netlog/result.h>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace netlog {

struct Container {
    std::string handle;            // -> container_id
    std::string app_guid;          // metadata.app_id
    std::string space_guid;        // metadata.space_id
    std::string organization_guid; // metadata.org_id
    IpAddress ip{};                // family none: the entry had no parseable "ip"
    // The seed JSON's container object for these fields (container_json in format.h),
    // rendered once by ContainerIndex::parse; empty: format_json renders it per event.
    // A Docker/Podman container's object is engine_container_json's (engine_index.h).
    std::string json;
    // The same for the iptables-logger format (iptables_logger_container_json in format.h,
    // Go's escaping: the four fields without the host's or the closing brace).
    std::string iptables_logger_json;
    // Docker/Podman (the CF store has none of these): the name without its leading '/',
    // the image reference it was created from, the labels the config selects (key, value)
    // and every address after `ip` (each network's IPv4 and IPv6).
    std::string name, image;
    std::vector<std::pair<std::string, std::string>> labels;
    std::vector<IpAddress> more_ips;
};

// Inline: the container lookup runs per event.
struct IpAddressHash {
    std::size_t operator()(const IpAddress &a) const noexcept {
        std::uint64_t hi = 0, lo = 0;
        std::memcpy(&hi, a.bytes.data(), 8);
        std::memcpy(&lo, a.bytes.data() + 8, 8);
        std::uint64_t h = hi * 0x9e3779b97f4a7c15ULL ^ (lo + static_cast<std::uint64_t>(a.family));
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 32;
        return static_cast<std::size_t>(h);
    }
};

// IPv4 dotted quad or IPv6 text (any form inet_pton accepts) to an IpAddress;
// family none when `text` is neither.
IpAddress ip_from_text(std::string_view text);

// What parse() read past: entries it skipped or could only partly index.
struct StoreReport {
    std::size_t entries = 0;       // members of the top-level object
    std::size_t skipped = 0;       // not an object, or no usable handle: not indexed
    std::size_t without_ip = 0;    // indexed by handle only (ip missing, not a string, unparseable)
    std::size_t duplicate_ips = 0; // IPs claimed by several entries: left out of by_ip
    std::size_t duplicate_handles = 0; // a "handle" seen twice: the second entry is not indexed
    std::size_t malformed = 0;         // entries that are not valid JSON: skipped, the rest read
    std::size_t repaired = 0;  // strings' lone UTF-16 surrogates / non-UTF-8 bytes read as U+FFFD
    std::string first_warning; // e.g. `entry "x": not an object (number), skipped`
    std::size_t warnings() const { // entries: `repaired` strings are read, not lost
        return skipped + duplicate_ips + duplicate_handles + malformed;
    }
};

class ContainerIndex {
  public:
    ContainerIndex() = default;
    // The maps hold views into containers_' strings: moving keeps them valid (the
    // vector's buffer moves with it), copying would not, so copies are not allowed.
    ContainerIndex(ContainerIndex &&) = default;
    ContainerIndex &operator=(ContainerIndex &&) = default;
    ContainerIndex(const ContainerIndex &) = delete;
    ContainerIndex &operator=(const ContainerIndex &) = delete;

    const Container *by_ip(const IpAddress &ip) const;
    const Container *by_handle(std::string_view handle) const;

    // An index of the few containers that changed since `base` was built, over it: a lookup
    // tries these first, then `base` unless the address or handle is `masked` (it left its
    // container, or the container is gone for good). Two hash lookups instead of a rebuild
    // of every container for each change (engine_index.h). `total`: what size() says.
    static ContainerIndex overlay(std::shared_ptr<const ContainerIndex> base,
                                  std::vector<Container> changed, std::vector<IpAddress> masked_ips,
                                  std::vector<std::string> masked_handles, std::size_t total);
    const ContainerIndex *base() const { return base_.get(); }

    // The container a log prefix names, for events whose IP is not in the store (the rules
    // file's classes say where a prefix carries it: the named groups container_handle and
    // container_app_guid, classes.h). `cut`: the name ends where the kernel LOG target cut
    // the prefix (a LOG prefix copied verbatim keeps 28 characters), so it may be the start
    // of a longer name.
    // By handle: exactly; when `cut`, also the only container whose handle starts with it.
    const Container *by_handle_in_prefix(std::string_view handle, bool cut) const;
    // By app guid (the destination app of a c2c packet, not a container): with one instance
    // of that app, that container; with several, an app-level entry whose handle is "" and
    // whose app/space/org guids are the app's (nullptr if the instances disagree on space
    // or org). When `cut`, also the only app whose guid starts with it.
    const Container *by_app_in_prefix(std::string_view app_guid, bool cut) const;

    std::size_t size() const { return base_ ? total_ : containers_.size(); }
    const std::vector<Container> &containers() const { return containers_; }

    // Build from store.json text: an object keyed by handle, each entry
    // {handle, ip, metadata{app_id, space_id, org_id, ...}}. Read as far as it makes sense:
    // a missing or non-string value is "", an entry without a parseable ip is indexed by
    // handle only, a non-object entry is skipped (counted in `report`). An empty,
    // half-written or corrupt text, or a top level that is not an object, is an error
    // naming the byte where parsing stopped.
    static Result<ContainerIndex> parse(std::string_view store_json, StoreReport *report = nullptr);

    // Index `containers` as they are (their `json` already rendered): by handle, and by
    // `ip` and `more_ips`. An IP two containers claim is left out, as parse() does.
    // `by_prefix` false: no lists for by_handle_in_prefix()'s cut names and no app map
    // (Cloud Foundry's prefixes name handles and app guids; a Docker/Podman host's do not).
    static ContainerIndex from_containers(std::vector<Container> containers,
                                          StoreReport *report = nullptr, bool by_prefix = true);

  private:
    void build_maps(StoreReport &report, bool prefix_maps = true);

    std::vector<Container> containers_;
    std::vector<Container> apps_; // app-level entries for apps with several instances
    // overlay(): the index below, and what of it no longer holds
    std::shared_ptr<const ContainerIndex> base_;
    std::unordered_set<IpAddress, IpAddressHash> masked_ips_;
    std::vector<std::string> masked_handle_text_;
    std::unordered_set<std::string_view> masked_handles_;
    std::size_t total_ = 0;
    // The containers by IP (their index in containers_): open addressing with linear
    // probing, a power of two of slots at most half full, an empty slot's family none. A
    // lookup is a hash and a compare or two (a node-based map cost as much as the rest of
    // the enrichment).
    struct IpSlot {
        IpAddress ip;
        std::uint32_t index = 0;
    };
    std::vector<IpSlot> by_ip_;
    std::size_t ip_mask_ = 0; // by_ip_.size() - 1
    // by_ip() past this index's own IPs: the index below, unless masked.
    const Container *by_ip_below(const IpAddress &ip) const;
    std::unordered_map<std::string_view, std::size_t> by_handle_;
    std::unordered_map<std::string_view, const Container *> by_app_; // app guid
    // For names cut by LOG: the containers by handle, and the apps by guid, sorted.
    std::vector<const Container *> sorted_handles_;
    std::vector<std::pair<std::string_view, const Container *>> sorted_apps_;
};

} // namespace netlog
