// ContainerIndex: store.json (../shared/facts/cloudfoundry.md §2) -> lookups by IP, handle
// and NFLOG prefix. Fixtures in tests/data/stores/: facts.json is the facts file's sample
// verbatim; cell.json, odd-types.json and the broken files are hand-written for these tests
// (each test states what it expects from them).
#include <doctest/doctest.h>
#include <fstream>
#include <netlog/container.h>
#include <netlog/pipeline.h>

#include "pipeline_fixtures.h"
#include <sstream>
#include <string>

using namespace netlog;

namespace {

// The container a Cloud Foundry prefix names, as the pipeline finds it: the class of
// rules/cloudfoundry.yaml that takes the prefix, then its container_handle or
// container_app_guid group looked up.
const Container *by_prefix(const ContainerIndex &idx, std::string_view prefix) {
    const ClassDef *c = rules_match(test::cf_rules(), prefix);
    if (!c) return nullptr;
    Captures caps;
    REQUIRE(class_captures(*c, prefix, caps));
    return container_from_prefix(idx, *c, caps, prefix);
}

} // namespace

static std::string store(const std::string &name) {
    std::ifstream f(NETLOG_TEST_DATA "/stores/" + name, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "missing fixture " << name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

static ContainerIndex must_parse(const std::string &text, StoreReport *report = nullptr) {
    auto r = ContainerIndex::parse(text, report);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(r).value();
}

static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddress ip;
    ip.family = L3::ipv4;
    ip.bytes[0] = a, ip.bytes[1] = b, ip.bytes[2] = c, ip.bytes[3] = d;
    return ip;
}

TEST_CASE("the facts sample maps the handle to container_id and app/space/org ids to guids") {
    StoreReport rep;
    auto idx = must_parse(store("facts.json"), &rep);
    CHECK(idx.size() == 1);
    CHECK(rep.entries == 1);
    CHECK(rep.warnings() == 0);
    const Container *c = idx.by_ip(v4(10, 255, 73, 2));
    REQUIRE(c != nullptr);
    CHECK(c->handle == "d5978989-1401-49ff-46cd-33e5");
    CHECK(c->app_guid == "bc6f229d-5e4a-4c41-a63f-e8795496c283");
    CHECK(c->space_guid == "b9f86312-a7d7-4bcf-b70f-a440436c210b");
    CHECK(c->organization_guid == "604bd59e-4139-4734-a3be-4e97836eb790");
    CHECK(idx.by_handle("d5978989-1401-49ff-46cd-33e5") == c);
    CHECK(idx.by_ip(v4(10, 255, 73, 3)) == nullptr);
    CHECK(idx.by_handle("d5978989-1401-49ff-46cd-33e") == nullptr); // no prefix matching here
}

TEST_CASE("IPv4 and IPv6 addresses are both indexed, IPv6 in any text form") {
    auto idx = must_parse(store("cell.json"));
    CHECK(idx.size() == 6);
    const Container *c6 = idx.by_ip(ip_from_text("fd00:255:0:0:0:0:f:d"));
    REQUIRE(c6 != nullptr);
    CHECK(c6->handle == "6a1f0c2e-0b7d-4c4e-5d6f-a9b8");
    CHECK(idx.by_ip(v4(10, 255, 15, 13))->handle == "ffec8b0f-bdcf-42e7-7a89-f01e");
    CHECK(idx.by_ip(v4(10, 255, 15, 7))->handle == "cb40f81e-52ce-41c5-6b2a-11e3");
    // the same 16 bytes under the other family are another address
    IpAddress not_v6 = v4(10, 255, 15, 13);
    not_v6.family = L3::ipv6;
    CHECK(idx.by_ip(not_v6) == nullptr);
    CHECK(idx.by_ip(IpAddress{}) == nullptr);
}

TEST_CASE("ip_from_text reads IPv4 and IPv6 and refuses anything else") {
    CHECK(ip_from_text("10.255.15.7") == v4(10, 255, 15, 7));
    IpAddress a = ip_from_text("::1");
    CHECK(a.family == L3::ipv6);
    CHECK(a.bytes[15] == 1);
    CHECK(ip_from_text("10.255.73.999").family == L3::none);
    CHECK(ip_from_text("").family == L3::none);
    CHECK(ip_from_text(" 10.0.0.1").family == L3::none);
    CHECK(ip_from_text(std::string(100, '1')).family == L3::none);
}

TEST_CASE("values of unexpected types are read as far as they make sense") {
    StoreReport rep;
    auto idx = must_parse(store("odd-types.json"), &rep);
    CHECK(rep.entries == 13);
    CHECK(rep.skipped == 4); // the number, null, string and array entries
    CHECK(idx.size() == 9);
    CHECK(rep.first_warning.find("not an object") != std::string::npos);

    // non-string metadata values are ""
    const Container *task = idx.by_ip(v4(10, 255, 73, 10));
    REQUIRE(task != nullptr);
    CHECK(task->app_guid == "a1a1a1a1-0000-4000-8000-000000000001");
    CHECK(task->space_guid == "");
    CHECK(task->organization_guid == "");
    const Container *staging = idx.by_handle("staging-0002-aaaa-bbbb-cccc");
    REQUIRE(staging != nullptr);
    CHECK(staging == idx.by_ip(v4(10, 255, 73, 11)));
    CHECK(staging->app_guid == "");
    CHECK(staging->space_guid == "");
    CHECK(staging->organization_guid == "");
    // metadata missing or not an object: known container, empty guids
    for (auto ip : {v4(10, 255, 73, 12), v4(10, 255, 73, 13)}) {
        const Container *c = idx.by_ip(ip);
        REQUIRE(c != nullptr);
        CHECK(!c->handle.empty());
        CHECK(c->app_guid.empty());
    }
    // no parseable ip: by handle only
    CHECK(rep.without_ip == 2);
    const Container *num = idx.by_handle("ip-is-a-number-0005-aaaa");
    REQUIRE(num != nullptr);
    CHECK(num->ip.family == L3::none);
    CHECK(num->app_guid == "a1a1a1a1-0000-4000-8000-000000000005");
    CHECK(idx.by_handle("ip-is-garbage-0006-aaaa") != nullptr);
    // handle missing or not a string: the key is the handle
    const Container *keyed = idx.by_ip(v4(10, 255, 73, 14));
    REQUIRE(keyed != nullptr);
    CHECK(keyed->handle == "handle-missing-0007-aaaa");
    CHECK(keyed->space_guid == "s7");
    const Container *keyed6 = idx.by_ip(ip_from_text("fd00:255::8"));
    REQUIRE(keyed6 != nullptr);
    CHECK(keyed6->handle == "handle-not-a-string-0008");
    // upper-case, zero-padded IPv6 text is the same address
    const Container *v6 = idx.by_ip(ip_from_text("fd00:255::9"));
    REQUIRE(v6 != nullptr);
    CHECK(v6->handle == "ipv6-0009-aaaa-bbbb-cccc-dd");
    // skipped entries are nowhere
    CHECK(idx.by_handle("entry-is-a-number") == nullptr);
    CHECK(idx.by_ip(v4(10, 255, 73, 99)) == nullptr);
}

TEST_CASE("an empty, half-written or corrupt store is an error that says where it broke") {
    for (const char *name : {"empty.json", "whitespace.json"}) {
        CAPTURE(name);
        auto r = ContainerIndex::parse(store(name));
        REQUIRE(!r.ok());
        CHECK(r.error().message.find("empty") != std::string::npos);
    }
    auto half = ContainerIndex::parse(store("half-written.json"));
    REQUIRE(!half.ok());
    // the file is the facts sample cut after 150 bytes: parsing stops at its end
    CHECK(half.error().message.find("parse error at byte 150 of 150: the text ends early") == 0);
    auto garbage = ContainerIndex::parse(store("garbage.json"));
    REQUIRE(!garbage.ok());
    CHECK(garbage.error().message.find("parse error at byte 1 of 25") == 0);
    auto arr = ContainerIndex::parse(store("array.json"));
    REQUIRE(!arr.ok());
    CHECK(arr.error().message.find("top level is an array") != std::string::npos);
    auto num = ContainerIndex::parse("42");
    REQUIRE(!num.ok());
    CHECK(num.error().message.find("top level is a number") != std::string::npos);
}

TEST_CASE("an empty object is a valid store with no containers") {
    auto idx = must_parse(store("no-containers.json"));
    CHECK(idx.size() == 0);
    CHECK(by_prefix(idx, "DENY_C2C_ffec8b0f-bdcf-42e7-7a89-f01e") == nullptr);
}

TEST_CASE("the handle in each kind of NFLOG prefix finds its container") {
    auto idx = must_parse(store("cell.json"));
    const Container *ffec = idx.by_handle("ffec8b0f-bdcf-42e7-7a89-f01e");
    const Container *d538 = idx.by_handle("d538d169-f2f6-4587-77b1-a0b1");
    REQUIRE(ffec != nullptr);
    REQUIRE(d538 != nullptr);
    CHECK(by_prefix(idx, "DENY_C2C_ffec8b0f-bdcf-42e7-7a89-f01e") == ffec);
    CHECK(by_prefix(idx, "DENY_C2C_ffec8b0f-bdcf-42e7-7a89-f01e ") == ffec); // trailing space
    CHECK(by_prefix(idx, "DENY_ORL_d538d169-f2f6-4587-77b1-a0b1") == d538);
    CHECK(by_prefix(idx, "DENY_d538d169-f2f6-4587-77b1-a0b1") == d538);
    CHECK(by_prefix(idx, "OK_d538d169-f2f6-4587-77b1-a0b1") == d538);
    CHECK(by_prefix(idx, "OK_container-handle-1-longer-than-29")->app_guid ==
          "0d4b2c6e-1f3a-4b5c-8d7e-9f0a1b2c3d4e");
    // unknown handles, unknown markers, nothing after the marker
    CHECK(by_prefix(idx, "DENY_C2C_00000000-0000-0000-0000-0000") == nullptr);
    CHECK(by_prefix(idx, "calico-packet: ") == nullptr);
    CHECK(by_prefix(idx, "DENY_C2C_") == nullptr);
    CHECK(by_prefix(idx, "OK_") == nullptr);
    CHECK(by_prefix(idx, "") == nullptr);
    // a marker is not found in the middle
    CHECK(by_prefix(idx, "X_DENY_d538d169-f2f6-4587-77b1-a0b1") == nullptr);
}

TEST_CASE("a LOG prefix cut at 28 characters still finds a handle when only one matches") {
    auto idx = must_parse(store("cell.json"));
    const Container *d538 = idx.by_handle("d538d169-f2f6-4587-77b1-a0b1");
    const Container *cb6b = idx.by_handle("cb40f81e-52ce-41c5-6b2a-11e3");
    const Container *ffec = idx.by_handle("ffec8b0f-bdcf-42e7-7a89-f01e");
    // facts §3: "DENY_d538d169-f2f6-4587-77b1 " is what LOG printed for DENY_<handle>
    CHECK(by_prefix(idx, "DENY_d538d169-f2f6-4587-77b1 ") == d538);
    CHECK(by_prefix(idx, "OK_ffec8b0f-bdcf-42e7-7a89-f ") == ffec);
    CHECK(by_prefix(idx, "DENY_ORL_d538d169-f2f6-4587-") == d538);
    // facts §3: "DENY_C2C_cb40f81e-52ce-41c5- ": two handles in cell.json start that way
    CHECK(by_prefix(idx, "DENY_C2C_cb40f81e-52ce-41c5- ") == nullptr);
    CHECK(by_prefix(idx, "DENY_cb40f81e-52ce-41c5-6b2a ") == cb6b);
    // a shorter cut than LOG's is not a handle: no guessing
    CHECK(by_prefix(idx, "DENY_d538d169-f2f6-4587-77b") == nullptr);
    CHECK(by_prefix(idx, "DENY_C2C_d538d169-f2f6-4587-77b1") ==
          nullptr); // 23 chars after a 9-char marker
}

TEST_CASE("OK_<tag>_<app guid> names the destination app, never another app's container") {
    auto idx = must_parse(store("cell.json"));
    // one instance: that container
    const Container *ffec = idx.by_handle("ffec8b0f-bdcf-42e7-7a89-f01e");
    CHECK(by_prefix(idx, "OK_0002_c5836386-b934-424a-8d93-5894115b3130") == ffec);
    CHECK(by_prefix(idx, "OK_0002_c5836386-b934-424a-8") == ffec); // LOG's cut: 20 chars
    // two instances of e9e8959f...: the app, with no container id
    const Container *app = by_prefix(idx, "OK_0002_e9e8959f-3828-4136-8c4d-6b05c1b8e2a1");
    REQUIRE(app != nullptr);
    CHECK(app->handle == "");
    CHECK(app->app_guid == "e9e8959f-3828-4136-8c4d-6b05c1b8e2a1");
    CHECK(app->space_guid == "b9f86312-a7d7-4bcf-b70f-a440436c210b");
    CHECK(app->organization_guid == "604bd59e-4139-4734-a3be-4e97836eb790");
    // facts §3's "OK_0002_e9e8959f-3828-4136-8 " is the same app, cut by LOG
    CHECK(by_prefix(idx, "OK_0002_e9e8959f-3828-4136-8 ") == app);
    // an app guid nobody runs, and a tag that is not 4 lowercase hex digits
    CHECK(by_prefix(idx, "OK_0002_00000000-0000-0000-0000-000000000000") == nullptr);
    CHECK(by_prefix(idx, "OK_00G2_c5836386-b934-424a-8d93-5894115b3130") == nullptr);
}

TEST_CASE("an IP claimed by two entries is attributed to neither") {
    const char *text = R"({
      "a": {"handle": "a", "ip": "10.255.1.1", "metadata": {"app_id": "app-a"}},
      "b": {"handle": "b", "ip": "10.255.1.1", "metadata": {"app_id": "app-b"}},
      "c": {"handle": "c", "ip": "10.255.1.2", "metadata": {"app_id": "app-c"}}
    })";
    StoreReport rep;
    auto idx = must_parse(text, &rep);
    CHECK(rep.duplicate_ips == 1);
    CHECK(idx.by_ip(v4(10, 255, 1, 1)) == nullptr);
    CHECK(idx.by_ip(v4(10, 255, 1, 2))->handle == "c");
    CHECK(idx.by_handle("a")->app_guid == "app-a");
    CHECK(idx.by_handle("b")->app_guid == "app-b");
}

