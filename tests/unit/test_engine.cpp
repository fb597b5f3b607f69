// The Docker/Podman API parsers, the HTTP response reader and the engine index, on what the
// real daemons answered (tests/data/engine, see its README).
#include <doctest/doctest.h>
#include <netlog/config.h>
#include "engine_api.h"
#include "engine_index.h"
#include <netlog/format.h>
#include "http_response.h"
#include "metrics.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;

namespace {

std::string data(const std::string &name) {
    std::ifstream f(NETLOG_TEST_DATA "/engine/" + name, std::ios::binary);
    REQUIRE_MESSAGE(f, name);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string ip_text(const IpAddress &a) {
    char buf[64] = "";
    if (a.family == L3::ipv4)
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a.bytes[0], a.bytes[1], a.bytes[2],
                      a.bytes[3]);
    else
        for (int i = 0; i < 16; i += 2)
            std::snprintf(buf + std::strlen(buf), sizeof buf - std::strlen(buf), "%s%x",
                          i ? ":" : "", a.bytes[i] << 8 | a.bytes[i + 1]);
    return buf;
}

const EngineLabelFilter compose{{"com.docker.compose.project", "com.docker.compose.service"}};

// The body of a raw HTTP response, fed `step` bytes at a time.
std::string body_of(const std::string &raw, std::size_t step, HttpResponseReader &r) {
    std::string body;
    for (std::size_t i = 0; i < raw.size(); i += step) {
        const auto piece = std::string_view(raw).substr(i, step);
        const auto used = r.feed(piece, body);
        if (r.done() || r.failed()) break;
        REQUIRE(used == piece.size());
    }
    return body;
}

std::vector<EngineEvent> events_of(const std::string &raw) {
    HttpResponseReader r;
    const auto body = body_of(raw, raw.size(), r);
    std::vector<EngineEvent> out;
    std::size_t start = 0;
    for (auto nl = body.find('\n'); nl != std::string::npos; nl = body.find('\n', start)) {
        auto e = engine_parse_event(std::string_view(body).substr(start, nl - start));
        REQUIRE_MESSAGE(e, e.error().message);
        out.push_back(*e);
        start = nl + 1;
    }
    CHECK(start == body.size());
    return out;
}

EngineContainer ec(std::string id, std::vector<std::string> ips, bool running = true) {
    EngineContainer c;
    c.id = std::move(id);
    c.name = c.id + "-name";
    c.image = "img";
    c.running = running;
    for (const auto &ip : ips) c.ips.push_back(ip_from_text(ip));
    return c;
}

std::string name_at(const ContainerIndex &idx, const char *ip) {
    const auto *c = idx.by_ip(ip_from_text(ip));
    return c ? c->handle : "";
}

std::string name_at(const std::shared_ptr<const ContainerIndex> &idx, const char *ip) {
    return name_at(*idx, ip);
}

} // namespace

TEST_CASE(
    "Docker's container list: ids, names without '/', images, every address, selected labels") {
    auto l = engine_parse_list(data("docker-list.json"), compose);
    REQUIRE_MESSAGE(l, l.error().message);
    REQUIRE(l->size() == 2);
    const auto &c2 = (*l)[0], &c1 = (*l)[1];
    CHECK(c2.id == "4f4c183ad501480c380b2ea41afad5cc4aef7dcb12f11d378b0cf3a6b7378096");
    CHECK(c2.name == "c2");
    CHECK(c2.image == "netlog-busybox:test");
    CHECK(c2.labels.empty());
    CHECK(c2.running);
    REQUIRE(c2.ips.size() == 2);
    CHECK(ip_text(c2.ips[0]) == "10.99.0.2");
    CHECK(ip_text(c2.ips[1]) == "fd00:1:0:0:0:0:0:2");
    CHECK(c1.name == "c1");
    REQUIRE(c1.labels.size() == 1);
    CHECK(c1.labels[0] == std::pair<std::string, std::string>{"com.docker.compose.service", "web"});
    REQUIRE(c1.ips.size() == 3); // bridge (IPv4 only) and usernet (IPv4 and IPv6)
    CHECK(ip_text(c1.ips[0]) == "172.17.0.2");
    CHECK(ip_text(c1.ips[1]) == "10.99.0.3");
    CHECK(ip_text(c1.ips[2]) == "fd00:1:0:0:0:0:0:3");
    // without the label in the filter, no label is kept
    auto none = engine_parse_list(data("docker-list.json"), {});
    CHECK((*none)[1].labels.empty());
}

