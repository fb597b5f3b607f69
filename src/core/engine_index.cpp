// Docker/Podman containers -> ContainerIndex, with a grace period for gone containers.
#include "engine_index.h"
#include <netlog/format.h>

#include <algorithm>
#include <tuple>
#include <unordered_set>

namespace netlog {

std::string engine_container_json(const Container &c) {
    std::string s = "{\"container_id\":\"";
    json_escape(c.handle, s);
    s += "\",\"container_name\":\"";
    json_escape(c.name, s);
    s += "\",\"image\":\"";
    json_escape(c.image, s);
    s += "\",\"labels\":{";
    bool first = true;
    for (const auto &[k, v] : c.labels) {
        if (!first) s += ',';
        first = false;
        s += '"';
        json_escape(k, s);
        s += "\":\"";
        json_escape(v, s);
        s += '"';
    }
    s += "}}";
    return s;
}

Container EngineIndex::to_container(EngineContainer e) {
    Container c;
    c.handle = std::move(e.id);
    c.name = std::move(e.name);
    c.image = std::move(e.image);
    c.labels = std::move(e.labels);
    if (!e.ips.empty()) {
        c.ip = e.ips.front();
        c.more_ips.assign(e.ips.begin() + 1, e.ips.end());
    }
    c.json = engine_container_json(c);
    return c;
}

void EngineIndex::set_gone(Record &r, std::int64_t now) {
    if (r.gone_at != 0) return;
    r.gone_at = now > 0 ? now : 1;
    --running_;
    changed_.insert(r.c.handle);
}

void EngineIndex::apply_list(std::vector<EngineContainer> list, std::int64_t now) {
    full_ = true;
    std::unordered_set<std::string> listed;
    listed.reserve(list.size());
    for (auto &e : list) {
        if (!e.running) continue;
        listed.insert(e.id);
        apply_inspect(std::move(e), now);
    }
    for (auto &[id, r] : records_)
        if (r.gone_at == 0 && !listed.count(id)) set_gone(r, now);
}

void EngineIndex::apply_inspect(EngineContainer e, std::int64_t now) {
    auto it = records_.find(e.id);
    // A container that is not running yet but has addresses is starting: Docker attaches
    // it to its networks (network connect) and Podman sets its network up (init) before its
    // process runs, so that indexing it then names even its first packet. A stopped one has
    // no addresses: keep what was known, for the grace period.
    if (!e.running && e.ips.empty()) {
        if (it != records_.end()) set_gone(it->second, now);
        return;
    }
    changed_.insert(e.id);
    if (it == records_.end()) {
        std::string id = e.id;
        records_.emplace(std::move(id), Record{to_container(std::move(e)), 0});
        ++running_;
        return;
    }
    Record &r = it->second;
    r.c = to_container(std::move(e));
    if (r.gone_at != 0) { // started again
        r.gone_at = 0;
        ++running_;
    }
}

void EngineIndex::mark_gone(std::string_view id, std::int64_t now) {
    if (auto it = records_.find(std::string(id)); it != records_.end()) set_gone(it->second, now);
}

bool EngineIndex::expire(std::int64_t now) {
    return std::erase_if(records_, [&](const auto &kv) {
               const bool expired = kv.second.gone_at != 0 && now - kv.second.gone_at >= grace_ns_;
               if (expired) changed_.insert(kv.first);
               return expired;
           }) != 0;
}

std::int64_t EngineIndex::next_expiry() const {
    std::int64_t next = 0;
    for (const auto &[id, r] : records_)
        if (r.gone_at != 0 && (next == 0 || r.gone_at + grace_ns_ < next))
            next = r.gone_at + grace_ns_;
    return next;
}

namespace {

// The index's order: running (gone_at 0) first, then the most recently gone; ties by id
// for a stable result.
template <class Record> void sort_for_index(std::vector<const Record *> &order) {
    std::sort(order.begin(), order.end(), [](const Record *a, const Record *b) {
        const bool ra = a->gone_at == 0, rb = b->gone_at == 0;
        return std::tuple(!ra, -a->gone_at, std::string_view(a->c.handle)) <
               std::tuple(!rb, -b->gone_at, std::string_view(b->c.handle));
    });
}

// The containers of `order` with their addresses: each takes what it has, except that a
// gone container keeps only what nothing before it claimed and `taken(ip)` does not name.
// `claimed` gets every address handed out.
template <class Record, class Taken>
std::vector<Container> claim_addresses(const std::vector<const Record *> &order,
                                       std::unordered_set<IpAddress, IpAddressHash> &claimed,
                                       const Taken &taken) {
    std::vector<Container> out;
    out.reserve(order.size());
    std::vector<IpAddress> ips;
    for (const Record *r : order) {
        Container c = r->c;
        ips.clear();
        if (c.ip.family != L3::none) ips.push_back(c.ip);
        ips.insert(ips.end(), c.more_ips.begin(), c.more_ips.end());
        if (r->gone_at != 0) {
            std::erase_if(ips,
                          [&](const IpAddress &ip) { return claimed.count(ip) != 0 || taken(ip); });
            c.ip = ips.empty() ? IpAddress{} : ips.front();
            c.more_ips.assign(ips.empty() ? ips.end() : ips.begin() + 1, ips.end());
        }
        claimed.insert(ips.begin(), ips.end());
        out.push_back(std::move(c));
    }
    return out;
}

} // namespace

std::shared_ptr<const ContainerIndex> EngineIndex::build() {
    const std::size_t limit = std::max<std::size_t>(256, records_.size() / 8);
    if (full_ || !base_ || changed_.size() > limit) {
        base_ = std::make_shared<const ContainerIndex>(build_full());
        changed_.clear();
        full_ = false;
        return base_;
    }
    if (changed_.empty()) return base_;
    return std::make_shared<const ContainerIndex>(build_overlay());
}

ContainerIndex EngineIndex::build_overlay() const {
    // The changed containers that are still known, in the full index's order.
    std::vector<const Record *> order;
    std::vector<std::string> masked_handles;
    for (const auto &id : changed_) {
        if (auto it = records_.find(id); it != records_.end())
            order.push_back(&it->second);
        else
            masked_handles.push_back(id); // expired: the base must not name it any more
    }
    sort_for_index(order);
    // An address an unchanged running container of the base holds stays its own.
    const auto base_running = [&](const IpAddress &ip) {
        const Container *c = base_->by_ip(ip);
        if (!c || changed_.count(c->handle)) return false;
        auto it = records_.find(c->handle);
        return it != records_.end() && it->second.gone_at == 0;
    };
    std::unordered_set<IpAddress, IpAddressHash> claimed;
    std::vector<Container> out = claim_addresses(order, claimed, base_running);
    // What the base gave a changed container and the overlay does not: not its any more.
    std::vector<IpAddress> masked_ips;
    for (const auto &id : changed_) {
        const Container *old = base_->by_handle(id);
        if (!old) continue;
        const auto mask = [&](const IpAddress &ip) {
            if (ip.family != L3::none && base_->by_ip(ip) == old && !claimed.count(ip))
                masked_ips.push_back(ip);
        };
        mask(old->ip);
        for (const auto &ip : old->more_ips) mask(ip);
    }
    return ContainerIndex::overlay(base_, std::move(out), std::move(masked_ips),
                                   std::move(masked_handles), records_.size());
}

ContainerIndex EngineIndex::build_full() const {
    std::vector<const Record *> order;
    order.reserve(records_.size());
    for (const auto &[id, r] : records_) order.push_back(&r);
    sort_for_index(order);
    // Running containers come first and claim their addresses; a gone container keeps
    // only what nothing before it claimed (two running containers that claim one address
    // lose it both, in from_containers, as two store entries do).
    std::unordered_set<IpAddress, IpAddressHash> claimed;
    std::vector<Container> out =
        claim_addresses(order, claimed, [](const IpAddress &) { return false; });
    return ContainerIndex::from_containers(std::move(out), nullptr, false);
}

} // namespace netlog
