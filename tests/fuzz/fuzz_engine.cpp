// libFuzzer: bytes a Docker/Podman socket might send. The first byte picks the split of
// the rest into reads; the rest goes through HttpResponseReader (a response head and a
// chunked or sized body), each body line through engine_parse_event, and the whole input
// (and the body) through engine_parse_list / engine_parse_inspect / engine_parse_version;
// what parses goes into an EngineIndex. Checked: the reader uses no byte it was not given,
// a final state stays final, a body is never longer than its input; a parsed container has
// an id and a name without '/', and only the selected labels; its json object is valid
// JSON with exactly the four keys; an indexed address finds its own container or nobody.
#include "engine_api.h"
#include "engine_index.h"
#include "http_response.h"
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n", what);
        std::abort();
    }
}

const netlog::EngineLabelFilter labels{{"com.docker.compose.service", "a"}};

void check_container(const netlog::EngineContainer &c) {
    require(!c.id.empty(), "a container without an id");
    require(c.name.empty() || c.name[0] != '/', "a name with its leading '/'");
    for (const auto &[k, v] : c.labels) require(labels.wants(k), "a label that was not selected");
}

void check_index(const std::vector<netlog::EngineContainer> &cs) {
    netlog::EngineIndex idx(1000);
    idx.apply_list(cs, 1);
    (void)idx.build(); // full
    // then a few changes: an overlay over it, which must answer as a full rebuild does
    if (!cs.empty()) idx.mark_gone(cs.front().id, 2);
    if (cs.size() > 1) idx.apply_inspect(cs.back(), 3);
    const auto built = idx.build();
    const auto full = idx.build_full();
    for (const auto &c : cs)
        for (const auto &ip : c.ips) {
            const auto *a = built->by_ip(ip), *b = full.by_ip(ip);
            // two running containers on one address: the full index names neither (the
            // overlay its changed one); a daemon never gives out one address twice
            if (a && !b) continue;
            require((a ? a->handle : "") == (b ? b->handle : ""),
                    "the overlay and a full rebuild disagree");
        }
    for (const auto &c : built->containers()) {
        const auto j = nlohmann::json::parse(c.json, nullptr, false);
        require(j.is_object() && j.size() == 4 && j.contains("container_id") &&
                    j.contains("container_name") && j.contains("image") && j["labels"].is_object(),
                "an engine container's json object");
    }
    // every address the index gives a container finds that container (or nobody, when two
    // running containers claim it)
    for (const auto &c : built->containers()) {
        for (const auto *ip = &c.ip; ip; ip = nullptr)
            if (ip->family != netlog::L3::none) {
                const auto *f = built->by_ip(*ip);
                require(!f || f == &c, "an address finds another container");
            }
        for (const auto &ip : c.more_ips) {
            const auto *f = built->by_ip(ip);
            require(!f || f == &c, "an address finds another container");
        }
    }
    idx.expire(2000);
    require(idx.gone() == 0, "a gone container outlived its grace period");
}

void parse_all(std::string_view text) {
    if (auto l = netlog::engine_parse_list(text, labels)) {
        for (const auto &c : *l) check_container(c);
        check_index(*l);
    }
    if (auto c = netlog::engine_parse_inspect(text, labels)) {
        check_container(*c);
        check_index({*c});
    }
    if (auto v = netlog::engine_parse_version(text))
        require(!v->api_version.empty(), "no ApiVersion");
    (void)netlog::engine_compare_api_version(text.substr(0, 16), netlog::engine_min_api_version);
    (void)netlog::engine_error_message(text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = 1 + data[0] % 64;
    const std::string_view all(reinterpret_cast<const char *>(data) + 1, size - 1);

    netlog::HttpResponseReader r({4096, 1u << 20});
    std::string body;
    bool final_seen = false;
    for (std::size_t i = 0; i < all.size(); i += step) {
        const auto piece = all.substr(i, step);
        const auto used = r.feed(piece, body);
        require(used <= piece.size(), "the reader used bytes it was not given");
        if (final_seen) require(used == 0, "a final state took more bytes");
        if (r.done() || r.failed()) final_seen = true;
    }
    r.finish();
    require(body.size() <= all.size(), "a body longer than its input");
    if (r.head_done()) require(r.status() >= 0 && r.status() <= 999, "a status out of range");

    std::size_t start = 0;
    for (auto nl = body.find('\n'); nl != std::string::npos; nl = body.find('\n', start)) {
        if (auto e = netlog::engine_parse_event(std::string_view(body).substr(start, nl - start)))
            require(e->kind == netlog::EngineEventKind::ignored || !e->id.empty(),
                    "an event to act on without a container id");
        start = nl + 1;
    }
    parse_all(all);
    if (!body.empty()) parse_all(body);
    return 0;
}
