#include <doctest/doctest.h>
#include <netlog/classes.h>
#include <fmt/format.h>
#include <re2/re2.h>

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
    auto rf =
        rules_parse(read_file(NETLOG_SOURCE_ROOT "/rules/cloudfoundry.yaml"), "cloudfoundry.yaml");
    REQUIRE_MESSAGE(rf.ok(), (rf.ok() ? "" : rf.error().message));
    CHECK(rf->nflog.group == 42);
    CHECK(rf->groups() == std::vector<std::uint16_t>{42});
    Classifier c(*rf);
    // Prefixes from ../shared/facts/cloudfoundry.md §3 (real kern.log samples).
    struct {
        const char *prefix, *cls;
        Direction d;
        Verdict v;
    } cases[] = {
        {"DENY_C2C_cb40f81e-52ce-41c5- ", "c2c-ingress-denied", Direction::ingress,
         Verdict::denied},
        {"OK_0002_e9e8959f-3828-4136-8 ", "c2c-ingress-allowed", Direction::ingress,
         Verdict::allowed},
        {"DENY_d538d169-f2f6-4587-77b1 ", "asg-egress-denied", Direction::egress, Verdict::denied},
        {"OK_container-handle-1-longer ", "asg-egress-allowed", Direction::egress,
         Verdict::allowed},
        {"DENY_ORL_d538d169-f2f6-4587-77b1", "asg-egress-denied-rate", Direction::egress,
         Verdict::denied},
        // an ASG handle that starts with 4 hex digits and '_' cannot occur (handles are guids
        // with dashes), but "OK_d538..." must not be taken for a c2c tag:
        {"OK_d538d169-f2f6-4587-77b1-f ", "asg-egress-allowed", Direction::egress,
         Verdict::allowed},
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
    auto bad_regex = rules_parse(
        "classes:\n  - {name: a, log_prefix: '^OK_(', direction: ingress, verdict: allowed}\n",
        "r.yaml");
    REQUIRE(!bad_regex.ok());
    CHECK(bad_regex.error().message.find("r.yaml:2:") == 0);
    CHECK(bad_regex.error().message.find("classes[0].log_prefix") != std::string::npos);

    auto bad_dir = rules_parse(
        "classes:\n  - {name: a, log_prefix: x, direction: sideways, verdict: allowed}\n",
        "r.yaml");
    REQUIRE(!bad_dir.ok());
    CHECK(bad_dir.error().message.find("classes[0].direction") != std::string::npos);
    CHECK(bad_dir.error().message.find("sideways") != std::string::npos);

    auto unknown = rules_parse("nflog: {grup: 3}\nclasses: []\n", "r.yaml");
    REQUIRE(!unknown.ok());
    CHECK(unknown.error().message.find("nflog.grup") != std::string::npos);

    auto range = rules_parse(
        "nflog: {group: 70000}\nclasses: [{name: a, log_prefix: x, direction: ingress, verdict: allowed}]\n",
        "r.yaml");
    REQUIRE(!range.ok());
    CHECK(range.error().message.find("out of range") != std::string::npos);

    auto missing = rules_parse("nflog: {group: 1}\n", "r.yaml");
    REQUIRE(!missing.ok());
    CHECK(missing.error().message.find("classes") != std::string::npos);

    auto dup = rules_parse(
        "classes: [{name: a, log_prefix: x, direction: ingress, verdict: allowed}, {name: a, log_prefix: y, direction: ingress, verdict: allowed}]\n",
        "r.yaml");
    REQUIRE(!dup.ok());
    CHECK(dup.error().message.find("duplicate") != std::string::npos);

    auto syntax = rules_parse("classes: [\n", "r.yaml");
    REQUIRE(!syntax.ok());
    CHECK(syntax.error().message.find("r.yaml:") == 0);
}

// Inputs fuzz_rules found against the regex engine used before RE2 (an overflowing
// repetition count, stacked quantifiers that took seconds, an overflowing back-reference):
// each is now either refused with the file, line and key, or compiled and matched in
// linear time.
static Result<RulesFile> one_class(const std::string &log_prefix) {
    return rules_parse("classes:\n  - {name: a, log_prefix: '" + log_prefix +
                           "', direction: ingress, verdict: allowed}\n",
                       "r.yaml");
}