TEST_CASE("Podman's compatible list reads the same (image names carry localhost/)") {
    auto l = engine_parse_list(data("podman-list.json"), compose);
    REQUIRE_MESSAGE(l, l.error().message);
    REQUIRE(l->size() == 2);
    const auto &p1 = (*l)[1];
    CHECK(p1.name == "p1");
    CHECK(p1.image == "localhost/netlog-busybox:test");
    REQUIRE(p1.ips.size() == 3);
    CHECK(ip_text(p1.ips[0]) == "10.77.0.3");
    CHECK(ip_text(p1.ips[2]) == "10.88.0.3");
    REQUIRE(p1.labels.size() == 1);
}

TEST_CASE("an inspected container: Name, Config.Image, Config.Labels, State.Running, networks") {
    for (const char *f : {"docker-inspect-c1.json", "podman-inspect-p1.json"}) {
        auto c = engine_parse_inspect(data(f), compose);
        REQUIRE_MESSAGE(c, c.error().message);
        CHECK(c->running);
        CHECK(c->ips.size() == 3);
        CHECK(c->labels.size() == 1);
        CHECK(c->id.size() == 64);
    }
    auto d = engine_parse_inspect(data("docker-inspect-c1.json"), compose);
    CHECK(d->name == "c1");
    CHECK(d->image == "netlog-busybox:test");
    auto p = engine_parse_inspect(data("podman-inspect-p1.json"), compose);
    CHECK(p->name == "p1");
    CHECK(p->image == "localhost/netlog-busybox:test");
}

TEST_CASE("a body that is not a list or a container is refused with the reason") {
    CHECK_FALSE(engine_parse_list("{}", compose));
    CHECK(engine_parse_list("{}", compose).error().message.find("expected an array") !=
          std::string::npos);
    CHECK_FALSE(engine_parse_list("[{\"Id\":", compose));
    CHECK_FALSE(engine_parse_inspect("[]", compose));
    CHECK_FALSE(engine_parse_inspect("{\"Name\":\"/x\"}", compose)); // no Id
    CHECK(engine_parse_list("[]", compose)->empty());
    CHECK(engine_parse_list("[1, \"x\", null]", compose)->empty()); // items that are not objects
}

TEST_CASE("Docker's events stream: start, gone, and network events name the container") {
    const auto ev = events_of(data("docker-events.raw"));
    REQUIRE(ev.size() == 12);
    const std::string c1 = "7a5381b52820f4c46465a93175b01ffe1e46b89f22868edb24f3b8831f991a09";
    const std::string c2 = "4f4c183ad501480c380b2ea41afad5cc4aef7dcb12f11d378b0cf3a6b7378096";
    const std::string c3 = "7e9bb801890808094624d9ca23616bf806c15c4655bae0102cd3c14c9771c6ae";
    using K = EngineEventKind;
    const std::vector<std::pair<K, std::string>> want = {
        {K::ignored, c3}, {K::changed, c3}, {K::start, c3},   {K::changed, c1},
        {K::changed, c1}, {K::ignored, ""}, {K::ignored, ""}, {K::gone, c2},
        {K::changed, c2}, {K::ignored, ""}, {K::gone, c2},    {K::changed, c3}};
    for (std::size_t i = 0; i < want.size(); ++i) {
        CHECK_MESSAGE(ev[i].kind == want[i].first, i);
        if (want[i].first != K::ignored) CHECK_MESSAGE(ev[i].id == want[i].second, i);
    }
    CHECK(ev[2].time_ns == 1796223252490161919);
}

TEST_CASE("Podman's events: remove for destroy, the container as the network event's actor") {
    const auto ev = events_of(data("podman-events.raw"));
    REQUIRE(ev.size() == 9);
    using K = EngineEventKind;
    const std::vector<K> want = {K::ignored, K::changed /* init */, K::start,
                                 K::changed, K::gone /* die */,     K::ignored,
                                 K::ignored, K::gone /* remove */,  K::changed /* rename */};
    for (std::size_t i = 0; i < want.size(); ++i) CHECK_MESSAGE(ev[i].kind == want[i], i);
    CHECK(ev[3].id == "32fb3b4286a9839c0731a2171c2bb49d54bf3f172993623ae0bea913759e8640"); // p1
}

