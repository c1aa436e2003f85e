#pragma once
// Kiro (Amazon CodeWhisperer / Q `generateAssistantResponse`), PROVIDERS.md section 3:
//   - the AWS event-stream framing of its answers (incremental parser with both CRCs checked,
//     and an encoder for tests and fake upstreams);
//   - Kiro event-stream -> canonical stream events (text, <thinking> blocks, tool uses
//     accumulated from fragments, stop reason and an estimated usage), as a stream_decoder, a
//     stream_converter to any client protocol, and an aggregator for non-streaming answers;
//   - canonical request -> Kiro JSON body (history, system prompt, tools, tool results, images,
//     model id mapping and the constraints Kiro enforces), and the request headers;
//   - classification of Kiro's HTTP error answers (retry, refresh, cooldown...).
// Untrusted upstream bytes never throw past this API and never crash: they become an error
// state (parser), an `error` event (decoder) or an error value (aggregator).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/stream_events.hpp"

namespace aiclient::protocol::kiro {

// ---------------------------------------------------------------------------------------------
// AWS event-stream framing
//
//   0  total_length   u32 BE (the whole message, 16 bytes minimum)
//   4  headers_length u32 BE
//   8  prelude_crc    u32 BE = CRC32(bytes 0..8)
//  12  headers | payload
//  total-4 message_crc u32 BE = CRC32(bytes 0..total-4)
// Header: name_len u8 (> 0), name, type u8, value (by type: 0/1 none, 2 i8, 3 i16, 4 i32,
// 5 i64, 6 bytes and 7 string with a u16 BE length, 8 timestamp i64, 9 uuid 16 bytes).

/// CRC-32 (IEEE 802.3 / zlib: reflected polynomial 0xEDB88320) of `data`, continuing from a
/// previous result `crc` (0 to start).
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0) noexcept;

/// One decoded event-stream message. Views point into the parser's buffer: valid until the next
/// call of eventstream_parser::append() or next().
struct eventstream_message {
  std::string_view message_type;    ///< ":message-type": "event", "exception" or "error"
  std::string_view event_type;      ///< ":event-type" ("assistantResponseEvent"...)
  std::string_view exception_type;  ///< ":exception-type" ("ThrottlingException"...)
  std::string_view content_type;    ///< ":content-type" (typically "application/json")
  std::string_view error_code;      ///< ":error-code" (message type "error")
  std::string_view error_message;   ///< ":error-message" (message type "error")
  std::string_view payload;         ///< the payload bytes (JSON for Kiro)
  std::size_t header_count = 0;     ///< headers read, of any value type
};

/// Incremental parser of an AWS event-stream: feed bytes in any split, take complete messages.
/// Any framing error (CRC mismatch, a length below 16 or above the maximum, headers that overrun
/// their section, an unknown header type, bytes left at the end) puts it in a failed state with
/// a message; it then yields nothing more.
class eventstream_parser {
 public:
  /// The smallest valid message: prelude (12 bytes) and message CRC (4 bytes).
  static constexpr std::size_t min_message_bytes = 16;
  /// The default maximum message size (16 MiB, as kiro.rs).
  static constexpr std::size_t default_max_message_bytes = std::size_t{16} << 20;

  /// A parser rejecting messages larger than `max_message_bytes`.
  explicit eventstream_parser(std::size_t max_message_bytes = default_max_message_bytes);

  /// Appends upstream bytes (ignored once failed). Invalidates the views of the last message.
  void append(std::string_view bytes);
  /// Takes the next complete message into `out`; false when none is complete yet or the
  /// stream failed (see failed()). A bad prelude fails as soon as its 12 bytes are in.
  bool next(eventstream_message& out);
  /// End of the upstream bytes: false (and failed) when a partial message is left.
  bool finish();
  /// True once the framing broke.
  bool failed() const noexcept { return !error_.empty(); }
  /// Why the framing broke (empty when it did not).
  const std::string& error() const noexcept { return error_; }
  /// Bytes received but not yet returned as messages (a partial message).
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }
  /// Messages returned so far.
  std::uint64_t messages() const noexcept { return messages_; }

 private:
  bool fail(std::string message);

  std::string buf_;
  std::size_t pos_ = 0;  ///< start of the first message not yet returned
  std::size_t max_;
  std::string error_;
  std::uint64_t messages_ = 0;
  bool prelude_checked_ = false;  ///< the prelude at pos_ passed its checks
};

/// A string header for encode_message.
struct eventstream_header {
  std::string_view name;   ///< header name (1..255 bytes)
  std::string_view value;  ///< string value (type 7, at most 65535 bytes)
};

