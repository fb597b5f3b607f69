// netlogd.yaml keys for running in production (include/netlog/config.h): `user`, and the
// list of every key the parser accepts (config_known_keys, compared with netlogd.yaml(5)).
#include <doctest/doctest.h>

#include <netlog/config.h>

#include <string>

using namespace netlog;

TEST_CASE("user names the account netlogd switches to; absent, it stays uid 0") {
    auto r = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\nuser: netlog\n", "n.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(r->user == "netlog");
    auto d = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\n", "n.yaml");
    REQUIRE(d.ok());
    CHECK(d->user.empty());
}

TEST_CASE("an empty or non-text user is refused at its position") {
    auto r = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\nuser: ''\n", "n.yaml");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "n.yaml:3:7: key 'user': must not be empty");
    auto l = config_parse("rules: r.yaml\noutputs: [{type: stdout}]\nuser: [a, b]\n", "n.yaml");
    REQUIRE_FALSE(l.ok());
    CHECK(l.error().message.find("n.yaml:3:7: key 'user': expected a string") == 0);
}