TEST_CASE("a repetition count RE2 refuses is one clear line with file, line and key") {
    auto big = one_class("^OK_[0-9a-f]{2,1001}_"); // RE2's bound on a count is 1000
    REQUIRE(!big.ok());
    CHECK(big.error().message.find("r.yaml:2:") == 0);
    CHECK(big.error().message.find("classes[0].log_prefix") != std::string::npos);
    CHECK(big.error().message.find("invalid repetition size") != std::string::npos);
    // a count too large to read is no count: RE2 (as Perl) takes `{...}` literally
    auto huge = one_class("^OK_[0-9a-f]{888888888888888888888884}_");
    REQUIRE(huge.ok());
    CHECK(rules_match(*huge, "OK_a{888888888888888888888884}_") != nullptr);
    // nested counts multiply: refused, not compiled into a huge program
    auto nested = one_class("((a{200}){200}){200}");
    REQUIRE(!nested.ok());
    CHECK(nested.error().message.find("classes[0].log_prefix") != std::string::npos);
    // a '{' that does not open a count is a literal
    auto unclosed = one_class("a-f]{8888884444444444444444,OUT_OK4}_");
    REQUIRE(unclosed.ok());
    CHECK(rules_match(*unclosed, "a-f]{8888884444444444444444,OUT_OK4}_") != nullptr);
    auto escaped = one_class("^OK_\\{99999}");
    REQUIRE(escaped.ok());
    CHECK(rules_match(*escaped, "OK_{99999}") != nullptr);
    auto fine = one_class("^OK_[0-9a-f]{4}_");
    REQUIRE(fine.ok());
    CHECK(rules_match(*fine, "OK_00af_x") != nullptr);
    CHECK(rules_match(*fine, "OK_00a_x") == nullptr);
}

TEST_CASE("stacked quantifiers compile and match (no backtracking to blow up)") {
    std::string re = "^DENY_C2C";
    for (int i = 0; i < 100; ++i) re += "x?";
    re += "y";
    auto many = one_class(re);
    REQUIRE(many.ok());
    CHECK(rules_match(*many, "DENY_C2C" + std::string(100, 'x') + "y") != nullptr);
    CHECK(rules_match(*many, "DENY_C2C" + std::string(60, 'x')) == nullptr);
}

TEST_CASE("back-references and look-around are refused, naming RE2 syntax") {
    auto huge = one_class("(a)\\5555555555555555555555");
    REQUIRE(!huge.ok());
    CHECK(huge.error().message.find("r.yaml:2:") == 0);
    CHECK(huge.error().message.find("RE2 syntax") != std::string::npos);
    CHECK(!one_class("(a)\\1").ok());
    CHECK(!one_class("^DENY_(?=C2C)").ok());
    auto escaped = one_class("\\\\5555555555"); // `\\` then literal digits
    REQUIRE(escaped.ok());
    CHECK(rules_match(*escaped, "\\5555555555") != nullptr);
}

TEST_CASE("a refused pattern is shown on one line, shortened") {
    auto r = rules_parse("classes:\n  - {name: a, log_prefix: \"(\\n" + std::string(200, 'x') +
                             "\", direction: ingress, verdict: allowed}\n",
                         "r.yaml");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("r.yaml:2:") == 0);
    CHECK(r.error().message.find('\n') == std::string::npos);
    CHECK(r.error().message.find("(\\x0a") != std::string::npos);
    CHECK(r.error().message.size() < 400);
}

TEST_CASE("a prefix is bytes: a pattern's bytes match the same bytes") {
    auto r = one_class("^DENY_.\\xff");
    REQUIRE(r.ok());
    CHECK(rules_match(*r, std::string("DENY_\xc3\xff", 7)) != nullptr);
}

