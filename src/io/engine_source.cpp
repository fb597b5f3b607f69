// The Docker/Podman API followed on its unix socket: list, events, lookups, reconnects.
#include "poller.h"
#include "engine_source.h"
#include "clock.h"

#include "unix_http.h"

#include "engine_api.h"
#include "engine_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <poll.h>
#include <unistd.h>
#include <vector>

namespace netlog::io {

namespace {

// /events?filters={"type":["container","network"]}
constexpr const char *events_target =
    "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D";

// A container id as it may go into a path: the daemon's ids are hex; anything else is
// not looked up.
bool plain_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_' || c == '-' || c == '.';
    });
}

} // namespace

struct EngineSource::State {
    explicit State(std::int64_t grace_ns) : index(grace_ns) {}
    EngineIndex index;
    EngineLabelFilter labels;
};

std::unique_ptr<EngineSource> EngineSource::create(Options options) {
    return std::unique_ptr<EngineSource>(new EngineSource(std::move(options)));
}

EngineSource::EngineSource(Options o) : opts_(std::move(o)) {
    name_ = std::string(to_string(opts_.kind));
    st_ = std::make_unique<State>(static_cast<std::int64_t>(opts_.config.grace * 1e9));
    st_->labels.keys = opts_.config.labels;
    current_.store(std::make_shared<const ContainerIndex>());
    health_.source = name_;
    health_.socket = opts_.config.socket;
}

EngineSource::~EngineSource() {
    stop();
}

void EngineSource::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    stop_wake_.drain(); // a stop() before this one
    thread_ = std::thread([this] { run(); });
}

void EngineSource::stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    wake_.notify();
    stop_wake_.notify();
    thread_.join();
}

void EngineSource::request_reload() {
    reload_ = true;
    wake_.notify();
}

EngineSource::Health EngineSource::health() const {
    std::lock_guard lk(mu_);
    return health_;
}

std::string EngineSource::describe() const {
    return fmt::format("{} at unix://{}", name_, opts_.config.socket);
}

void EngineSource::log(std::string_view line) const {
    if (opts_.log)
        opts_.log(line);
    else
        fmt::print(stderr, "netlogd: {}\n", line);
}

// One line per distinct failure: a daemon that stays away is said once, not every retry.
void EngineSource::fail(const std::string &what) {
    {
        std::lock_guard lk(mu_);
        health_.last_error = what;
    }
    if (what == last_failure_) return;
    last_failure_ = what;
    const auto idx = current();
    log(fmt::format("metadata: {}: {}; keeping the last index ({} containers), retrying", name_,
                    what, idx ? idx->size() : 0));
}

bool EngineSource::wait(std::int64_t ms) {
    const auto deadline = base::monotonic_ns() + ms * 1'000'000;
    while (!stop_) {
        const auto left = (deadline - base::monotonic_ns()) / 1'000'000;
        if (left <= 0) break;
        if (base::wait_fd(wake_.fd(), POLLIN, static_cast<int>(left)) > 0) {
            wake_.drain();
            if (reload_) break; // SIGHUP: try now
        }
    }
    return !stop_;
}

void EngineSource::publish(std::int64_t event_time_ns) {
    current_.store(st_->index.build());
    generation_.fetch_add(1, std::memory_order_release);
    std::lock_guard lk(mu_);
    health_.running = st_->index.running();
    health_.gone = st_->index.gone();
    if (event_time_ns > 0)
        health_.last_event_lag = static_cast<double>(base::realtime_ns() - event_time_ns) / 1e9;
}

void EngineSource::run() {
    std::int64_t backoff_ms = 100;
    while (!stop_) {
        reload_ = false;
        if (session()) backoff_ms = 100; // it followed events: the next try starts afresh
        if (stop_) break;
        if (!wait(backoff_ms)) break;
        backoff_ms = std::min<std::int64_t>(backoff_ms * 2, 5000);
    }
}

