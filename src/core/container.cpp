// store.json text -> ContainerIndex (hash maps by IP, handle, app guid and LOG-cut names).
#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>
#include <netlog/container.h>
#include <netlog/format.h>
#include <nlohmann/json.hpp>

#include "store_lenient.h"

#include <memory>
#include <tuple>

namespace netlog {

namespace {

using json = nlohmann::json;

// The one element of a sorted list of names that starts with `start`: nullptr when none or
// several do. `name` gives an element's name.
template <class T, class Name>
const T *only_one_starting(const std::vector<T> &sorted, std::string_view start, Name name) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), start,
                               [&](const T &x, std::string_view s) { return name(x) < s; });
    if (it == sorted.end() || !name(*it).starts_with(start)) return nullptr;
    if (std::next(it) != sorted.end() && name(*std::next(it)).starts_with(start)) return nullptr;
    return &*it;
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: x" -> "line 1, column 2: x"
// Text that may quote the store (a key, the token a parse error stopped at) as it goes into
// a message: control bytes and bytes >= 0x80 as \xNN, at most `max` bytes of it, so that
// nothing from the store reaches a terminal or a log line raw (an ESC, a newline, invalid
// UTF-8 in a journal).
std::string printable(std::string_view s, std::size_t max = 240) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c >= 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

std::string json_reason(const char *what) {
    std::string_view w(what);
    if (auto p = w.find("] "); p != std::string_view::npos) w.remove_prefix(p + 2);
    if (w.starts_with("parse error at ")) w.remove_prefix(15);
    return printable(w);
}

} // namespace

std::size_t IpAddressHash::operator()(const IpAddress &a) const noexcept {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    std::uint64_t h = hi * 0x9e3779b97f4a7c15ULL ^ (lo + static_cast<std::uint64_t>(a.family));
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return static_cast<std::size_t>(h);
}

IpAddress ip_from_text(std::string_view text) {
    IpAddress a;
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return a;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1)
        a.family = L3::ipv4;
    else if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1)
        a.family = L3::ipv6;
    else
        a.bytes = {};
    return a;
}

namespace {

// A SAX reader: store.json -> Containers, without building a JSON document (a 100k-container
// store is ~37 MB of text; a DOM of it costs seconds and hundreds of MB).
class StoreReader {
  public:
    using string_t = json::string_t;

    std::vector<Container> containers;
    StoreReport report;
    std::string top_level_type; // set when the top level is not an object
    std::size_t error_byte = 0;
    std::string error_what;

    bool null() { return scalar("null"); }
    bool boolean(bool) { return scalar("boolean"); }
    bool number_integer(json::number_integer_t) { return scalar("number"); }
    bool number_unsigned(json::number_unsigned_t) { return scalar("number"); }
    bool number_float(json::number_float_t, const string_t &) { return scalar("number"); }
    bool binary(json::binary_t &) { return scalar("binary"); }
    bool string(string_t &s) {
        if (depth_ == 0) return top_is("string");
        if (depth_ == 1) return skip_entry("string");
        set_field(&s);
        return true;
    }

    bool start_object(std::size_t) {
        if (depth_ == 1) {
            in_entry_ = true;
            entry_ = Container{};
            ip_text_.clear();
        } else if (depth_ == 2 && in_entry_ && key_ == "metadata") {
            in_metadata_ = true;
        } else if (depth_ >= 2) {
            set_field(nullptr); // an object where a string belongs
        }
        ++depth_;
        return true;
    }
    bool end_object() {
        --depth_;
        if (depth_ == 2 && in_metadata_) {
            in_metadata_ = false;
        } else if (depth_ == 1 && in_entry_) {
            in_entry_ = false;
            finish_entry();
        }
        return true;
    }
    bool start_array(std::size_t) {
        if (depth_ == 0) return top_is("array");
        if (depth_ == 1)
            skip_entry("array");
        else
            set_field(nullptr);
        ++depth_;
        return true;
    }
    bool end_array() {
        --depth_;
        return true;
    }
    bool key(string_t &k) {
        if (depth_ == 1) {
            entry_key_ = k;
            ++report.entries;
        } else if (depth_ == 2 && in_entry_) {
            key_ = k;
        } else if (depth_ == 3 && in_metadata_) {
            md_key_ = k;
        }
        return true;
    }
    bool parse_error(std::size_t byte, const std::string &, const nlohmann::detail::exception &e) {
        error_byte = byte;
        error_what = json_reason(e.what());
        return false;
    }

