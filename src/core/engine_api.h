// The Docker Engine API's JSON as netlogd reads it: the container list
// (GET /containers/json), one container (GET /containers/{id}/json), the events stream
// (GET /events, one object per line) and the daemon's version (GET /version). Podman's
// Docker-compatible service (`podman system service`) answers the same paths; where it
// differs (network events, "remove" for "destroy", image names) the parsers accept both.
// Pure: bytes in, values out; the io layer (src/io/engine_source.h) does the requests.
#pragma once

#include <netlog/packet.h>
#include <netlog/result.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netlog {

// One container as the daemon describes it.
struct EngineContainer {
    std::string id;    // full 64-hex id
    std::string name;  // without the leading '/'
    std::string image; // the reference it was created from ("busybox:1.36", "localhost/x:y")
    std::vector<std::pair<std::string, std::string>> labels; // only the selected keys
    std::vector<IpAddress> ips; // every network's IPAddress and GlobalIPv6Address, in order
    bool running = false;
};

// Which labels to keep (the config's metadata.labels); every other label is skipped
// while parsing (a host's containers may carry many).
struct EngineLabelFilter {
    std::vector<std::string> keys;
    bool wants(std::string_view key) const;
};

// GET /containers/json: a JSON array of container summaries. `running` is State ==
// "running"; the list holds running containers unless asked for all.
Result<std::vector<EngineContainer>> engine_parse_list(std::string_view json,
                                                       const EngineLabelFilter &labels);

// GET /containers/{id}/json: one container in detail (Name, Config.Image, Config.Labels,
// State.Running, NetworkSettings.Networks).
Result<EngineContainer> engine_parse_inspect(std::string_view json,
                                             const EngineLabelFilter &labels);

// What an event means for the index.
enum class EngineEventKind : std::uint8_t {
    ignored, // not about a container's addresses or fields (exec, kill, image, volume, ...)
    start,   // container start: look it up (inspect) and index it
    gone,    // container die / destroy (Podman: remove): gone, kept for the grace period
    changed, // network connect/disconnect, rename, Podman's init: look the container up again
};

struct EngineEvent {
    EngineEventKind kind = EngineEventKind::ignored;
    std::string id;           // the container's id
    std::int64_t time_ns = 0; // timeNano (else time * 1e9); 0 when absent
};

// One line of GET /events. Docker names the container of a network event in
// Actor.Attributes.container (Actor.ID is the network's); Podman in Actor.ID.
Result<EngineEvent> engine_parse_event(std::string_view json);

struct EngineVersion {
    std::string api_version; // "1.41"
    std::string version;     // "20.10.24+dfsg1", "4.3.1"
    std::string engine;      // Components[0].Name: "Engine", "Podman Engine"
};

// GET /version.
Result<EngineVersion> engine_parse_version(std::string_view json);

// The oldest API version netlogd speaks: filtered events, network events and
// NetworkSettings.Networks are all there from 1.24 (Docker 1.12) on.
inline constexpr std::string_view engine_min_api_version = "1.24";

// -1, 0, 1 as a "MAJOR.MINOR" version compares with another; text that is not one
// compares below every version.
int engine_compare_api_version(std::string_view a, std::string_view b);

// The "message" of an API error body ({"message":"No such container: x"}); "" when the
// body is not one.
std::string engine_error_message(std::string_view json);

} // namespace netlog