bool EngineSource::session() {
    const auto &sock = opts_.config.socket;
    const auto failed = [&](const std::string &what) {
        {
            std::lock_guard lk(mu_);
            ++health_.failures;
        }
        fail(what);
        return false;
    };
    auto v = unix_http_get(sock, "/version", opts_.request_timeout_ms, stop_wake_.fd());
    if (!v) return stop_ ? false : failed(v.error().message);
    if (v->status != 200)
        return failed(fmt::format("GET /version answered HTTP {}{}", v->status,
                                  engine_error_message(v->body).empty()
                                      ? std::string()
                                      : ": " + engine_error_message(v->body)));
    auto ver = engine_parse_version(v->body);
    if (!ver)
        return failed(fmt::format("unix://{} is not a Docker API ({})", sock, ver.error().message));
    if (engine_compare_api_version(ver->api_version, engine_min_api_version) < 0)
        return failed(fmt::format("API version {} of unix://{} is too old: netlogd needs {} or "
                                  "later (Docker 1.12, Podman 2.0)",
                                  ver->api_version, sock, engine_min_api_version));

    auto events =
        UnixHttpStream::open(sock, events_target, opts_.request_timeout_ms, stop_wake_.fd());
    if (!events) return stop_ ? false : failed(events.error().message);
    if ((*events)->status() != 200) {
        std::string body;
        (*events)->read_some(body);
        return failed(fmt::format("GET /events answered HTTP {} {}", (*events)->status(),
                                  engine_error_message(body)));
    }
    auto list = unix_http_get(sock, "/containers/json", opts_.list_timeout_ms, stop_wake_.fd());
    if (!list) return stop_ ? false : failed(list.error().message);
    if (list->status != 200)
        return failed(fmt::format("GET /containers/json answered HTTP {} {}", list->status,
                                  engine_error_message(list->body)));
    auto containers = engine_parse_list(list->body, st_->labels);
    if (!containers) return failed(containers.error().message);
    const auto listed = containers->size();
    list->body = {};
    st_->index.apply_list(std::move(*containers), base::monotonic_ns());
    st_->index.expire(base::monotonic_ns());
    publish();
    const auto daemon = fmt::format("{} {} (API {})", ver->engine.empty() ? name_ : ver->engine,
                                    ver->version, ver->api_version);
    {
        std::lock_guard lk(mu_);
        health_.up = true;
        ++health_.connects;
        health_.daemon = daemon;
    }
    last_failure_.clear();
    log(fmt::format("metadata: {}: {} at unix://{}: {} running containers; following events", name_,
                    daemon, sock, listed));

    // Follow the events. Lines may be split across reads; a line is an event.
    std::string buf, reason;
    std::vector<std::string> lookups; // ids to inspect after this read, in order, once each
    base::Poller p;
    p.add((*events)->fd());
    const auto wake = p.add(wake_.fd());
    for (;;) {
        int timeout = -1;
        if (const auto next = st_->index.next_expiry(); next != 0)
            timeout = static_cast<int>(
                std::clamp<std::int64_t>((next - base::monotonic_ns()) / 1'000'000 + 1, 0, 60'000));
        const int n = p.wait(timeout);
        if (n < 0) {
            reason = fmt::format("poll: {}", std::strerror(errno));
            break;
        }
        if (stop_) return true;
        if (p.readable(wake)) wake_.drain();
        if (reload_.exchange(false)) { // SIGHUP: the list again, on this connection's watch
            auto again =
                unix_http_get(sock, "/containers/json", opts_.list_timeout_ms, stop_wake_.fd());
            auto parsed =
                again && again->status == 200
                    ? engine_parse_list(again->body, st_->labels)
                    : Result<std::vector<EngineContainer>>(make_error(
                          again ? fmt::format("HTTP {}", again->status) : again.error().message));
            if (!parsed) {
                reason = fmt::format("listing again: {}", parsed.error().message);
                break;
            }
            st_->index.apply_list(std::move(*parsed), base::monotonic_ns());
            publish();
        }
        bool changed = st_->index.expire(base::monotonic_ns());
        const bool open = (*events)->read_some(buf);
        std::int64_t newest_event = 0;
        std::size_t start = 0;
        for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n', start)) {
            const std::string_view line(buf.data() + start, nl - start);
            start = nl + 1;
            if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
            auto ev = engine_parse_event(line);
            {
                std::lock_guard lk(mu_);
                ++health_.events;
            }
            if (!ev) {
                log(fmt::format("metadata: {}: {}; skipped", name_, ev.error().message));
                continue;
            }
            if (ev->kind == EngineEventKind::ignored) continue;
            newest_event = std::max(newest_event, ev->time_ns);
            if (ev->kind == EngineEventKind::gone) {
                st_->index.mark_gone(ev->id, base::monotonic_ns());
                changed = true;
            }
            // The lookups come after the whole read, once per container: what the daemon
            // says then is the latest truth (a start then a die in one read ends gone).
            else if (std::find(lookups.begin(), lookups.end(), ev->id) == lookups.end())
                lookups.push_back(ev->id);
        }
        buf.erase(0, start);
        if (buf.size() > (1u << 20)) {
            reason = "an event line longer than 1 MiB";
            break;
        }
        for (const auto &id : lookups) {
            if (!plain_id(id)) continue;
            auto r = unix_http_get(sock, fmt::format("/containers/{}/json", id),
                                   opts_.request_timeout_ms, stop_wake_.fd());
            if (stop_) return true;
            {
                std::lock_guard lk(mu_);
                ++health_.lookups;
            }
            if (r && r->status == 404) { // removed meanwhile
                st_->index.mark_gone(id, base::monotonic_ns());
                changed = true;
                continue;
            }
            auto c =
                r && r->status == 200
                    ? engine_parse_inspect(r->body, st_->labels)
                    : Result<EngineContainer>(make_error(
                          r ? fmt::format("HTTP {} {}", r->status, engine_error_message(r->body))
                            : r.error().message));
            if (!c) {
                log(fmt::format("metadata: {}: looking up container {}: {}", name_,
                                id.substr(0, 12), c.error().message));
                continue;
            }
            st_->index.apply_inspect(std::move(*c), base::monotonic_ns());
            changed = true;
        }
        lookups.clear();
        if (changed) publish(newest_event);
        if (!open) {
            reason = (*events)->error().empty()
                         ? "the events stream ended"
                         : fmt::format("the events stream broke: {}", (*events)->error());
            break;
        }
    }
    {
        std::lock_guard lk(mu_);
        health_.up = false;
        ++health_.disconnects;
        health_.last_error = reason;
    }
    const auto idx = current();
    log(fmt::format("metadata: {}: {} (unix://{}); keeping the last index ({} containers), "
                    "reconnecting",
                    name_, reason, sock, idx ? idx->size() : 0));
    last_failure_.clear();
    return true;
}

} // namespace netlog::io