TEST_CASE("the version and the API version floor") {
    auto d = engine_parse_version(data("docker-version.json"));
    REQUIRE(d);
    CHECK(d->api_version == "1.41");
    CHECK(d->engine == "Engine");
    CHECK(d->version == "20.10.24+dfsg1");
    auto p = engine_parse_version(data("podman-version.json"));
    CHECK(p->api_version == "1.41");
    CHECK(p->engine == "Podman Engine");
    CHECK(engine_compare_api_version("1.41", engine_min_api_version) > 0);
    CHECK(engine_compare_api_version("1.24", "1.24") == 0);
    CHECK(engine_compare_api_version("1.9", "1.24") < 0);
    CHECK(engine_compare_api_version("1.100", "1.24") > 0);
    CHECK(engine_compare_api_version("x", "1.24") < 0);
    CHECK(engine_error_message(R"({"message":"No such container: x\u001b"})") ==
          "No such container: x\\x1b");
    CHECK_FALSE(engine_parse_version("[]"));
}

TEST_CASE("the HTTP reader gives the same body however the bytes arrive") {
    const auto raw = data("docker-events.raw");
    HttpResponseReader whole;
    const auto all = body_of(raw, raw.size(), whole);
    CHECK(whole.status() == 200);
    CHECK(whole.chunked());
    CHECK(whole.api_version() == "1.41");
    CHECK(whole.state() == HttpResponseReader::State::body); // a stream: never done
    for (std::size_t step : {1, 2, 3, 7, 64}) {
        HttpResponseReader r;
        CHECK_MESSAGE(body_of(raw, step, r) == all, step);
    }
    HttpResponseReader cl;
    std::string body;
    const std::string resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
    CHECK(cl.feed(resp, body) == resp.size() - 5);
    CHECK(cl.done());
    CHECK(cl.status() == 404);
    CHECK(body == "hello");
}

TEST_CASE("the HTTP reader refuses what it cannot frame, and another protocol at once") {
    std::string body;
    HttpResponseReader a;
    a.feed("SSH-", body);
    CHECK(a.failed());
    HttpResponseReader b;
    b.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", body);
    CHECK(b.failed());
    CHECK(b.error().find("chunk size") != std::string::npos);
    HttpResponseReader c;
    c.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body);
    c.finish();
    CHECK(c.failed());
    HttpResponseReader d({16, 100});
    d.feed("HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaa", body);
    CHECK(d.failed());
    HttpResponseReader e({1024, 4});
    e.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body);
    CHECK(e.failed());
    HttpResponseReader f; // until close
    body.clear();
    f.feed("HTTP/1.0 200 OK\r\n\r\nabc", body);
    f.finish();
    CHECK(f.done());
    CHECK(body == "abc");
}

TEST_CASE("the engine index: running containers by every address, gone ones for the grace period") {
    EngineIndex idx(10);
    idx.apply_list({ec("a", {"10.0.0.2", "fd00::2"}), ec("b", {"10.0.0.3"})}, 100);
    auto i1 = idx.build();
    CHECK(name_at(i1, "10.0.0.2") == "a");
    CHECK(name_at(i1, "fd00::2") == "a");
    CHECK(name_at(i1, "10.0.0.3") == "b");
    CHECK(i1->by_ip(ip_from_text("10.0.0.2"))->json ==
          R"({"container_id":"a","container_name":"a-name","image":"img","labels":{}})");
    idx.mark_gone("a", 105);
    CHECK(idx.running() == 1);
    CHECK(idx.gone() == 1);
    CHECK(name_at(idx.build(), "10.0.0.2") == "a"); // a late packet is still named
    // another container takes a's address: the running one wins
    idx.apply_inspect(ec("c", {"10.0.0.2"}), 106);
    auto i2 = idx.build();
    CHECK(name_at(i2, "10.0.0.2") == "c");
    CHECK(name_at(i2, "fd00::2") == "a");
    CHECK(idx.next_expiry() == 115);
    CHECK_FALSE(idx.expire(114));
    CHECK(idx.expire(115));
    CHECK(name_at(idx.build(), "fd00::2") == "");
    // a list without b: b is gone from then on
    idx.apply_list({ec("c", {"10.0.0.2"})}, 200);
    CHECK(idx.gone() == 1);
    CHECK(name_at(idx.build(), "10.0.0.3") == "b");
}

