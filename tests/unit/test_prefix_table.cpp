// The classifier's cache table (prefix_table.h): every key it was given is found with its
// value, no other key is, whatever the hash does; it grows as keys arrive and is cleared
// when one more than its capacity arrives. Keys of every length an NFLOG prefix can have
// (iptables: at most 63 bytes, nft: 127) and one more.
#include <netlog/classes.h>
#include <netlog/prefix_table.h>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace netlog;

namespace {

// Deliberately weak hashes: every key collides, or every key of one length does.
struct OneHash {
    std::uint64_t operator()(std::string_view) const { return 0; }
};
struct LengthHash {
    std::uint64_t operator()(std::string_view s) const { return s.size(); }
};

// `n` bytes from `seed`: every byte value, NUL and 0xff included; seeds that differ modulo
// 256 give different keys of one length.
std::string key(std::size_t n, unsigned seed) {
    std::string k(n, '\0');
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<char>((seed * 131 + i * 7) & 0xff);
    return k;
}

struct Value {
    std::uint32_t a;
    std::uint16_t b;
};

template <class Table> void check_lengths(Table &t) {
    for (unsigned len = 0; len <= 128; ++len) {
        const auto k = key(len, len);
        REQUIRE(t.find(k) == nullptr);
        const Value &v = t.insert(k, Value{len, static_cast<std::uint16_t>(len * 3)});
        CHECK(v.a == len);
    }
    CHECK(t.size() == 129);
    for (unsigned len = 0; len <= 128; ++len) {
        CAPTURE(len);
        const auto k = key(len, len);
        const Value *v = t.find(k);
        REQUIRE(v != nullptr);
        CHECK(v->a == len);
        CHECK(v->b == len * 3);
        if (len == 0) continue;
        // Same length, one byte different (first, last): not the stored key.
        auto first = k, last = k;
        first.front() = static_cast<char>(first.front() ^ 1);
        last.back() = static_cast<char>(last.back() ^ 0x80);
        CHECK(t.find(first) == nullptr);
        CHECK(t.find(last) == nullptr);
        CHECK(t.find(std::string_view(k).substr(1)) != v); // one shorter: another key's, if any
    }
}

} // namespace

TEST_CASE("keys of every length 0..128 are found with their values, and no near miss is") {
    PrefixTable<Value> t(65536);
    CHECK(t.slots() == 16); // nothing allocated for the capacity up front
    check_lengths(t);
    CHECK(t.slots() == 256); // grown as keys arrived: 129 keys at a load of at most 3/4
}

TEST_CASE("keys whose hashes collide are told apart by their bytes") {
    SUBCASE("every key one hash") {
        PrefixTable<Value, OneHash> t(65536);
        check_lengths(t);
    }
    SUBCASE("every key of one length one hash: same hash, same length, different bytes") {
        PrefixTable<Value, LengthHash> t(65536);
        std::vector<std::string> keys;
        for (unsigned seed = 0; seed < 250; ++seed) keys.push_back(key(40, seed) + "~nl4");
        for (unsigned i = 0; i < keys.size(); ++i) {
            REQUIRE(t.find(keys[i]) == nullptr);
            t.insert(keys[i], Value{i, 0});
        }
        CHECK(t.size() == 250);
        for (unsigned i = 0; i < keys.size(); ++i) {
            const Value *v = t.find(keys[i]);
            REQUIRE(v != nullptr);
            CHECK(v->a == i);
        }
        CHECK(t.find(key(40, 250) + "~nl4") == nullptr);
    }
}

TEST_CASE("past its capacity the table is cleared, then fills again") {
    PrefixTable<Value> t(4);
    for (unsigned i = 0; i < 4; ++i) t.insert(key(20, i), Value{i, 0});
    CHECK(t.size() == 4);
    for (unsigned i = 0; i < 4; ++i) CHECK(t.find(key(20, i)) != nullptr);
    t.insert(key(20, 4), Value{4, 0}); // the fifth: cleared first
    CHECK(t.size() == 1);
    for (unsigned i = 0; i < 4; ++i) CHECK(t.find(key(20, i)) == nullptr);
    REQUIRE(t.find(key(20, 4)) != nullptr);
    CHECK(t.find(key(20, 4))->a == 4);
    // Many rounds of it: every round's keys found, none of the round before.
    for (unsigned i = 5; i < 1000; ++i) {
        t.insert(key(70, i), Value{i, 1});
        REQUIRE(t.find(key(70, i)) != nullptr);
        CHECK(t.find(key(70, i))->a == i);
        CHECK(t.size() == (i - 4) % 4 + 1);
    }
    CHECK(t.find(key(70, 995)) == nullptr); // the round before the last one
    CHECK(t.slots() == 16);                 // never more than 4 keys: never grown
}

TEST_CASE("the classifier caches misses and captures, and starts over past its capacity") {
    auto rf = rules_parse("classes:\n"
                          "  - {name: deny, log_prefix: '^DENY_(?P<handle>[0-9a-f-]+) ',\n"
                          "     direction: egress, verdict: denied}\n",
                          "t.yaml");
    REQUIRE(rf.ok());
    Classifier c(*rf, 3);
    Captures caps;
    for (int round = 0; round < 2; ++round) { // the second: all hits
        CHECK(c.classify("DENY_ab-12 ", &caps) == &rf->classes[0]);
        REQUIRE(caps.n == 1);
        CHECK(caps.value[0] == "ab-12");
        CHECK(c.classify("OK_x ", &caps) == nullptr); // a miss, cached as one
        CHECK(caps.n == 0);
        CHECK(c.cached() == 2);
    }
    // A hit's groups are views into the prefix given, not into the cached copy.
    const std::string again = "DENY_ab-12 ";
    CHECK(c.classify(again, &caps) == &rf->classes[0]);
    CHECK(caps.value[0].data() == again.data() + 5);
    CHECK(c.classify("DENY_cd ", &caps) == &rf->classes[0]);
    CHECK(c.cached() == 3);
    CHECK(c.classify("DENY_ef ", &caps) == &rf->classes[0]); // the fourth: cleared first
    CHECK(caps.value[0] == "ef");
    CHECK(c.cached() == 1);
}