TEST_CASE("instances of one app that disagree on space or org give no app-level answer") {
    const char *text = R"({
      "h1": {"handle": "h1", "ip": "10.255.1.1", "metadata": {"app_id": "app", "space_id": "s1", "org_id": "o"}},
      "h2": {"handle": "h2", "ip": "10.255.1.2", "metadata": {"app_id": "app", "space_id": "s2", "org_id": "o"}}
    })";
    auto idx = must_parse(text);
    CHECK(by_prefix(idx, "OK_0001_app") == nullptr);
    CHECK(by_prefix(idx, "OK_h1")->space_guid == "s1");
}

TEST_CASE("short handles (SSO strings) stay valid after the index moves") {
    // handles under 16 chars live inside std::string: the views must survive moves
    std::string text = "{";
    for (int i = 0; i < 200; ++i)
        text += (i ? "," : "") + std::string("\"h") + std::to_string(i) + "\":{\"ip\":\"10.1." +
                std::to_string(i / 256) + "." + std::to_string(i % 256) + "\"}";
    text += "}";
    auto idx = must_parse(text);
    ContainerIndex moved = std::move(idx);
    ContainerIndex again;
    again = std::move(moved);
    CHECK(again.size() == 200);
    for (int i = 0; i < 200; ++i) {
        std::string h = "h" + std::to_string(i);
        const Container *c = again.by_handle(h);
        REQUIRE(c != nullptr);
        CHECK(c->handle == h);
        CHECK(again.by_ip(v4(10, 1, std::uint8_t(i / 256), std::uint8_t(i % 256))) == c);
        CHECK(by_prefix(again, "DENY_" + h) == c);
    }
}

