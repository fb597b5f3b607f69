// libFuzzer: rules file text -> rules_parse -> rules_match / Classifier. A refusal names the
// file; an accepted file has classes with compiled patterns, and the cached classifier
// agrees with the uncached match on every prefix tried (the class names and a few
// prefixes derived from the input, as NFLOG prefixes are: at most 64 bytes).
#include <netlog/classes.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool ok, const char *what, const std::string &detail) {
    if (!ok) {
        std::fprintf(stderr, "fuzz check failed: %s\n%s\n", what, detail.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    auto r = netlog::rules_parse(text, "fuzz-rules.yaml");
    if (!r) {
        const std::string &m = r.error().message;
        require(m.rfind("fuzz-rules.yaml", 0) == 0, "a refusal that does not name the file", m);
        return 0;
    }
    for (const auto &c : r->classes) {
        require(!c.name.empty(), "a class without a name", c.log_prefix);
        require(c.pattern != nullptr, "a class without a compiled pattern", c.name);
    }
    const auto groups = r->groups();
    for (std::size_t i = 1; i < groups.size(); ++i)
        require(groups[i - 1] < groups[i], "groups() not distinct and ascending", "");

    netlog::Classifier cl(*r, 4);
    std::string probes[] = {"OK_0002_",
                            "DENY_C2C_abc",
                            "DENY_",
                            "",
                            std::string(text.substr(0, 64)),
                            std::string(text.substr(text.size() > 64 ? text.size() - 64 : 0))};
    for (int round = 0; round < 2; ++round)
        for (const auto &p : probes) {
            const netlog::ClassDef *a = netlog::rules_match(*r, p);
            const netlog::ClassDef *b = cl.classify(p);
            require(a == b, "the classifier disagrees with rules_match", p);
        }
    for (const auto &c : r->classes) (void)cl.classify(c.name);
    return 0;
}
