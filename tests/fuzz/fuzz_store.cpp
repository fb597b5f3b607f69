// libFuzzer: store.json text -> ContainerIndex::parse -> every lookup, with the index's
// invariants checked (each indexed container is found by its handle, IP and prefixes); the
// first containers' values in an event through the JSON formats must give valid JSON, and
// what the parser says about the store (error, first warning) must quote it printably.
#include "fuzz_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netlog/container.h>
#include <string>
#include <string_view>

namespace {

void require(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n", what);
        std::abort();
    }
}

bool printable(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f;
    });
}

// An event naming container `c` (source and, as ingress, destination) in each JSON format.
void check_formats(const netlog::Container &c) {
    static std::string out;
    static const netlog::NflogMessage msg{};
    netlog::Event ev;
    ev.msg = &msg;
    ev.time = netlog::Timestamp{1, 2};
    ev.container = &c;
    for (auto dir : {netlog::Direction::egress, netlog::Direction::ingress}) {
        ev.direction = dir;
        out.clear();
        netlog::format_json(ev, netlog::JsonOptions{}, out);
        netlog::fuzz::require(
            nlohmann::json::accept(std::string_view(out).substr(0, out.size() - 1)),
            "format_json of a store's container writes valid JSON", out);
        out.clear();
        netlog::format_iptables_logger(ev, netlog::IptablesLoggerOptions{}, out);
        netlog::fuzz::require(
            nlohmann::json::accept(std::string_view(out).substr(0, out.size() - 1)),
            "format_iptables_logger of a store's container writes valid JSON", out);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    netlog::StoreReport report;
    auto idx = netlog::ContainerIndex::parse(text, &report);
    if (!idx) {
        require(!idx.error().message.empty(), "an error without a message");
        require(printable(idx.error().message), "an error quoting the store raw");
        return 0;
    }
    require(printable(report.first_warning), "a warning quoting the store raw");
    std::size_t formatted = 0;
    for (const netlog::Container &c : idx->containers())
        if (formatted++ < 8) check_formats(c);
    require(report.entries >= idx->size(), "more containers than entries");
    for (const netlog::Container &c : idx->containers()) {
        require(!c.handle.empty(), "a container without a handle");
        const netlog::Container *h = idx->by_handle(c.handle);
        require(h != nullptr && h->handle == c.handle, "a container not found by its handle");
        if (c.ip.family != netlog::L3::none) {
            const netlog::Container *i = idx->by_ip(c.ip);
            require(i == nullptr || i->ip == c.ip, "by_ip found another address");
        }
        // a handle is found by itself, cut or not, and a cut finds only a handle that
        // starts with it
        require(idx->by_handle_in_prefix(c.handle, true) == h, "a handle found as another");
        for (std::size_t cut : {1, 19, 23, 25}) {
            if (c.handle.size() <= cut) continue;
            const auto start = std::string_view(c.handle).substr(0, cut);
            const netlog::Container *p = idx->by_handle_in_prefix(start, true);
            require(p == nullptr || p->handle.starts_with(start), "a cut found another handle");
            require(idx->by_handle_in_prefix(start, false) == idx->by_handle(start),
                    "an uncut name found by more than its handle");
        }
        if (!c.app_guid.empty()) (void)idx->by_app_in_prefix(c.app_guid.substr(0, 20), true);
    }
    (void)idx->by_handle_in_prefix(text.substr(0, 64), true);
    (void)idx->by_app_in_prefix(text.substr(0, 64), true);
    return 0;
}