// The store's Go readers (encoding/json) document: "Invalid UTF-8 or invalid UTF-16
// surrogate pairs are not treated as an error. Instead, they are replaced by the Unicode
// replacement character U+FFFD." U+FFFD is "\xEF\xBF\xBD" in UTF-8.
static constexpr std::string_view fffd = "\xEF\xBF\xBD";

TEST_CASE("a lone UTF-16 surrogate in one value is read as U+FFFD, not a broken store") {
    const std::string text =
        R"({"h1": {"handle": "h1", "ip": "10.0.0.1", "metadata": {"app_id": "a\ud800b", "space_id": "s", "org_id": "o"}},)"
        R"( "h2": {"handle": "h2", "ip": "10.0.0.2", "metadata": {"app_id": "\udc00", "space_id": "\ud83d\ude00", "org_id": "\ud800\u0041"}}})";
    StoreReport rep;
    const auto idx = must_parse(text, &rep);
    REQUIRE(idx.size() == 2);
    const auto *h1 = idx.by_handle("h1");
    REQUIRE(h1);
    CHECK(h1->app_guid == "a" + std::string(fffd) + "b");
    const auto *h2 = idx.by_handle("h2");
    REQUIRE(h2);
    CHECK(h2->app_guid == fffd);                             // a lone low surrogate
    CHECK(h2->space_guid == "\xF0\x9F\x98\x80");             // a real pair stays U+1F600
    CHECK(h2->organization_guid == std::string(fffd) + "A"); // high, then not a low one
    CHECK(rep.repaired == 3);
    CHECK(rep.warnings() == 0); // nothing lost
    CHECK(rep.first_warning.find("read as U+FFFD") != std::string::npos);
}

