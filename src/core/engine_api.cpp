// Docker Engine API JSON -> EngineContainer / EngineEvent / EngineVersion.
#include <netlog/container.h>
#include "engine_api.h"
#include "printable.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <memory>

namespace netlog {

namespace {

using json = nlohmann::json;

// What an engine's answer may put into a message (printable.h).
constexpr std::size_t quote_max = 200;

// A SAX reader for one container object (inspect) or an array of them (list): it follows
// the path of keys from the container object down and keeps only the fields it needs, so
// a list of thousands of containers never becomes a JSON document in memory.
class ContainerReader {
  public:
    using string_t = json::string_t;
    enum class Mode { list, inspect };

    ContainerReader(Mode mode, const EngineLabelFilter &labels)
        : mode_(mode), labels_(labels), root_(mode == Mode::list ? 1 : 0) {}

    std::vector<EngineContainer> containers;
    std::string top_level_type; // set when the top level is not what the mode expects
    std::size_t error_byte = 0;
    std::string error_what;

    bool null() { return value(nullptr, nullptr); }
    bool boolean(bool b) { return value(nullptr, &b); }
    bool number_integer(json::number_integer_t) { return value(nullptr, nullptr); }
    bool number_unsigned(json::number_unsigned_t) { return value(nullptr, nullptr); }
    bool number_float(json::number_float_t, const string_t &) { return value(nullptr, nullptr); }
    bool binary(json::binary_t &) { return value(nullptr, nullptr); }
    bool string(string_t &s) { return value(&s, nullptr); }

    bool start_object(std::size_t) {
        if (stack_.empty() && mode_ == Mode::list) return top_is("object");
        enter_item();
        if (depth() == root_) {
            current_ = EngineContainer{};
            current_.running = mode_ == Mode::list; // a list holds running containers
        }
        stack_.push_back({false, {}, 0});
        return true;
    }
    bool end_object() {
        stack_.pop_back();
        if (depth() == root_ && !current_.id.empty()) containers.push_back(std::move(current_));
        return true;
    }
    bool start_array(std::size_t) {
        if (stack_.empty() && mode_ == Mode::inspect) return top_is("array");
        enter_item();
        stack_.push_back({true, {}, 0});
        return true;
    }
    bool end_array() {
        stack_.pop_back();
        return true;
    }
    bool key(string_t &k) {
        stack_.back().key = std::move(k);
        return true;
    }
    bool parse_error(std::size_t byte, const std::string &, const nlohmann::detail::exception &e) {
        error_byte = byte;
        error_what = json_reason(e.what(), quote_max);
        return false;
    }

  private:
    struct Frame {
        bool array;
        std::string key;   // object: the member being read
        std::size_t items; // array: items seen so far
    };

    std::size_t depth() const { return stack_.size(); }
    bool top_is(const char *type) {
        top_level_type = type;
        return false;
    }
    // A value begins inside the top frame: an array item gets its index as its key.
    void enter_item() {
        if (stack_.empty() || !stack_.back().array) return;
        auto &f = stack_.back();
        f.key = f.items == 0 ? "#0" : "#"; // only the first item is ever looked at
        ++f.items;
    }
    // The key at `level` below the container object (0: the object's own member).
    std::string_view at(std::size_t level) const { return stack_[root_ + level].key; }

    bool value(string_t *s, const bool *b) {
        if (stack_.empty()) return top_is(s ? "string" : b ? "boolean" : "scalar");
        enter_item();
        if (depth() <= root_) return true;     // a list item that is not an object: skipped
        const std::size_t n = depth() - root_; // keys on the path
        const auto k0 = at(0);
        if (n == 1) {
            if (!s) return true;
            if (k0 == "Id")
                current_.id = std::move(*s);
            else if (mode_ == Mode::inspect && k0 == "Name")
                set_name(*s);
            else if (mode_ == Mode::list && k0 == "Image")
                current_.image = std::move(*s);
            else if (mode_ == Mode::list && k0 == "State")
                current_.running = *s == "running";
        } else if (n == 2) {
            const auto k1 = at(1);
            if (mode_ == Mode::list && k0 == "Names" && k1 == "#0" && s)
                set_name(*s);
            else if (mode_ == Mode::list && k0 == "Labels" && s)
                label(k1, *s);
            else if (mode_ == Mode::inspect && k0 == "Config" && k1 == "Image" && s)
                current_.image = std::move(*s);
            else if (mode_ == Mode::inspect && k0 == "State" && k1 == "Running" && b)
                current_.running = *b;
        } else if (n == 3) {
            if (mode_ == Mode::inspect && k0 == "Config" && at(1) == "Labels" && s)
                label(at(2), *s);
        } else if (n == 4 && s && k0 == "NetworkSettings" && at(1) == "Networks") {
            const auto k3 = at(3);
            if (k3 == "IPAddress" || k3 == "GlobalIPv6Address") {
                const auto ip = ip_from_text(*s);
                if (ip.family != L3::none &&
                    std::find(current_.ips.begin(), current_.ips.end(), ip) == current_.ips.end())
                    current_.ips.push_back(ip);
            }
        }
        return true;
    }
    void set_name(std::string_view s) {
        if (s.starts_with('/')) s.remove_prefix(1);
        current_.name = s;
    }
    void label(std::string_view key, string_t &v) {
        if (labels_.wants(key)) current_.labels.emplace_back(key, std::move(v));
    }

