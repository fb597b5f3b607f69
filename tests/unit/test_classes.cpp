#include <doctest/doctest.h>
#include <netlog/classes.h>

#include <fstream>
#include <sstream>

using namespace netlog;

static std::string read_file(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

TEST_CASE("the Cloud Foundry rules file classifies every prefix of the facts file") {
    auto rf = rules_parse(read_file(NETLOG_SOURCE_ROOT "/rules/cloudfoundry.yaml"), "cloudfoundry.yaml");
    REQUIRE_MESSAGE(rf.ok(), (rf.ok() ? "" : rf.error().message));
    CHECK(rf->nflog.group == 42);
    CHECK(rf->groups() == std::vector<std::uint16_t>{42});
    Classifier c(*rf);
    // Prefixes from ../shared/facts/cloudfoundry.md §3 (real kern.log samples).
    struct { const char *prefix, *cls; Direction d; Verdict v; } cases[] = {
        {"DENY_C2C_cb40f81e-52ce-41c5- ", "c2c-ingress-denied", Direction::ingress, Verdict::denied},
        {"OK_0002_e9e8959f-3828-4136-8 ", "c2c-ingress-allowed", Direction::ingress, Verdict::allowed},
        {"DENY_d538d169-f2f6-4587-77b1 ", "asg-egress-denied", Direction::egress, Verdict::denied},
        {"OK_container-handle-1-longer ", "asg-egress-allowed", Direction::egress, Verdict::allowed},
        {"DENY_ORL_d538d169-f2f6-4587-77b1", "asg-egress-denied-rate", Direction::egress, Verdict::denied},
        // an ASG handle that starts with 4 hex digits and '_' cannot occur (handles are guids
        // with dashes), but "OK_d538..." must not be taken for a c2c tag:
        {"OK_d538d169-f2f6-4587-77b1-f ", "asg-egress-allowed", Direction::egress, Verdict::allowed},
    };
    for (auto &k : cases) {
        CAPTURE(k.prefix);
        const auto *m = c.classify(k.prefix);
        REQUIRE(m != nullptr);
        CHECK(m->name == k.cls);
        CHECK(m->direction == k.d);
        CHECK(m->verdict == k.v);
        CHECK(c.classify(k.prefix) == m); // cached answer is the same
    }
    CHECK(c.classify("calico-packet: ") == nullptr);
    CHECK(c.cached() == 7);
}

TEST_CASE("a class may name its own group") {
    auto rf = rules_parse(read_file(NETLOG_SOURCE_ROOT "/rules/example.yaml"), "example.yaml");
    REQUIRE(rf.ok());
    CHECK(rf->groups() == std::vector<std::uint16_t>{100, 101});
}

TEST_CASE("a bad rules file is refused with file, line, column and key") {
    auto bad_regex = rules_parse("classes:\n  - {name: a, log_prefix: '^OK_(', direction: ingress, verdict: allowed}\n", "r.yaml");
    REQUIRE(!bad_regex.ok());
    CHECK(bad_regex.error().message.find("r.yaml:2:") == 0);
    CHECK(bad_regex.error().message.find("classes[0].log_prefix") != std::string::npos);

    auto bad_dir = rules_parse("classes:\n  - {name: a, log_prefix: x, direction: sideways, verdict: allowed}\n", "r.yaml");
    REQUIRE(!bad_dir.ok());
    CHECK(bad_dir.error().message.find("classes[0].direction") != std::string::npos);
    CHECK(bad_dir.error().message.find("sideways") != std::string::npos);

    auto unknown = rules_parse("nflog: {grup: 3}\nclasses: []\n", "r.yaml");
    REQUIRE(!unknown.ok());
    CHECK(unknown.error().message.find("nflog.grup") != std::string::npos);

    auto range = rules_parse("nflog: {group: 70000}\nclasses: [{name: a, log_prefix: x, direction: ingress, verdict: allowed}]\n", "r.yaml");
    REQUIRE(!range.ok());
    CHECK(range.error().message.find("out of range") != std::string::npos);

    auto missing = rules_parse("nflog: {group: 1}\n", "r.yaml");
    REQUIRE(!missing.ok());
    CHECK(missing.error().message.find("classes") != std::string::npos);

    auto dup = rules_parse("classes: [{name: a, log_prefix: x, direction: ingress, verdict: allowed}, {name: a, log_prefix: y, direction: ingress, verdict: allowed}]\n", "r.yaml");
    REQUIRE(!dup.ok());
    CHECK(dup.error().message.find("duplicate") != std::string::npos);

    auto syntax = rules_parse("classes: [\n", "r.yaml");
    REQUIRE(!syntax.ok());
    CHECK(syntax.error().message.find("r.yaml:") == 0);
}

// Found by fuzz_rules (CI run of 2026-11-23): libstdc++'s regex compiler multiplies a
// repetition count into a long without checking, so `{8888888888888888888}` was undefined
// behaviour before the pattern ever reached std::regex.
TEST_CASE("a repetition count no prefix could need is refused before std::regex sees it") {
    auto huge = rules_parse("classes:\n  - {name: a, log_prefix: '^OK_[0-9a-f]{888888888888888888888884}_', direction: ingress, verdict: allowed}\n", "r.yaml");
    REQUIRE(!huge.ok());
    CHECK(huge.error().message.find("r.yaml:2:") == 0);
    CHECK(huge.error().message.find("too large") != std::string::npos);
    // libstdc++ reads the digits even when no '}' closes them (a 10-minute fuzz run)
    auto unclosed = rules_parse("classes:\n  - {name: a, log_prefix: 'a-f]{8888884444444444444444,OUT_OK4}_', direction: ingress, verdict: allowed}\n", "r.yaml");
    CHECK(!unclosed.ok());
    auto range = rules_parse("classes:\n  - {name: a, log_prefix: 'x{2,300}', direction: ingress, verdict: allowed}\n", "r.yaml");
    CHECK(!range.ok());
    auto escaped = rules_parse("classes:\n  - {name: a, log_prefix: '^OK_\\{99999}', direction: ingress, verdict: allowed}\n", "r.yaml");
    CHECK(escaped.ok());
    auto fine = rules_parse("classes:\n  - {name: a, log_prefix: '^OK_[0-9a-f]{4}_', direction: ingress, verdict: allowed}\n", "r.yaml");
    CHECK(fine.ok());
}

TEST_CASE("nested repetition counts that would make std::regex huge are refused") {
    auto nested = rules_parse("classes:\n  - {name: a, log_prefix: '((a{200}){200}){200}', direction: ingress, verdict: allowed}\n", "r.yaml");
    REQUIRE(!nested.ok());
    CHECK(nested.error().message.find("too large") != std::string::npos);
}

// fuzz_rules (10-minute run, 2026-11-23): ~100 stacked `?` took std::regex 9 s.
TEST_CASE("a pattern made of dozens of quantifiers is refused as too complex") {
    std::string re = "^DENY_C2C";
    for (int i = 0; i < 40; ++i) re += "x?";
    auto many = rules_parse("classes:\n  - {name: a, log_prefix: '" + re + "', direction: ingress, verdict: allowed}\n", "r.yaml");
    REQUIRE(!many.ok());
    CHECK(many.error().message.find("too complex") != std::string::npos);
}

// fuzz_rules in CI (2026-11-23): a back-reference's digits overflow libstdc++ the same way.
TEST_CASE("a back-reference with more than three digits is refused before std::regex") {
    auto huge = rules_parse("classes:\n  - {name: a, log_prefix: '(a)\\5555555555555555555555', direction: ingress, verdict: allowed}\n", "r.yaml");
    REQUIRE(!huge.ok());
    CHECK(huge.error().message.find("back-reference") != std::string::npos);
    auto escaped = rules_parse("classes:\n  - {name: a, log_prefix: '\\\\5555555555', direction: ingress, verdict: allowed}\n", "r.yaml");
    CHECK(escaped.ok()); // `\\` then literal digits
}