/// Encodes one event-stream message with string headers (for tests and fake upstreams).
std::string encode_message(const std::vector<eventstream_header>& headers,
                           std::string_view payload);
/// An event message: :message-type event, :event-type `event_type`, :content-type
/// application/json, and the JSON `payload`.
std::string encode_event(std::string_view event_type, std::string_view payload);
/// An exception message: :message-type exception, :exception-type `exception_type`,
/// :content-type application/json, and a payload such as {"message":"..."}.
std::string encode_exception(std::string_view exception_type, std::string_view payload);

// ---------------------------------------------------------------------------------------------
// Kiro answers -> canonical stream events

/// Tool names sent to Kiro in a shortened form (longer than 64 characters): short -> original.
using tool_name_map = std::map<std::string, std::string, std::less<>>;

/// How Kiro answers are read.
struct decode_options {
  /// The model name reported to the client (aggregator; message_start).
  std::string model;
  /// Larger event-stream messages fail the stream.
  std::size_t max_message_bytes = eventstream_parser::default_max_message_bytes;
  /// The context window that contextUsagePercentage refers to (tokens).
  std::int64_t context_window_tokens = 200000;
  /// Input tokens reported until a contextUsageEvent gives a better estimate (from
  /// built_request::input_tokens_estimate; 0: unknown).
  std::int64_t input_tokens_estimate = 0;
  /// Split a `<thinking>...</thinking>` block at the start of the answer into a thinking block.
  bool extract_thinking = true;
  /// Shortened tool names to map back (built_request::tool_names).
  tool_name_map tool_names;
};

/// Kiro event-stream bytes -> canonical events (see stream_events.hpp), never throwing:
///  - assistantResponseEvent {"content"} -> text deltas (events with "followupPrompt" are
///    skipped); a `<thinking>...</thinking>` at the start of the text (leading whitespace
///    allowed, tags split across events handled) -> a thinking block, the whitespace after the
///    closing tag dropped;
///  - toolUseEvent fragments grouped by toolUseId, "input" strings appended in order (an
///    object-valued input replaces them), closed by "stop":true or at the end of the stream,
///    then emitted as one tool_use block whose partial_json is the whole input when it is a
///    JSON object, else "{}"; a missing name is taken from any fragment; calls without any
///    name, fragments of an already closed id, and calls identical (name and input) to an
///    earlier one are dropped; shortened names are mapped back; an input growing beyond 4 x
///    max_message_bytes fails the stream;
///  - contextUsageEvent -> input tokens = contextUsagePercentage x context window / 100 (a
///    percentage >= 100 ends with max_tokens: the context window is full); meteringEvent
///    (credits) is accepted and not reported;
///  - output tokens are estimated as (bytes of text + thinking + tool input) / 4, rounded up
///    (Kiro reports no token counts);
///  - stop reason: tool_use when a tool call was emitted, else end_turn;
///  - exception ContentLengthExceededException -> the message ends with max_tokens; other
///    exceptions and error messages -> an `error` event (ThrottlingException 429,
///    ValidationException 400, AccessDeniedException 403, ServiceUnavailableException 503,
///    InternalServerException 500, others 502);
///  - unknown events are ignored; a framing error (bad CRC, bad length, truncated message) or a
///    malformed JSON payload of a known event -> an `error` event (502);
///  - message_start comes with the first content block (or the end of the message), so an
///    answer that fails before any content is a lone `error` event.
/// complete() is true once an exception ended the message, or when the bytes so far end on a
/// message boundary after at least one message: Kiro sends no end-of-message event, so the HTTP
/// layer must tell a cut connection from a clean end of the body.
std::unique_ptr<stream_decoder> make_stream_decoder(decode_options opts = {});

/// Why a Kiro answer could not be turned into a response.
struct decode_error {
  int status = 0;       ///< equivalent HTTP status (0: no error)
  std::string type;     ///< the Kiro exception type, or "upstream_error"
  std::string message;  ///< one line for the client
  /// True when there was no error.
  bool ok() const noexcept { return status == 0; }
};