    Mode mode_;
    const EngineLabelFilter &labels_;
    std::size_t root_; // depth of a container object's frame
    std::vector<Frame> stack_;
    EngineContainer current_;
};

Result<std::vector<EngineContainer>> run(std::string_view text, ContainerReader::Mode mode,
                                         const EngineLabelFilter &labels, const char *what) {
    auto r = std::make_unique<ContainerReader>(mode, labels);
    bool ok;
    try {
        ok = json::sax_parse(text.begin(), text.end(), r.get());
    } catch (const json::exception &e) { // not expected from sax_parse; never let one escape
        ok = false;
        r->error_what = json_reason(e.what(), quote_max);
    }
    const char *expected = mode == ContainerReader::Mode::list ? "an array" : "an object";
    if (!r->top_level_type.empty())
        return make_error(
            fmt::format("{}: expected {} of containers, got {} {}", what, expected,
                        r->top_level_type == "array" || r->top_level_type == "object" ? "an" : "a",
                        r->top_level_type));
    if (!ok)
        return make_error(fmt::format("{}: not JSON ({}; byte {})", what,
                                      r->error_what.empty() ? "stopped" : r->error_what,
                                      r->error_byte));
    return std::move(r->containers);
}

// A JSON document or nothing; no exceptions.
json parse_dom(std::string_view text) {
    return json::parse(text.begin(), text.end(), nullptr, false);
}

std::string_view str(const json &obj, const char *key) {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string &>())
                                              : std::string_view{};
}

} // namespace

bool EngineLabelFilter::wants(std::string_view key) const {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

Result<std::vector<EngineContainer>> engine_parse_list(std::string_view text,
                                                       const EngineLabelFilter &labels) {
    return run(text, ContainerReader::Mode::list, labels, "container list");
}

Result<EngineContainer> engine_parse_inspect(std::string_view text,
                                             const EngineLabelFilter &labels) {
    auto r = run(text, ContainerReader::Mode::inspect, labels, "container");
    if (!r) return r.error();
    if (r->empty()) return make_error("container: no \"Id\"");
    return std::move(r->front());
}

Result<EngineEvent> engine_parse_event(std::string_view text) {
    const json j = parse_dom(text);
    if (!j.is_object())
        return make_error(fmt::format("event: not a JSON object: {}", printable(text, 80)));
    EngineEvent ev;
    std::string_view type = str(j, "Type"), action = str(j, "Action");
    if (action.empty()) action = str(j, "status"); // API < 1.22 has only "status"
    if (type.empty()) type = "container";
    const json *actor = nullptr;
    if (auto it = j.find("Actor"); it != j.end() && it->is_object()) actor = &*it;
    std::string_view actor_id = actor ? str(*actor, "ID") : std::string_view{};
    const json *attrs = nullptr;
    if (actor)
        if (auto it = actor->find("Attributes"); it != actor->end() && it->is_object())
            attrs = &*it;
    if (auto it = j.find("timeNano"); it != j.end() && it->is_number_integer())
        ev.time_ns = it->get<std::int64_t>();
    else if (auto t = j.find("time"); t != j.end() && t->is_number_integer()) {
        const auto secs = t->get<std::int64_t>(); // seconds; past year 2262 in ns: unknown
        if (secs > 0 && secs < INT64_MAX / 1'000'000'000) ev.time_ns = secs * 1'000'000'000;
    }

    if (type == "container") {
        ev.id = actor_id.empty() ? str(j, "id") : actor_id;
        if (action == "start")
            ev.kind = EngineEventKind::start;
        else if (action == "die" || action == "destroy" || action == "remove")
            ev.kind = EngineEventKind::gone;
        else if (action == "rename" || action == "init") // Podman: init sets the network up
            ev.kind = EngineEventKind::changed;
    } else if (type == "network" && (action == "connect" || action == "disconnect")) {
        // Docker: Actor is the network, the container an attribute; Podman: Actor is the
        // container (and there is no such attribute).
        const auto c = attrs ? str(*attrs, "container") : std::string_view{};
        ev.id = c.empty() ? actor_id : c;
        ev.kind = EngineEventKind::changed;
    }
    if (ev.kind != EngineEventKind::ignored && ev.id.empty())
        return make_error(fmt::format("event: {} {} without a container id", printable(type, 40),
                                      printable(action, 40)));
    return ev;
}

Result<EngineVersion> engine_parse_version(std::string_view text) {
    const json j = parse_dom(text);
    if (!j.is_object())
        return make_error(fmt::format("version: not a JSON object: {}", printable(text, 80)));
    EngineVersion v;
    v.api_version = str(j, "ApiVersion");
    v.version = str(j, "Version");
    if (auto it = j.find("Components"); it != j.end() && it->is_array() && !it->empty())
        v.engine = str(it->front(), "Name");
    if (v.api_version.empty()) return make_error("version: no \"ApiVersion\"");
    return v;
}

int engine_compare_api_version(std::string_view a, std::string_view b) {
    // "MAJOR.MINOR" -> {major, minor}; {-1, -1} when it is not that
    const auto split = [](std::string_view s) -> std::pair<long, long> {
        const auto dot = s.find('.');
        if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size()) return {-1, -1};
        long major = 0, minor = 0;
        const auto *end = s.data() + s.size();
        auto r1 = std::from_chars(s.data(), s.data() + dot, major);
        auto r2 = std::from_chars(s.data() + dot + 1, end, minor);
        if (r1.ec != std::errc{} || r1.ptr != s.data() + dot || r2.ec != std::errc{} ||
            r2.ptr != end)
            return {-1, -1};
        return {major, minor};
    };
    const auto x = split(a), y = split(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

std::string engine_error_message(std::string_view text) {
    const json j = parse_dom(text);
    return printable(str(j, "message"), quote_max);
}

} // namespace netlog