  private:
    bool top_is(const char *type) {
        top_level_type = type;
        return false;
    }
    bool scalar(const char *type) {
        if (depth_ == 0) return top_is(type);
        if (depth_ == 1) return skip_entry(type);
        set_field(nullptr);
        return true;
    }
    bool skip_entry(const char *type) {
        ++report.skipped;
        warn(fmt::format("entry \"{}\": not an object ({}), skipped", entry_key_, type));
        return true;
    }
    // A value at depth 2 (entry) or 3 (metadata): a string, or nullptr for any other type.
    void set_field(string_t *s) {
        std::string *field = nullptr;
        if (depth_ == 2 && in_entry_) {
            if (key_ == "handle")
                field = &entry_.handle;
            else if (key_ == "ip")
                field = &ip_text_;
        } else if (depth_ == 3 && in_metadata_) {
            if (md_key_ == "app_id")
                field = &entry_.app_guid;
            else if (md_key_ == "space_id")
                field = &entry_.space_guid;
            else if (md_key_ == "org_id")
                field = &entry_.organization_guid;
        }
        if (!field) return;
        if (s)
            *field = std::move(*s);
        else
            field->clear();
    }
    void finish_entry() {
        if (entry_.handle.empty()) entry_.handle = entry_key_; // the store is keyed by handle
        if (entry_.handle.empty()) {
            ++report.skipped;
            warn("an entry with an empty key and no handle, skipped");
            return;
        }
        entry_.ip = ip_from_text(ip_text_);
        if (entry_.ip.family == L3::none) ++report.without_ip;
        containers.push_back(std::move(entry_));
    }
    void warn(std::string w) {
        if (report.first_warning.empty()) report.first_warning = printable(w);
    }

    int depth_ = 0;
    bool in_entry_ = false, in_metadata_ = false;
    std::string entry_key_, key_, md_key_, ip_text_;
    Container entry_;
};

const char *article(std::string_view type) {
    return type == "array" ? "an" : "a";
}

} // namespace

