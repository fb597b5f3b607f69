// ContainerIndex: the containers read from the store (container_store.cpp) or a container
// engine, in hash maps by IP, handle, app guid and the names a LOG prefix may have cut.
#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>
#include <netlog/container.h>
#include <netlog/format.h>

#include "printable.h"

#include <memory>
#include <tuple>

namespace netlog {

namespace {

// The one element of a sorted list of names that starts with `start`: nullptr when none or
// several do. `name` gives an element's name.
template <class T, class Name>
const T *only_one_starting(const std::vector<T> &sorted, std::string_view start, Name name) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), start,
                               [&](const T &x, std::string_view s) { return name(x) < s; });
    if (it == sorted.end() || !name(*it).starts_with(start)) return nullptr;
    if (std::next(it) != sorted.end() && name(*std::next(it)).starts_with(start)) return nullptr;
    return &*it;
}

} // namespace

IpAddress ip_from_text(std::string_view text) {
    IpAddress a;
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return a;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1)
        a.family = L3::ipv4;
    else if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1)
        a.family = L3::ipv6;
    else
        a.bytes = {};
    return a;
}

void ContainerIndex::build_maps(StoreReport &report, bool prefix_maps) {
    const std::size_t n = containers_.size();
    by_handle_.reserve(n);
    std::unordered_map<IpAddress, std::size_t, IpAddressHash> by_ip;
    by_ip.reserve(n);
    if (prefix_maps) {
        by_app_.reserve(n);
        sorted_handles_.reserve(n);
    }

    std::vector<IpAddress> ambiguous_ips;
    const auto index_ip = [&](const IpAddress &ip, std::size_t i) {
        if (ip.family == L3::none) return;
        auto [it, fresh] = by_ip.emplace(ip, i);
        if (!fresh && it->second != i) ambiguous_ips.push_back(ip);
    };
    std::unordered_map<std::string_view, bool> shared_apps; // app guid -> instances agree
    for (std::size_t i = 0; i < n; ++i) {
        const Container &c = containers_[i];
        if (!by_handle_.emplace(c.handle, i).second) {
            ++report.duplicate_handles; // only when an entry's "handle" differs from its key
            if (report.first_warning.empty())
                report.first_warning = fmt::format("handle \"{}\" appears in two entries; "
                                                   "the second is not indexed",
                                                   printable(c.handle, store_quote_max));
            continue;
        }
        index_ip(c.ip, i);
        for (const auto &ip : c.more_ips) index_ip(ip, i);
        if (!prefix_maps) continue;
        sorted_handles_.push_back(&c);
        if (!c.app_guid.empty()) {
            auto [it, fresh] = by_app_.emplace(c.app_guid, &c);
            if (!fresh) {
                const Container &first = *it->second;
                bool agree = first.space_guid == c.space_guid &&
                             first.organization_guid == c.organization_guid;
                auto [s, new_shared] = shared_apps.emplace(c.app_guid, agree);
                if (!new_shared) s->second = s->second && agree;
            }
        }
    }
    std::sort(sorted_handles_.begin(), sorted_handles_.end(),
              [](const Container *a, const Container *b) { return a->handle < b->handle; });
    // An IP claimed by several entries (a stale entry left behind) belongs to none of them:
    // better "" than another app's guids.
    const auto ip_less = [](const IpAddress &a, const IpAddress &b) {
        return std::tie(a.family, a.bytes) < std::tie(b.family, b.bytes);
    };
    std::sort(ambiguous_ips.begin(), ambiguous_ips.end(), ip_less);
    ambiguous_ips.erase(std::unique(ambiguous_ips.begin(), ambiguous_ips.end()),
                        ambiguous_ips.end());
    for (const auto &ip : ambiguous_ips) {
        auto it = by_ip.find(ip);
        if (report.first_warning.empty())
            report.first_warning =
                fmt::format("IP of \"{}\" is claimed by several entries; "
                            "left out of the IP index",
                            printable(containers_[it->second].handle, store_quote_max));
        by_ip.erase(it);
        ++report.duplicate_ips;
    }
    if (!by_ip.empty()) {
        std::size_t slots = 2;
        while (slots < 2 * by_ip.size()) slots *= 2;
        by_ip_.assign(slots, IpSlot{});
        ip_mask_ = slots - 1;
        for (const auto &[ip, i] : by_ip) {
            std::size_t k = IpAddressHash{}(ip) & (slots - 1);
            while (by_ip_[k].ip.family != L3::none) k = (k + 1) & (slots - 1);
            by_ip_[k] = {ip, static_cast<std::uint32_t>(i)};
        }
    }
    // Apps with several instances: an app-level entry (no handle), or nothing if they disagree.
    apps_.reserve(shared_apps.size()); // by_app_ points into apps_: it must never reallocate
    for (auto &[app, agree] : shared_apps) {
        auto it = by_app_.find(app);
        if (agree) {
            const Container &first = *it->second;
            Container app;
            app.app_guid = first.app_guid;
            app.space_guid = first.space_guid;
            app.organization_guid = first.organization_guid;
            apps_.push_back(std::move(app));
            it->second = &apps_.back();
        } else {
            it->second = nullptr;
        }
    }
    sorted_apps_.assign(by_app_.begin(), by_app_.end());
    std::sort(sorted_apps_.begin(), sorted_apps_.end());
}

