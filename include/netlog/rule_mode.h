// The two words the config and the rule planner share: which address family a rule
// belongs to, and whether companions go alongside the LOG rules or replace them.
#pragma once

#include <cstdint>
#include <string_view>

namespace netlog {

enum class Family : std::uint8_t { ipv4, ipv6 };
enum class PlanMode : std::uint8_t { alongside, replace };

std::string_view to_string(Family f);
std::string_view to_string(PlanMode m);

} // namespace netlog