Result<ContainerIndex> ContainerIndex::parse(std::string_view text, StoreReport *report_out) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return make_error(text.empty() ? "the file is empty (a writer may be rewriting it)"
                                       : "the file is empty (only whitespace)");
    // Go's readers take a lone UTF-16 surrogate or a byte that is not UTF-8 in a string as
    // U+FFFD; so does this one, rather than refusing every container for one bad value.
    std::string repaired;
    std::size_t first_repair = 0;
    const auto repairs = store::repair_strings(text, repaired, &first_repair);
    const std::string_view src = repairs ? std::string_view(repaired) : text;
    const auto run = [](std::string_view t, StoreReader &r) {
        try {
            return json::sax_parse(t.begin(), t.end(), &r);
        } catch (const json::exception &e) { // not expected from sax_parse; never let one escape
            r.error_byte = 0;
            r.error_what = json_reason(e.what());
            return false;
        }
    };
    auto reader = std::make_unique<StoreReader>();
    bool ok = run(src, *reader);
    // One entry that is not valid JSON costs only that entry: when the top-level object can
    // be taken apart member by member (it is complete: a half-written file is not), parse
    // again without the members that do not parse on their own.
    std::size_t malformed = 0;
    std::string malformed_warning;
    if (!ok && reader->top_level_type.empty()) {
        std::vector<store::Member> members;
        if (store::split_object(src, members)) {
            std::string rebuilt = "{";
            for (const auto &m : members) {
                if (json::accept(m.value)) {
                    if (rebuilt.size() > 1) rebuilt += ',';
                    rebuilt.append(m.key).append(":").append(m.value);
                    continue;
                }
                ++malformed;
                try { // for the reason and the place only
                    [[maybe_unused]] const auto j = json::parse(m.value);
                } catch (const json::parse_error &e) {
                    if (malformed == 1) {
                        // where in the file (the reason's own line/column count in the entry)
                        std::string why = json_reason(e.what());
                        if (const auto c = why.find(": ");
                            c != std::string::npos && why.rfind("line ", 0) == 0)
                            why.erase(0, c + 2);
                        const auto at = static_cast<std::size_t>(m.value.data() - src.data()) +
                                        (e.byte > 0 ? e.byte - 1 : 0);
                        malformed_warning =
                            fmt::format("entry \"{}\": not valid JSON at byte {} ({}), skipped",
                                        printable(m.key.substr(1, m.key.size() - 2)), at, why);
                    }
                } catch (const json::exception &) {}
            }
            rebuilt += '}';
            auto again = std::make_unique<StoreReader>();
            // nothing parses on its own: not a store with a bad entry, a broken store
            if (malformed && malformed < members.size() && run(rebuilt, *again)) {
                reader = std::move(again);
                ok = true;
            }
        }
    }
    if (!reader->top_level_type.empty())
        return make_error(fmt::format("the top level is {} {}, expected an object keyed by "
                                      "container handle",
                                      article(reader->top_level_type), reader->top_level_type));
    if (!ok) {
        if (reader->error_byte > text.size()) // the text stops in the middle of a value
            return make_error(fmt::format("parse error at byte {} of {}: the text ends early, "
                                          "half-written? ({})",
                                          text.size(), text.size(), reader->error_what));
        return make_error(fmt::format("parse error at byte {} of {} ({})", reader->error_byte,
                                      text.size(), reader->error_what));
    }
    reader->report.entries += malformed;
    reader->report.malformed = malformed;
    reader->report.repaired = repairs;
    if (malformed) reader->report.first_warning = malformed_warning;
    if (repairs && reader->report.first_warning.empty())
        reader->report.first_warning = fmt::format(
            "a string with a lone UTF-16 surrogate or bytes that are not UTF-8 at byte {}, "
            "read as U+FFFD",
            first_repair);
    ContainerIndex index;
    index.containers_ = std::move(reader->containers);
    // containers_ is complete: from here on its strings never move, the maps may view them.
    index.build_maps(reader->report);
    // Every event of a container carries the same container object: escape it once.
    for (auto *v : {&index.containers_, &index.apps_})
        for (auto &c : *v) {
            c.json = container_json(c);
            c.iptables_logger_json = iptables_logger_container_json(c);
        }
    if (report_out) *report_out = std::move(reader->report);
    return index;
}

void ContainerIndex::build_maps(StoreReport &report, bool prefix_maps) {
    const std::size_t n = containers_.size();
    by_handle_.reserve(n);
    by_ip_.reserve(n);
    if (prefix_maps) {
        by_app_.reserve(n);
        sorted_handles_.reserve(n);
    }

    std::vector<IpAddress> ambiguous_ips;
    const auto index_ip = [&](const IpAddress &ip, std::size_t i) {
        if (ip.family == L3::none) return;
        auto [it, fresh] = by_ip_.emplace(ip, i);
        if (!fresh && it->second != i) ambiguous_ips.push_back(ip);
    };
    std::unordered_map<std::string_view, bool> shared_apps; // app guid -> instances agree
    for (std::size_t i = 0; i < n; ++i) {
        const Container &c = containers_[i];
        if (!by_handle_.emplace(c.handle, i).second) {
            ++report.duplicate_handles; // only when an entry's "handle" differs from its key
            if (report.first_warning.empty())
                report.first_warning = fmt::format("handle \"{}\" appears in two entries; "
                                                   "the second is not indexed",
                                                   printable(c.handle));
            continue;
        }
        index_ip(c.ip, i);
        for (const auto &ip : c.more_ips) index_ip(ip, i);
        if (!prefix_maps) continue;
        sorted_handles_.push_back(&c);
        if (!c.app_guid.empty()) {
            auto [it, fresh] = by_app_.emplace(c.app_guid, &c);
            if (!fresh) {
                const Container &first = *it->second;
                bool agree = first.space_guid == c.space_guid &&
                             first.organization_guid == c.organization_guid;
                auto [s, new_shared] = shared_apps.emplace(c.app_guid, agree);
                if (!new_shared) s->second = s->second && agree;
            }
        }
    }
    std::sort(sorted_handles_.begin(), sorted_handles_.end(),
              [](const Container *a, const Container *b) { return a->handle < b->handle; });
    // An IP claimed by several entries (a stale entry left behind) belongs to none of them:
    // better "" than another app's guids.
    const auto ip_less = [](const IpAddress &a, const IpAddress &b) {
        return std::tie(a.family, a.bytes) < std::tie(b.family, b.bytes);
    };
    std::sort(ambiguous_ips.begin(), ambiguous_ips.end(), ip_less);
    ambiguous_ips.erase(std::unique(ambiguous_ips.begin(), ambiguous_ips.end()),
                        ambiguous_ips.end());
    for (const auto &ip : ambiguous_ips) {
        auto it = by_ip_.find(ip);
        if (report.first_warning.empty())
            report.first_warning = fmt::format("IP of \"{}\" is claimed by several entries; "
                                               "left out of the IP index",
                                               printable(containers_[it->second].handle));
        by_ip_.erase(it);
        ++report.duplicate_ips;
    }
    // Apps with several instances: an app-level entry (no handle), or nothing if they disagree.
    apps_.reserve(shared_apps.size()); // by_app_ points into apps_: it must never reallocate
    for (auto &[app, agree] : shared_apps) {
        auto it = by_app_.find(app);
        if (agree) {
            const Container &first = *it->second;
            Container app;
            app.app_guid = first.app_guid;
            app.space_guid = first.space_guid;
            app.organization_guid = first.organization_guid;
            apps_.push_back(std::move(app));
            it->second = &apps_.back();
        } else {
            it->second = nullptr;
        }
    }
    sorted_apps_.assign(by_app_.begin(), by_app_.end());
    std::sort(sorted_apps_.begin(), sorted_apps_.end());
}