TEST_CASE(
    "a starting container with addresses is indexed; a stopped one keeps its last addresses") {
    EngineIndex idx(10);
    idx.apply_inspect(ec("s", {"10.0.0.9"}, false), 1); // network connect before start
    CHECK(idx.running() == 1);
    idx.apply_inspect(ec("s", {}, false), 2); // stopped: no addresses any more
    CHECK(idx.gone() == 1);
    CHECK(name_at(idx.build(), "10.0.0.9") == "s");
    idx.apply_inspect(ec("s", {"10.0.0.9"}), 3); // started again
    CHECK(idx.gone() == 0);
    idx.apply_inspect(ec("never", {}, false), 4); // unknown and stopped: nothing
    CHECK_FALSE(idx.known("never"));
}

TEST_CASE("of two gone containers the most recently gone keeps the address; two running lose it") {
    EngineIndex idx(100);
    idx.apply_list({ec("old", {"10.0.0.5"}), ec("new", {"10.0.0.6"})}, 1);
    idx.mark_gone("old", 2);
    idx.apply_inspect(ec("new", {"10.0.0.5"}), 3); // new moved to old's address...
    idx.mark_gone("new", 4);                       // ...and went too
    CHECK(name_at(idx.build(), "10.0.0.5") == "new");
    idx.apply_inspect(ec("x", {"10.0.0.7"}), 5);
    idx.apply_inspect(ec("y", {"10.0.0.7"}), 5);
    CHECK(name_at(idx.build(), "10.0.0.7") == "");
}

TEST_CASE("the json container object of an engine container and of an unknown one") {
    Container c;
    c.handle = "abc";
    c.name = "web\"1";
    c.image = "registry/app:1";
    c.labels = {{"com.docker.compose.service", "web"}, {"k", "v\n"}};
    CHECK(engine_container_json(c) ==
          R"({"container_id":"abc","container_name":"web\"1","image":"registry/app:1",)"
          R"("labels":{"com.docker.compose.service":"web","k":"v\n"}})");
    CHECK(engine_unknown_container_json ==
          R"({"container_id":"","container_name":"","image":"","labels":{}})");
}

TEST_CASE("metadata.source docker/podman: socket, labels, grace; store keeps meaning cf-store") {
    const char *outs = "outputs: [{type: stdout}]\n";
    auto d = config_parse(std::string("rules: r.yaml\nmetadata: {source: docker, labels: "
                                      "[a, b, a], grace: 2.5}\n") +
                              outs,
                          "n.yaml");
    REQUIRE_MESSAGE(d, d.error().message);
    CHECK(d->metadata_source == MetadataSource::docker);
    CHECK(d->engine.socket == "/var/run/docker.sock");
    CHECK(d->engine.labels == std::vector<std::string>{"a", "b"});
    CHECK(d->engine.grace == 2.5);
    auto p = config_parse(std::string("rules: r.yaml\nmetadata: {source: podman, socket: "
                                      "unix:///run/x.sock}\n") +
                              outs,
                          "n.yaml");
    REQUIRE(p);
    CHECK(p->engine.socket == "/run/x.sock");
    auto s =
        config_parse(std::string("rules: r.yaml\nmetadata: {store: /s.json}\n") + outs, "n.yaml");
    REQUIRE(s);
    CHECK(s->metadata_source == MetadataSource::cf_store);
    CHECK(s->store_path == "/s.json");
    auto bad = [&](const char *md, const char *what) {
        auto r =
            config_parse(std::string("rules: r.yaml\nmetadata: ") + md + "\n" + outs, "n.yaml");
        REQUIRE_FALSE(r);
        CHECK_MESSAGE(r.error().message.find(what) != std::string::npos, r.error().message);
    };
    bad("{source: docker, socket: tcp://1.2.3.4:2375}",
        "key 'metadata.socket': 'tcp://1.2.3.4:2375' is not a unix socket");
    bad("{source: docker, store: /s.json}", "key 'metadata.store': only for source cf-store");
    bad("{source: cf-store}", "key 'metadata.store': missing");
    bad("{source: kubernetes}", "'kubernetes' is not cf-store, docker or podman");
    bad("{store: /s, labels: [a]}", "key 'metadata.labels': only for source docker or podman");
    bad("{source: docker, grace: -1}", "key 'metadata.grace'");
    bad("{socket: /x.sock}", "key 'metadata.source': missing");
}

