#pragma once
#include <optional>
#include <string_view>

namespace aiclient::protocol {

/// The three API dialects the gateway speaks, to clients and to upstreams.
enum class wire_protocol { openai, claude, gemini };

/// Lower-case name of a protocol ("openai", "claude", "gemini").
std::string_view to_string(wire_protocol p) noexcept;

}  // namespace aiclient::protocol
