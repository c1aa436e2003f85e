#pragma once
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

/// {"input_tokens": N} estimate for Anthropic count_tokens: one token per 4 bytes, at least 1.
std::string count_tokens_json(std::size_t request_bytes);

}  // namespace aiclient::provider::mock