TEST_CASE("after a few changes the index is an overlay that answers as a full rebuild does") {
    // A deterministic walk over 300 containers and 200 addresses, as a daemon hands them
    // out (an address is free once its container stopped, then often reused): starts,
    // moves, deaths, expiries; after each step every address and handle is looked up in
    // both.
    EngineIndex idx(50);
    std::uint32_t x = 12345;
    const auto rnd = [&](std::uint32_t n) {
        x = x * 1103515245 + 12345;
        return (x >> 8) % n;
    };
    const auto addr = [](std::uint32_t i) {
        return "10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    };
    std::map<std::uint32_t, std::uint32_t> holder; // address -> running container
    const auto release = [&](std::uint32_t c) {
        std::erase_if(holder, [&](const auto &kv) { return kv.second == c; });
    };
    const auto start = [&](std::uint32_t c) {
        release(c);
        std::vector<std::string> ips;
        for (int k = 0; k < 2 && holder.size() < 200; ++k) {
            std::uint32_t a = rnd(200);
            while (holder.count(a)) a = (a + 1) % 200;
            holder[a] = c;
            ips.push_back(addr(a));
        }
        return ec("c" + std::to_string(c), ips);
    };
    std::vector<EngineContainer> first;
    for (std::uint32_t i = 0; i < 60; ++i) first.push_back(start(i));
    idx.apply_list(first, 1);
    (void)idx.build();
    std::size_t overlays = 0;
    for (std::int64_t t = 2; t < 600; ++t) {
        const auto c = rnd(300);
        const auto id = "c" + std::to_string(c);
        switch (rnd(4)) {
        case 0: idx.apply_inspect(start(c), t); break;
        case 1:
            release(c);
            idx.mark_gone(id, t);
            break;
        case 2:
            release(c);
            idx.apply_inspect(ec(id, {}, false), t);
            break;
        default: idx.expire(t); break;
        }
        const auto built = idx.build();
        if (built->base()) ++overlays;
        const auto full = idx.build_full();
        for (std::uint32_t i = 0; i < 200; ++i) {
            const auto ip = ip_from_text(addr(i));
            const auto *a = built->by_ip(ip);
            const auto *b = full.by_ip(ip);
            CHECK_MESSAGE((a ? a->handle : "-") == (b ? b->handle : "-"),
                          "t=" << t << " " << addr(i));
        }
        for (std::uint32_t i = 0; i < 300; ++i) {
            const auto h = "c" + std::to_string(i);
            CHECK_MESSAGE((built->by_handle(h) != nullptr) == (full.by_handle(h) != nullptr), h);
        }
        CHECK(built->size() == full.size());
    }
    CHECK(overlays > 200);
}

TEST_CASE("the source's health goes through the metrics text and back (netlogd --stats)") {
    MetricsSnapshot m;
    m.metadata.source = "podman";
    m.metadata.up = true;
    m.metadata.connects = 3;
    m.metadata.disconnects = 2;
    m.metadata.failures = 7;
    m.metadata.events = 1234;
    m.metadata.lookups = 99;
    m.metadata.running = 20000;
    m.metadata.gone = 5;
    m.metadata.last_event_lag = 0.0125;
    const auto text = metrics_render(m);
    CHECK(text.find("netlog_metadata_containers{source=\"podman\",state=\"gone\"} 5\n") !=
          std::string::npos);
    const auto parsed = metrics_parse(text);
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? std::string() : parsed.error().message));
    const MetricsSnapshot back = *parsed;
    CHECK(back.metadata.source == "podman");
    CHECK(back.metadata.up);
    CHECK(back.metadata.connects == 3);
    CHECK(back.metadata.disconnects == 2);
    CHECK(back.metadata.failures == 7);
    CHECK(back.metadata.events == 1234);
    CHECK(back.metadata.lookups == 99);
    CHECK(back.metadata.running == 20000);
    CHECK(back.metadata.gone == 5);
    CHECK(back.metadata.last_event_lag == doctest::Approx(0.0125));
    const MetricsSnapshot none;
    CHECK(metrics_render(none).find("netlog_metadata_") == std::string::npos);
}
