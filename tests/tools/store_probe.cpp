// store-probe: the StoreWatcher as the store integration tests see it. Watches STORE and
// prints one JSON line on stdout per successful load (what the pipeline would pick up);
// the watcher's log lines go to stderr as "info: ..." / "error: ...". Exits on SIGTERM/SIGINT.
//   store-probe STORE            watch
//   store-probe --once STORE     one load, print, exit (1 if the store is bad)
#include "store_watcher.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

using namespace netlog;

namespace {

std::mutex out_mutex;

void emit(FILE *f, const std::string &line) {
    std::lock_guard lock(out_mutex);
    std::fprintf(f, "%s\n", line.c_str());
    std::fflush(f);
}

std::string describe(const ContainerIndex &idx, std::uint64_t generation, std::uint64_t load_us) {
    nlohmann::json j;
    j["generation"] = generation;
    j["containers"] = idx.size();
    j["load_us"] = load_us;
    if (idx.size() <= 1000) {
        // every container as the lookups see it: by handle, and by IP when it has one
        auto by_handle = nlohmann::json::object(), by_ip = nlohmann::json::object();
        for (const Container &c : idx.containers()) {
            const Container *h = idx.by_handle(c.handle);
            if (!h) continue;
            by_handle[c.handle] = {h->app_guid, h->space_guid, h->organization_guid};
            if (c.ip.family == L3::none) continue;
            char text[INET6_ADDRSTRLEN] = {};
            inet_ntop(c.ip.family == L3::ipv4 ? AF_INET : AF_INET6, c.ip.bytes.data(), text,
                      sizeof text);
            if (const Container *i = idx.by_ip(c.ip)) by_ip[text] = i->handle;
        }
        j["by_handle"] = by_handle;
        j["by_ip"] = by_ip;
    }
    return j.dump();
}

} // namespace

int main(int argc, char **argv) {
    bool once = argc == 3 && std::strcmp(argv[1], "--once") == 0;
    if (argc != 2 && !once) {
        std::fprintf(stderr, "usage: store-probe [--once] STORE\n");
        return 2;
    }
    std::string path = argv[argc - 1];
    if (once) {
        StoreReport report;
        auto idx = StoreWatcher::load(path, std::chrono::milliseconds(1000), &report);
        if (!idx.ok()) {
            emit(stderr, "error: " + idx.error().message);
            return 1;
        }
        emit(stdout, describe(**idx, 1, 0));
        return 0;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr); // the watcher thread inherits the mask

    StoreWatcher *watcher = nullptr;
    StoreWatcher::Options opts;
    opts.path = path;
    opts.log = [](StoreLogLevel level, std::string_view line) {
        emit(stderr,
             std::string(level == StoreLogLevel::error ? "error: " : "info: ") + std::string(line));
    };
    std::uint64_t loads = 0;
    opts.on_load = [&](const std::shared_ptr<const ContainerIndex> &idx) {
        ++loads; // on_load runs once per successful load, in order
        emit(stdout, describe(*idx, loads, watcher ? watcher->stats().last_load_us : 0));
    };
    auto w = StoreWatcher::open(opts);
    if (!w.ok()) {
        emit(stderr, "error: " + w.error().message);
        return 1;
    }
    watcher = w->get();
    (*w)->start();
    emit(stderr, "info: watching");
    int sig = 0;
    sigwait(&set, &sig);
    auto st = (*w)->stats();
    emit(stderr, "info: stats reloads_ok=" + std::to_string(st.reloads_ok) +
                     " reloads_failed=" + std::to_string(st.reloads_failed) +
                     " containers=" + std::to_string(st.containers));
    return 0;
}