ContainerIndex ContainerIndex::from_containers(std::vector<Container> containers,
                                               StoreReport *report_out, bool by_prefix) {
    ContainerIndex index;
    index.containers_ = std::move(containers);
    StoreReport report;
    report.entries = index.containers_.size();
    index.build_maps(report, by_prefix);
    if (report_out) *report_out = std::move(report);
    return index;
}

ContainerIndex ContainerIndex::overlay(std::shared_ptr<const ContainerIndex> base,
                                       std::vector<Container> changed,
                                       std::vector<IpAddress> masked_ips,
                                       std::vector<std::string> masked_handles, std::size_t total) {
    ContainerIndex index = from_containers(std::move(changed), nullptr, false);
    index.base_ = std::move(base);
    index.masked_ips_.insert(masked_ips.begin(), masked_ips.end());
    index.masked_handle_text_ = std::move(masked_handles);
    for (const auto &h : index.masked_handle_text_) index.masked_handles_.insert(h);
    index.total_ = total;
    return index;
}

const Container *ContainerIndex::by_ip(const IpAddress &ip) const {
    auto it = by_ip_.find(ip);
    if (it != by_ip_.end()) return &containers_[it->second];
    if (!base_ || masked_ips_.count(ip)) return nullptr;
    return base_->by_ip(ip);
}

const Container *ContainerIndex::by_handle(std::string_view handle) const {
    auto it = by_handle_.find(handle);
    if (it != by_handle_.end()) return &containers_[it->second];
    if (!base_ || masked_handles_.count(handle)) return nullptr;
    return base_->by_handle(handle);
}

const Container *ContainerIndex::by_handle_in_prefix(std::string_view handle, bool cut) const {
    if (handle.empty()) return nullptr;
    if (const Container *c = by_handle(handle)) return c;
    if (!cut) return nullptr;
    const auto *c = only_one_starting(
        sorted_handles_, handle, [](const Container *x) { return std::string_view(x->handle); });
    return c ? *c : nullptr;
}

const Container *ContainerIndex::by_app_in_prefix(std::string_view app_guid, bool cut) const {
    if (app_guid.empty()) return nullptr;
    if (auto it = by_app_.find(app_guid); it != by_app_.end()) return it->second;
    if (!cut) return nullptr;
    const auto *a =
        only_one_starting(sorted_apps_, app_guid, [](const auto &x) { return x.first; });
    return a ? a->second : nullptr;
}

} // namespace netlog
