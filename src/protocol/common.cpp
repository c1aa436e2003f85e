#include "aiclient/protocol/common.hpp"

#include <algorithm>

namespace aiclient::protocol {

std::string_view stop_reason_to(wire_protocol p, stop_reason r) noexcept {
  switch (p) {
    case wire_protocol::openai:
      switch (r) {
        case stop_reason::max_tokens:
          return "length";
        case stop_reason::tool_use:
          return "tool_calls";
        case stop_reason::content_filter:
          return "content_filter";
        default:
          return "stop";
      }
    case wire_protocol::claude:
      switch (r) {
        case stop_reason::end_turn:
          return "end_turn";
        case stop_reason::max_tokens:
          return "max_tokens";
        case stop_reason::stop_sequence:
          return "stop_sequence";
        case stop_reason::tool_use:
          return "tool_use";
        case stop_reason::content_filter:
          return "refusal";
        case stop_reason::pause_turn:
          return "pause_turn";
        case stop_reason::other:
          return "end_turn";
      }
      break;
    case wire_protocol::gemini:
      switch (r) {
        case stop_reason::max_tokens:
          return "MAX_TOKENS";
        case stop_reason::content_filter:
          return "SAFETY";
        case stop_reason::other:
          return "OTHER";
        default:
          return "STOP";
      }
  }
  return "stop";
}

stop_reason stop_reason_from(wire_protocol p, std::string_view s) noexcept {
  switch (p) {
    case wire_protocol::openai:
      if (s == "stop") return stop_reason::end_turn;
      if (s == "length") return stop_reason::max_tokens;
      if (s == "tool_calls" || s == "function_call") return stop_reason::tool_use;
      if (s == "content_filter") return stop_reason::content_filter;
      return stop_reason::other;
    case wire_protocol::claude:
      if (s == "end_turn") return stop_reason::end_turn;
      if (s == "max_tokens") return stop_reason::max_tokens;
      if (s == "stop_sequence") return stop_reason::stop_sequence;
      if (s == "tool_use") return stop_reason::tool_use;
      if (s == "refusal") return stop_reason::content_filter;
      if (s == "pause_turn") return stop_reason::pause_turn;
      return stop_reason::other;
    case wire_protocol::gemini:
      if (s == "STOP") return stop_reason::end_turn;
      if (s == "MAX_TOKENS") return stop_reason::max_tokens;
      if (s == "SAFETY" || s == "RECITATION" || s == "BLOCKLIST" || s == "PROHIBITED_CONTENT" ||
          s == "SPII" || s == "IMAGE_SAFETY")
        return stop_reason::content_filter;
      return stop_reason::other;
  }
  return stop_reason::other;
}

void append_usage_json(std::string& out, wire_protocol p, const usage& u) {
  const auto num = [&out](std::string_view key, std::int64_t v, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += key;
    out += "\":";
    out += std::to_string(v);
  };
  switch (p) {
    case wire_protocol::openai:
      out += '{';
      num("prompt_tokens", u.input_tokens, true);
      num("completion_tokens", u.output_tokens);
      num("total_tokens", u.input_tokens + u.output_tokens);
      if (u.cache_read_tokens) {
        out += R"(,"prompt_tokens_details":{)";
        num("cached_tokens", u.cache_read_tokens, true);
        out += '}';
      }
      if (u.reasoning_tokens) {
        out += R"(,"completion_tokens_details":{)";
        num("reasoning_tokens", u.reasoning_tokens, true);
        out += '}';
      }
      out += '}';
      return;
    case wire_protocol::claude:
      out += '{';
      num("input_tokens",
          std::max<std::int64_t>(0, u.input_tokens - u.cache_read_tokens - u.cache_creation_tokens),
          true);
      num("output_tokens", u.output_tokens);
      if (u.cache_read_tokens) num("cache_read_input_tokens", u.cache_read_tokens);
      if (u.cache_creation_tokens) num("cache_creation_input_tokens", u.cache_creation_tokens);
      out += '}';
      return;
    case wire_protocol::gemini:
      out += '{';
      num("promptTokenCount", u.input_tokens, true);
      num("candidatesTokenCount", std::max<std::int64_t>(0, u.output_tokens - u.reasoning_tokens));
      num("totalTokenCount", u.input_tokens + u.output_tokens);
      if (u.cache_read_tokens) num("cachedContentTokenCount", u.cache_read_tokens);
      if (u.reasoning_tokens) num("thoughtsTokenCount", u.reasoning_tokens);
      out += '}';
      return;
  }
}

}  // namespace aiclient::protocol