/// Kiro event-stream bytes -> the client's stream of protocol `to` (stream_decoder above and a
/// stream_encoder), with the interface of protocol::stream_converter.
class kiro_stream_converter final : public stream_converter {
 public:
  /// A converter for clients of protocol `to`; `opts.model` is the model name reported to the
  /// client (and to the decoder when `kiro.model` is empty).
  kiro_stream_converter(wire_protocol to, const stream_options& opts, decode_options kiro = {});
  /// Kiro bytes in (any split); client bytes appended to `out`.
  void feed(std::string_view upstream_bytes, std::string& out) override;
  /// End of the Kiro body: closes the client stream (a partial message left is an error).
  void finish(std::string& out) override;
  /// The upstream failed mid-stream: appends the client protocol's in-band error event.
  void fail(int status, std::string_view message, std::string& out) override;
  /// True when the Kiro stream carried an exception or broke the framing.
  bool failed() const noexcept override;
  /// See make_stream_decoder: true on a message boundary after at least one message.
  bool upstream_complete() const noexcept override;
  /// The error the Kiro stream carried (status 0 when none): when failed() and no byte went to
  /// the client yet, the caller can answer with this status (or retry a 429) instead.
  const decode_error& upstream_error() const noexcept { return error_; }

 private:
  std::unique_ptr<stream_decoder> decoder_;
  std::unique_ptr<stream_encoder> encoder_;
  decode_error error_;
};