TEST_CASE("named groups give their text for a matching prefix") {
    auto r = one_class("^(DENY)_(?P<kind>C2C|ORL)?_?(?P<handle>[0-9a-f]{8})(?P<rest>-x)?");
    REQUIRE(r.ok());
    const ClassDef &c = r->classes[0];
    CHECK(c.group_names == std::vector<std::string>{"kind", "handle", "rest"});
    Captures v;
    REQUIRE(class_captures(c, "DENY_C2C_cb40f81e-52ce", v));
    REQUIRE(v.n == 3);
    CHECK(v.value[0] == "C2C");
    CHECK(v.value[1] == "cb40f81e");
    CHECK(v.value[2].empty()); // took no part in the match
    REQUIRE(class_captures(c, "DENY_d538d169-x", v));
    CHECK(v.value[0].empty());
    CHECK(v.value[1] == "d538d169");
    CHECK(v.value[2] == "-x");
    CHECK(!class_captures(c, "OK_0002_e9e8959f", v));
    CHECK(v.n == 0);
    auto plain = one_class("^OK_");
    REQUIRE(plain.ok());
    CHECK(plain->classes[0].group_names.empty());
    CHECK(class_captures(plain->classes[0], "OK_x", v));
    CHECK(v.n == 0);
}

TEST_CASE(
    "a literal head and one group taking the rest classify without a regex pass, as RE2 would") {
    auto fast = one_class("^DENY_C2C_(?P<container_handle>(?s:.*))");
    REQUIRE(fast.ok());
    CHECK(fast->classes[0].literal_then_rest);
    // without (?s) '.' stops at a newline: RE2 decides
    auto slow = one_class("^DENY_C2C_(?P<container_handle>.*)");
    REQUIRE(slow.ok());
    CHECK_FALSE(slow->classes[0].literal_then_rest);
    for (const std::string &prefix :
         {std::string("DENY_C2C_cb40f81e-52ce "), std::string("DENY_C2C_"),
          std::string("DENY_C2C_a\nb"), std::string("DENY_C2C_x\0y", 12), std::string("DENY_C"),
          std::string("x DENY_C2C_a")}) {
        Captures shortcut, re2;
        const ClassDef *a = rules_match(*fast, prefix, &shortcut);
        const bool matched = class_captures(fast->classes[0], prefix, re2);
        CHECK((a != nullptr) == matched);
        CHECK(shortcut.n == re2.n);
        if (matched) CHECK(shortcut.value[0] == re2.value[0]);
    }
}

TEST_CASE(
    "a file of many classes finds the first matching class in one pass, as trying each would") {
    // 24 classes, half with a literal head, half without; several match some prefixes.
    std::string text = "classes:\n";
    for (int i = 0; i < 24; ++i)
        text += i % 2 == 0 ? fmt::format("  - {{name: c{}, log_prefix: '^P{}_(?P<rule_id>[0-9]+)', "
                                         "direction: egress, verdict: denied}}\n",
                                         i, i % 5)
                           : fmt::format("  - {{name: c{}, log_prefix: '(?:Q|X){}[a-z]*$', "
                                         "direction: egress, verdict: denied}}\n",
                                         i, i % 3);
    auto r = rules_parse(text, "rules.yaml");
    REQUIRE(r.ok());
    REQUIRE(r->set != nullptr);
    for (const std::string_view prefix :
         {"P0_12", "P3_7x", "P4_", "Q1abc", "zzX2", "X2a1", "", "P1_9 Q0", "none"}) {
        // the oracle: RE2 on each class's pattern, in the file's order
        const ClassDef *want = nullptr;
        for (const auto &c : r->classes)
            if (re2::RE2::PartialMatch(re2::StringPiece(prefix.data(), prefix.size()),
                                       *c.pattern)) {
                want = &c;
                break;
            }
        Captures caps;
        CHECK_MESSAGE(rules_match(*r, prefix, &caps) == want, std::string(prefix));
        if (want && !want->group_names.empty()) {
            Captures one;
            REQUIRE(class_captures(*want, prefix, one));
            CHECK(caps.n == one.n);
            CHECK(caps.value[0] == one.value[0]);
        }
    }
    auto few = one_class("^A_");
    REQUIRE(few.ok());
    CHECK(few->set == nullptr); // a few classes: one by one
}
