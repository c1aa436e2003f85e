#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

/// How a configured system prompt is applied to each request.
enum class system_prompt_mode { overwrite, append };

/// What the gateway needs to know of a client request body, read with simdjson on-demand
/// (one pass over the top-level fields; untouched values are skipped, never materialised).
struct body_summary {
  std::string model;    ///< top-level "model" (empty when absent)
  bool stream = false;  ///< top-level "stream" == true
  bool has_model = false;
  bool include_usage = false;  ///< OpenAI stream_options.include_usage == true
};

/// Result of inspecting a body: a summary, or a client-facing error message (malformed JSON,
/// body not an object, "model" not a string, "stream" not a boolean...).
struct inspect_result {
  std::optional<body_summary> summary;
  std::string error;  ///< set when summary is empty
};

/// Reads `model` and `stream` from a JSON request body. `p` selects protocol-specific rules
/// (for gemini the model is in the URL, so a missing "model" is fine everywhere: callers decide).
inspect_result inspect_body(wire_protocol p, std::string_view body);
/// Bytes past the end of a body that the JSON parser may read (simdjson's padding).
inline constexpr std::size_t json_padding = 64;

/// The same, where `allocated` bytes are allocated at body.data(): with at least
/// body.size() + 64 (simdjson's padding, which it may read but never writes), the body is
/// parsed in place instead of copied first (e.g. a std::string's capacity()).
inspect_result inspect_body(wire_protocol p, std::string_view body, std::size_t allocated);

/// A request body parsed once for inspection and conversion: simdjson's stage 1 (the index of
/// the body's structure, a pass over every byte) is run by inspect_body and reused by
/// convert_request instead of being run twice. It holds a parser borrowed from a small
/// per-thread cache (several times the body's size) until convert_request takes it, release()
/// or destruction: release it before waiting on I/O when no conversion follows.
class parsed_body {
 public:
  /// Opaque state (defined in the codecs).
  struct impl;
  /// Holds nothing.
  parsed_body() noexcept;
  /// Gives the borrowed parser back.
  ~parsed_body();
  /// Moves the parse (the body it read must not move).
  parsed_body(parsed_body&&) noexcept;
  /// Moves the parse (the body it read must not move).
  parsed_body& operator=(parsed_body&&) noexcept;
  parsed_body(const parsed_body&) = delete;
  parsed_body& operator=(const parsed_body&) = delete;

  /// True when it holds the parse of a body that inspect_body accepted.
  bool ready() const noexcept;
  /// Gives the borrowed parser back (ready() is false after it).
  void release() noexcept;
  /// The state (created on first use).
  impl& state();

 private:
  std::unique_ptr<impl> impl_;
};

/// The same as inspect_body(p, body, allocated), keeping the parse in `parsed` when the body is
/// accepted (released otherwise), for a convert_request of the same bytes.
inspect_result inspect_body(wire_protocol p, std::string_view body, std::size_t allocated,
                            parsed_body& parsed);

/// Edits applied to a pass-through body. Untouched bytes are copied as they are.
struct body_edits {
  std::optional<std::string> model;          ///< replace the top-level "model" value
  std::optional<std::string> system_prompt;  ///< inject a system prompt
  system_prompt_mode mode = system_prompt_mode::append;
};

/// Rewrites `body` (already accepted by inspect_body) with `edits`, splicing bytes:
///  - model: replaces the value of top-level "model" (inserted when absent, except for gemini,
///    whose model is in the URL and whose API rejects unknown fields). A duplicated key is
///    edited at every occurrence.
///  - system prompt, claude: top-level "system" (string or array of text blocks); overwrite
///    replaces it with the prompt; append adds "\n\n"+prompt to a string, or a text block to an
///    array; inserted when absent.
///  - system prompt, openai: the first message whose role is "system" or "developer"; overwrite
///    replaces its content; append adds to its string content or a text part to its array
///    content; when there is none, {"role":"system","content":prompt} is inserted first.
///  - system prompt, gemini: top-level "systemInstruction" (or "system_instruction")
///    ({"parts":[{"text":..}]}), same rules: overwrite replaces it, append adds a text part.
/// A `null` system field counts as absent. Fields inserted at the top level go first, right
/// after the opening brace.
/// Returns std::nullopt with `error` set when the body cannot be edited (malformed, or a field
/// of the wrong type such as a numeric "model" or "system").
std::optional<std::string> apply_edits(wire_protocol p, std::string_view body,
                                       const body_edits& edits, std::string* error = nullptr);
/// The same, parsing in place when `allocated` leaves room for the padding (see inspect_body).
std::optional<std::string> apply_edits(wire_protocol p, std::string_view body,
                                       std::size_t allocated, const body_edits& edits,
                                       std::string* error = nullptr);

}  // namespace aiclient::protocol
