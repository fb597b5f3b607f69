// Test driver: the config keys netlogd accepts (config_known_keys(), from the parser's own
// tables), and the keys a YAML file uses, in the same dotted form ("nflog.copy_range",
// "outputs[].format", "rate_limit.classes.<class>.rate"). tests/integration/test_manuals.py
// compares them with netlogd.yaml(5) and packaging/netlogd.yaml.
//   config-keys --known
//   config-keys --used FILE
#include <fmt/format.h>
#include <netlog/config.h>
#include <set>
#include <string>
#include <string_view>
#include <yaml-cpp/yaml.h>

namespace {

void walk(const YAML::Node &n, const std::string &path, std::set<std::string> &out) {
    if (n.IsMap()) {
        for (const auto &kv : n) {
            // the children of rate_limit.classes are class names, not keys
            const auto k =
                path == "rate_limit.classes" ? std::string("<class>") : kv.first.Scalar();
            const auto name = path.empty() ? k : fmt::format("{}.{}", path, k);
            if (k != "<class>") out.insert(name);
            walk(kv.second, name, out);
        }
    } else if (n.IsSequence()) {
        for (const auto &e : n) walk(e, path + "[]", out);
    }
}

} // namespace

int main(int argc, char **argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode == "--known" && argc == 2) {
        for (const auto &k : netlog::config_known_keys()) fmt::print("{}\n", k);
        return 0;
    }
    if (mode == "--used" && argc == 3) {
        try {
            std::set<std::string> keys;
            walk(YAML::LoadFile(argv[2]), "", keys);
            for (const auto &k : keys) fmt::print("{}\n", k);
            return 0;
        } catch (const YAML::Exception &e) {
            fmt::print(stderr, "config-keys: {}: {}\n", argv[2], e.what());
            return 1;
        }
    }
    fmt::print(stderr, "usage: config-keys --known | --used FILE\n");
    return 2;
}
