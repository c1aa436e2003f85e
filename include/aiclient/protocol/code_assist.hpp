#pragma once
// Google Code Assist (gemini-cli-oauth) wrappers around standard Gemini bodies.
#include <optional>
#include <string>
#include <string_view>

namespace aiclient::protocol {

/// {"model":M,"project":P,"request":<gemini_body>} (the body's bytes are copied as they are).
std::string code_assist_wrap(std::string_view model, std::string_view project,
                             std::string_view gemini_body);

/// The raw JSON of the "response" member of a Code Assist answer or stream event; the whole
/// input when it has no such member (already a plain GenerateContentResponse); std::nullopt
/// when the input is not a JSON object.
std::optional<std::string> code_assist_unwrap(std::string_view body);

}  // namespace aiclient::protocol