/// Collects a whole Kiro event-stream answer into a canonical_response (non-streaming clients;
/// encode_response then writes the client's JSON). Same reading rules as make_stream_decoder.
class response_aggregator {
 public:
  /// An aggregator reading with `opts`.
  explicit response_aggregator(decode_options opts = {});
  /// Destroys the aggregator.
  ~response_aggregator();
  response_aggregator(const response_aggregator&) = delete;
  response_aggregator& operator=(const response_aggregator&) = delete;
  /// Feeds Kiro bytes (any split).
  void feed(std::string_view bytes);
  /// End of the body: fills `out` (thinking, text and tool_call parts in order, stop reason,
  /// usage, model, a generated msg_ id) and returns ok, or returns the failure.
  decode_error finish(canonical_response& out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// response_aggregator over a whole body.
decode_error aggregate_response(std::string_view body, const decode_options& opts,
                                canonical_response& out);

// ---------------------------------------------------------------------------------------------
// Canonical request -> Kiro request

/// Client model names -> Kiro model ids (per-instance overrides).
using model_map = std::map<std::string, std::string, std::less<>>;

/// The Kiro modelId for a client model name: an exact entry of `overrides` first, then the
/// table of PROVIDERS.md 3.4 (case-insensitive; "-thinking" suffixes, a "models/" prefix and a
/// -YYYYMMDD date suffix ignored), ids already in Kiro form ("claude-sonnet-4.5",
/// "CLAUDE_..._V1_0", "auto") as they are, then the fuzzy fallback: any other opus ->
/// claude-opus-4.6, haiku -> claude-haiku-4.5, anything else -> claude-sonnet-4.5.
std::string map_model(std::string_view model, const model_map* overrides = nullptr);

/// A tool name Kiro accepts: names of at most 64 characters unchanged, longer ones cut to 55
/// characters + "_" + 8 hex digits of a stable hash (FNV-1a) of the whole name.
std::string shorten_tool_name(std::string_view name);

/// How a request is built.
struct build_options {
  /// The client model name to map (overrides the request's "model" when not empty).
  std::string model;
  /// Social credentials: sent as "profileArn" (empty: omitted, as for IdC and API keys).
  std::string profile_arn;
  /// The conversationId (empty: a fresh uuid v4).
  std::string conversation_id;
  /// Per-instance model mapping consulted first (may be null).
  const model_map* model_overrides = nullptr;
  /// max_thinking_length when thinking is on without a budget.
  std::int64_t default_thinking_budget = 20000;
};

/// A built Kiro request.
struct built_request {
  std::string body;             ///< the JSON body of generateAssistantResponse
  std::string model_id;         ///< the Kiro modelId used
  std::string conversation_id;  ///< the conversationId sent
  tool_name_map tool_names;     ///< shortened tool names -> original (for decode_options)
  std::int64_t input_tokens_estimate = 0;  ///< (body bytes - image bytes) / 4
  bool thinking = false;                   ///< thinking mode was requested (<thinking_mode> sent)
  std::string error;                       ///< non-empty: the request could not be built
  /// True when `body` is usable.
  bool ok() const noexcept { return error.empty(); }
  /// decode_options matching this request (tool names, input estimate) for model `model`.
  decode_options decoding(std::string model) const;
};

/// Builds the generateAssistantResponse body (PROVIDERS.md 3.4):
///  {"conversationState":{"chatTriggerType":"MANUAL","agentTaskType":"vibe",
///   "conversationId":<uuid>,"history":[...],"currentMessage":{"userInputMessage":{"content",
///   "modelId","origin":"AI_EDITOR","images":[{"format","source":{"bytes"}}],
///   "userInputMessageContext":{"tools":[{"toolSpecification":{"name","description",
///   "inputSchema":{"json":{...}}}}],"toolResults":[{"toolUseId","content":[{"text"}],
///   "status"}]}}}},"profileArn":...}
/// with these rules:
///  - system and developer messages (anywhere) join into one system text, sent as a leading
///    user/assistant pair ("I will follow these instructions."); thinking on (enabled, a budget
///    or an effort other than "none") prefixes it with <thinking_mode>enabled</thinking_mode>
///    <max_thinking_length>N</max_thinking_length>;
///  - tool uses without a matching tool result (and results without a use) are dropped, as
///    are repeated ids; turns left empty are dropped; same-role neighbours are merged (texts
///    joined by a blank line); the history starts with a user turn ("Continue" padding) and
///    alternates; an assistant turn without text or tool uses says "OK";
///  - the last user turn is the current message (placeholders "Tool results provided." /
///    "Continue" when it has no text); when the conversation ends with an assistant turn, that
///    turn stays in the history and the current message is "Continue";
///  - tool names longer than 64 characters are shortened (returned in tool_names), tools used
///    in the history but not declared get a placeholder declaration (case-insensitive match),
///    schemas get "type":"object", null "properties" -> {} and null "required" -> [] (at every
///    level), descriptions are capped at 10000 bytes (empty: the name); empty-string keys are
///    dropped from tool inputs; provider-native tools are left out;
///  - base64 images -> {"format":"png"|"jpeg"|"gif"|"webp","source":{"bytes"}}; image URLs
///    and other media become a short text note (Kiro takes neither);
///  - assistant thinking in the history is kept as <thinking>...</thinking> before its text.
/// Never throws; `error` is set when the request cannot be built.
built_request build_request(const canonical_request& q, const build_options& opts = {});

/// A fresh random (version 4) UUID, lower-case with dashes.
std::string make_uuid_v4();

/// HTTP header name/value pairs.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Details of the request headers beyond the credentials.
struct header_options {
  std::string sdk_version = "1.0.34";  ///< aws-sdk-js codewhispererstreaming version
  std::string os = "linux#6.1.0";      ///< "<platform>#<release>"
  std::string node_version = "22.21.1";
  bool api_key = false;  ///< API-key credentials (ksk_...): adds "tokentype: API_KEY"
};

/// The request headers of generateAssistantResponse (PROVIDERS.md 3.3), without Host and
/// Content-Length: Authorization, Content-Type, Accept, amz-sdk-invocation-id (a fresh uuid),
/// amz-sdk-request, x-amz-user-agent, user-agent, x-amzn-codewhisperer-optout,
/// x-amzn-kiro-agent-mode, Connection: close.
header_list request_headers(std::string_view access_token, std::string_view machine_id,
                            std::string_view kiro_version, const header_options& opts = {});

// ---------------------------------------------------------------------------------------------
// Errors (PROVIDERS.md 3.6)

/// What to do about a Kiro HTTP error answer.
enum class error_action {
  client_error,       ///< 400, 413, 422: the request itself is wrong; never retry
  refresh_and_retry,  ///< 401, 403 "bearer token ... invalid": refresh the token, retry once
  account_unusable,   ///< other 403 (suspended, terms, no access): do not refresh; disable
  quota_exhausted,    ///< 402 / MONTHLY_REQUEST_COUNT: park the account until cooldown_until
  transient           ///< 408, 429, 5xx and other statuses: back off or rotate; the account
                      ///< stays usable
};

/// A classified Kiro error answer.
struct error_info {
  error_action action = error_action::transient;  ///< what to do
  int client_status = 502;  ///< the status to answer the client with when giving up
  std::string type;         ///< error type (x-amzn-errortype or "__type", namespace removed)
  std::string reason;       ///< "reason" (top level or error.reason), when given
  std::string message;      ///< "message" (or the start of a non-JSON body)
  /// quota_exhausted: when the account can be used again (the 1st of next month, 00:00 UTC).
  std::optional<std::chrono::system_clock::time_point> cooldown_until;
};

/// Classifies an HTTP error answer of Kiro: `status`, the body (JSON {"message","reason"}, or
/// anything), the x-amzn-errortype header (may be empty), and the current time.
error_info classify_error(
    int status, std::string_view body, std::string_view error_type_header = {},
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// The first day of the month after `now`'s month, 00:00:00 UTC.
std::chrono::system_clock::time_point next_month_start_utc(
    std::chrono::system_clock::time_point now);

}  // namespace aiclient::protocol::kiro
