#pragma once
// Vocabulary shared by every codec of the canonical model: stop reasons and token usage.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

/// Why a model stopped, in canonical terms.
enum class stop_reason {
  end_turn,        ///< natural end (OpenAI "stop", Claude "end_turn", Gemini "STOP")
  max_tokens,      ///< OpenAI "length", Claude "max_tokens", Gemini "MAX_TOKENS"
  stop_sequence,   ///< Claude "stop_sequence" (OpenAI reports "stop")
  tool_use,        ///< OpenAI "tool_calls", Claude "tool_use" (Gemini: STOP with function calls)
  content_filter,  ///< OpenAI "content_filter", Claude "refusal", Gemini SAFETY & co.
  pause_turn,      ///< Claude "pause_turn" (server tools): OpenAI "stop", Gemini "STOP"
  other            ///< anything else (Gemini OTHER, MALFORMED_FUNCTION_CALL, unknown values)
};

/// The protocol's own spelling of a stop reason.
std::string_view stop_reason_to(wire_protocol p, stop_reason r) noexcept;
/// Reads a protocol's stop reason string (unknown -> other; Gemini "STOP" -> end_turn: callers
/// that saw function calls turn it into tool_use themselves).
stop_reason stop_reason_from(wire_protocol p, std::string_view s) noexcept;

/// Token usage in canonical terms. `input_tokens` counts every prompt token, cached ones
/// included (OpenAI's prompt_tokens, Gemini's promptTokenCount); Claude's input_tokens excludes
/// cache reads and writes, so its codec adds them when decoding and subtracts them when
/// encoding. `output_tokens` includes reasoning tokens (OpenAI's completion_tokens; Gemini's
/// candidatesTokenCount + thoughtsTokenCount).
struct usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_read_tokens =
      0;  ///< OpenAI cached_tokens, Claude cache_read_input_tokens, Gemini cachedContentTokenCount
  std::int64_t cache_creation_tokens = 0;  ///< Claude cache_creation_input_tokens
  std::int64_t reasoning_tokens = 0;       ///< OpenAI reasoning_tokens, Gemini thoughtsTokenCount
  bool has_input = false;                  ///< input side known
  bool has_output = false;                 ///< output side known
};

/// Appends the protocol's usage object (as a JSON object, without its key):
///   openai: {"prompt_tokens":..,"completion_tokens":..,"total_tokens":..,
///            "prompt_tokens_details":{"cached_tokens":..},"completion_tokens_details":{"reasoning_tokens":..}}
///   claude:
///   {"input_tokens":..,"output_tokens":..,"cache_read_input_tokens":..,"cache_creation_input_tokens":..}
///   gemini: {"promptTokenCount":..,"candidatesTokenCount":..,"totalTokenCount":..,
///            "cachedContentTokenCount":..,"thoughtsTokenCount":..}
/// Detail fields are written only when non-zero.
void append_usage_json(std::string& out, wire_protocol p, const usage& u);

}  // namespace aiclient::protocol
