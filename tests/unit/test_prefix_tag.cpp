// The options tag of the companion prefix (the shared contract in the project brief):
// `<prefix>~nl<L><FF>`; golden values from the contract's own example and the kernel's
// LOG flag bits (linux/netfilter/xt_LOG.h).
#include <netlog/prefix_tag.h>
#include <netlog/ruleplan.h>

#include <doctest/doctest.h>

using namespace netlog;

TEST_CASE("the contract's example: DENY_C2C at level 6 with tcp-sequence and uid") {
    LogOptions o{"DENY_C2C ", 6, log_flag_tcpseq | log_flag_uid};
    CHECK(prefix_tag_add(o) == "DENY_C2C ~nl609");
    CHECK(prefix_tag_strip("DENY_C2C ~nl609") == o);
}

TEST_CASE("the LOG target's defaults get no tag, and a prefix without a tag strips to itself") {
    CHECK(prefix_tag_add({"OK_0002_e9e8959f-3828-4136-8 ", 4, 0}) ==
          "OK_0002_e9e8959f-3828-4136-8 ");
    LogOptions o = prefix_tag_strip("[UFW BLOCK] ");
    CHECK(o.prefix == "[UFW BLOCK] ");
    CHECK(o.level == 4);
    CHECK(o.flags == 0);
}

TEST_CASE("a prefix that ends like a tag always gets one, so one strip is exact") {
    LogOptions o{"NOTTCP ~nl412", 4, 0};
    CHECK(prefix_has_tag_shape(o.prefix));
    CHECK(prefix_tag_add(o) == "NOTTCP ~nl412~nl400");
    CHECK(prefix_tag_strip("NOTTCP ~nl412~nl400") == o);
    CHECK_FALSE(prefix_has_tag_shape("x~nl812")); // level 8 is not a syslog level
    CHECK_FALSE(prefix_has_tag_shape("x~nl4A0")); // hex digits are lowercase
    CHECK_FALSE(prefix_has_tag_shape("~nl40"));
}

TEST_CASE("every flag and level survives the round trip") {
    for (std::uint8_t level = 0; level < 8; ++level)
        for (std::uint8_t flags : {0x00, 0x01, 0x02, 0x04, 0x08, 0x20, 0x2f}) {
            LogOptions o{"P ", level, flags};
            CAPTURE(int(level));
            CAPTURE(int(flags));
            CHECK(prefix_tag_strip(prefix_tag_add(o)) == o);
        }
    CHECK(prefix_tag_add({"ALL ", 7, log_flags_known}) == "ALL ~nl72f");
}

TEST_CASE("an nft rule comment splits into the rule's own text and the owner tag's class") {
    CHECK(comment_split("netlog:edge").owner_class == "edge");
    CHECK(comment_split("netlog:edge").own.empty());
    CommentParts p = comment_split("web: who sends netlog:edge");
    CHECK(p.own == "web: who sends");
    CHECK(p.owner_class == "edge");
    CHECK(comment_split("cali:Cz_u1IQiXIMmKD4c").owner_class.empty());
    CHECK(comment_split("netlog:a b").owner_class.empty()); // the tag is the last word
    Companion c{"edge", 42, "EDGE_WEB ~nl408", 128, 32, "web: who sends"};
    CHECK(c.nft_comment() == "web: who sends netlog:edge");
}

TEST_CASE("the split without a copy views the same prefix, level and flags as the strip") {
    for (std::string_view p : {"DENY_C2C ~nl609", "[UFW BLOCK] ", "NOTTCP ~nl412~nl400", "x~nl812",
                               "", "~nl7ff", "K~nl02f"}) {
        CAPTURE(p);
        const LogOptionsView v = prefix_tag_split(p);
        const LogOptions o = prefix_tag_strip(p);
        CHECK(v.prefix == o.prefix);
        CHECK(v.level == o.level);
        CHECK(v.flags == o.flags);
        CHECK(v.prefix.data() == p.data()); // a view, not a copy
    }
}