TEST_CASE("bytes that are not UTF-8 in a string are each read as U+FFFD") {
    const std::string text = "{\"h1\": {\"handle\": \"h1\", \"ip\": \"10.0.0.1\", \"metadata\": "
                             "{\"app_id\": \"x\xFFy\xC3\", \"space_id\": \"\xC3\xA9\"}}}";
    StoreReport rep;
    const auto idx = must_parse(text, &rep);
    const auto *h1 = idx.by_handle("h1");
    REQUIRE(h1);
    CHECK(h1->app_guid == "x" + std::string(fffd) + "y" + std::string(fffd));
    CHECK(h1->space_guid == "\xC3\xA9"); // valid UTF-8 untouched
    CHECK(rep.repaired == 2);
}

TEST_CASE("an entry that is not valid JSON costs that entry only, counted and named") {
    const std::string text =
        R"({"h1": {"handle": "h1", "ip": "10.0.0.1", "metadata": {"app_id": "a1"}},)"
        R"( "h2": {"handle": "h2", "ip": , "metadata": {"app_id": "a2"}},)"
        R"( "h3": {"handle": "h3", "ip": "10.0.0.3", "metadata": {"app_id": "a3", "x": [1, 2,]}},)"
        R"( "h4": {"handle": "h4", "ip": "10.0.0.4", "metadata": {"app_id": "a4"}}})";
    StoreReport rep;
    const auto idx = must_parse(text, &rep);
    CHECK(idx.size() == 2);
    CHECK(idx.by_handle("h1"));
    CHECK(idx.by_handle("h4"));
    CHECK_FALSE(idx.by_handle("h2"));
    CHECK_FALSE(idx.by_handle("h3"));
    CHECK(idx.by_ip(v4(10, 0, 0, 4))->app_guid == "a4");
    CHECK(rep.entries == 4);
    CHECK(rep.malformed == 2);
    CHECK(rep.warnings() == 2);
    const auto at = text.find(R"("ip": ,)") + 6; // the ',' where h2's value should be
    CHECK(rep.first_warning.rfind(
              "entry \"h2\": not valid JSON at byte " + std::to_string(at) + " (", 0) == 0);
}

