#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/protocol.hpp"

namespace aiclient::provider::mock {

/// Text the mock provider answers with for a request (echoes the request's size, never its
/// content, so it is safe to log).
std::string reply_text(std::string_view model, std::size_t request_bytes);

/// Complete non-streaming answer in `p`'s response shape (chat.completion / message /
/// GenerateContentResponse).
std::string completion_json(protocol::wire_protocol p, std::string_view model,
                            std::string_view text);

/// Streamed answer in `p`'s stream shape, as complete SSE events (framing included),
/// one string per event, ending with the protocol's terminator (OpenAI: data: [DONE]).
std::vector<std::string> completion_stream(protocol::wire_protocol p, std::string_view model,
                                           std::string_view text);

/// The model list in `p`'s shape.
std::string models_json(protocol::wire_protocol p);

/// A token count estimate in `p`'s shape: one token per 4 bytes of the request, at least 1;
/// {"input_tokens": N} (Anthropic count_tokens) or {"totalTokens": N} (Gemini countTokens).
std::string count_tokens_json(std::size_t request_bytes,
                              protocol::wire_protocol p = protocol::wire_protocol::claude);

/// A token count `n` in `p`'s shape ({"input_tokens": n} or {"totalTokens": n}).
std::string token_count_json(std::int64_t n, protocol::wire_protocol p);

}  // namespace aiclient::provider::mock