ContainerIndex ContainerIndex::from_containers(std::vector<Container> containers,
                                               StoreReport *report_out, bool by_prefix) {
    ContainerIndex index;
    index.containers_ = std::move(containers);
    StoreReport report;
    report.entries = index.containers_.size();
    index.build_maps(report, by_prefix);
    if (report_out) *report_out = std::move(report);
    return index;
}

ContainerIndex ContainerIndex::overlay(std::shared_ptr<const ContainerIndex> base,
                                       std::vector<Container> changed,
                                       std::vector<IpAddress> masked_ips,
                                       std::vector<std::string> masked_handles, std::size_t total) {
    ContainerIndex index = from_containers(std::move(changed), nullptr, false);
    index.base_ = std::move(base);
    index.masked_ips_.insert(masked_ips.begin(), masked_ips.end());
    index.masked_handle_text_ = std::move(masked_handles);
    for (const auto &h : index.masked_handle_text_) index.masked_handles_.insert(h);
    index.total_ = total;
    return index;
}

const Container *ContainerIndex::by_ip(const IpAddress &ip) const {
    if (!by_ip_.empty()) {
        const std::size_t hash = IpAddressHash{}(ip);
        for (std::size_t k = hash & ip_mask_;; k = (k + 1) & ip_mask_) {
            const IpSlot &s = by_ip_[k];
            if (s.ip.family == L3::none) break; // not indexed (nor is an IP of family none)
            if (s.ip == ip) return &containers_[s.index];
        }
    }
    return base_ ? by_ip_below(ip) : nullptr;
}

const Container *ContainerIndex::by_ip_below(const IpAddress &ip) const {
    if (masked_ips_.count(ip)) return nullptr;
    return base_->by_ip(ip);
}

const Container *ContainerIndex::by_handle(std::string_view handle) const {
    auto it = by_handle_.find(handle);
    if (it != by_handle_.end()) return &containers_[it->second];
    if (!base_ || masked_handles_.count(handle)) return nullptr;
    return base_->by_handle(handle);
}

const Container *ContainerIndex::by_handle_in_prefix(std::string_view handle, bool cut) const {
    if (handle.empty()) return nullptr;
    if (const Container *c = by_handle(handle)) return c;
    if (!cut) return nullptr;
    const auto *c = only_one_starting(
        sorted_handles_, handle, [](const Container *x) { return std::string_view(x->handle); });
    return c ? *c : nullptr;
}

const Container *ContainerIndex::by_app_in_prefix(std::string_view app_guid, bool cut) const {
    if (app_guid.empty()) return nullptr;
    if (auto it = by_app_.find(app_guid); it != by_app_.end()) return it->second;
    if (!cut) return nullptr;
    const auto *a =
        only_one_starting(sorted_apps_, app_guid, [](const auto &x) { return x.first; });
    return a ? a->second : nullptr;
}

} // namespace netlog