TEST_CASE("a half-written store is still refused whole, never read in part") {
    // the cut falls after a complete first entry: taking it apart would index h1 alone
    const std::string text =
        R"({"h1": {"handle": "h1", "ip": "10.0.0.1"}, "h2": {"handle": "h2", "ip": "10.)";
    auto r = ContainerIndex::parse(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("the text ends early") != std::string::npos);
    // and one whose members all fail on their own (here a missing comma makes one member
    // of the two): a broken store, not a store with a bad entry
    CHECK_FALSE(ContainerIndex::parse(R"({"h1": {"handle": "h1"} "h2": {}})").ok());
}

TEST_CASE("a rules file of any grammar names the container through container_handle") {
    // Not Cloud Foundry's markers: the handle after "pod=", anywhere in the prefix.
    auto rules =
        rules_parse("classes:\n"
                    "  - {name: drop, log_prefix: 'DROP pod=(?P<container_handle>[a-z0-9-]+)',"
                    " direction: egress, verdict: denied, fields: {team: a}}\n",
                    "rules.yaml");
    REQUIRE(rules.ok());
    const ClassDef &c = rules->classes[0];
    CHECK(c.handle_group == 0);
    CHECK_FALSE(c.is_rule_field(0));
    auto idx = must_parse(store("cell.json"));
    const Container *d538 = idx.by_handle("d538d169-f2f6-4587-77b1-a0b1");
    REQUIRE(d538 != nullptr);
    const std::string prefix = "x DROP pod=d538d169-f2f6-4587-77b1-a0b1 y";
    Captures caps;
    REQUIRE(class_captures(c, prefix, caps));
    CHECK(container_from_prefix(idx, c, caps, prefix) == d538);
    // the same handle cut short, but not where LOG cuts a prefix: only an exact handle counts
    const std::string cut = "DROP pod=d538d169-f2f6-4587";
    REQUIRE(class_captures(c, cut, caps));
    CHECK(container_from_prefix(idx, c, caps, cut) == nullptr);
    // ending at the 28th character, it may be LOG's cut: the one handle starting so
    const std::string log_cut = "DROP pod=d538d169-f2f6-4587-7";
    REQUIRE(log_cut.size() == 29);
    const std::string at28 = log_cut.substr(0, 28);
    REQUIRE(class_captures(c, at28, caps));
    CHECK(container_from_prefix(idx, c, caps, at28) == d538);
}
