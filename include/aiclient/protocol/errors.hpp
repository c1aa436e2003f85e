#pragma once
#include <string>
#include <string_view>

#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

/// JSON error body in the client protocol's own shape for an HTTP status.
///   openai: {"error":{"message":...,"type":...,"param":null,"code":...}}
///   claude: {"type":"error","error":{"type":...,"message":...}}
///   gemini: {"error":{"code":<status>,"message":...,"status":"INVALID_ARGUMENT"|...}}
/// The error type/status string is derived from the HTTP status.
std::string error_body(wire_protocol p, int http_status, std::string_view message);

/// An in-band error event for a stream that has already started (SSE text, with its framing):
///   openai: "data: {openai error}\n\ndata: [DONE]\n\n"
///   claude: "event: error\ndata: {claude error}\n\n"
///   gemini: "data: {gemini error}\n\n"
std::string stream_error_event(wire_protocol p, int http_status, std::string_view message);

/// Appends `s` to `out` as a JSON string literal (quotes included, RFC 8259 escaping).
void append_json_string(std::string& out, std::string_view s);

/// Appends `s` JSON-escaped like append_json_string, without the surrounding quotes (to splice
/// text into an existing string literal). Invalid UTF-8 becomes U+FFFD.
void append_json_string_content(std::string& out, std::string_view s);

}  // namespace aiclient::protocol
