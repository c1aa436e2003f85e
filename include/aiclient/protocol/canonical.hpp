#pragma once
// The canonical model of the hub-and-spokes conversion (DESIGN.md): every protocol has one
// decoder into these types and one encoder out of them, for requests, complete responses and
// model lists. It is a superset of the three protocols' request and response features, shaped so
// that the OpenAI Responses API (instructions, input items, reasoning items) fits it later.
//
// Strings are views, never copies: a decoded value points into a padded copy of the body and into
// the simdjson parser that read it, both owned by the value's `memory`. Text read from JSON stays
// JSON-escaped (`text_value::escaped`) so that encoders copy it into their output as it is, without
// unescaping and escaping it again; raw JSON subtrees (tool schemas, tool call arguments, unknown
// fields) are views of the input bytes and are written back verbatim. Each decoded value owns
// its buffers (`memory`): it may be moved, not copied, and its views die with it.
//
// Rules the encoders apply between protocols:
//  - System and developer messages anywhere become Claude's `system` / Gemini's
//    systemInstruction, in order; OpenAI keeps them in place.
//  - Tool results travel in user messages; consecutive same-role messages are merged for Claude
//    and (from other protocols) Gemini; tool results come first in a merged message.
//  - Gemini sends no call ids: decoders make "call_<n>_<name>" and match functionResponses to
//    pending calls by id, else by name in order; the Gemini encoder finds a result's function name
//    from the earlier call with that id, and sends ids only to a Gemini client (responses) or
//    back to Gemini when they came from it.
//  - Signatures are opaque and go back to whoever made them: Claude thinking signatures and
//    Gemini thoughtSignatures ride on thinking parts; a Gemini signature on a function call or
//    text part reaches Claude clients on an empty "carrier" thinking block placed before it and
//    comes back from there. OpenAI has no field for them: signed reasoning is not sent to an
//    OpenAI upstream (only unsigned reasoning_content, its own), and Claude rejects unsigned
//    thinking, so that is left out for Claude upstreams. The first function call of a model turn
//    from another protocol's history gets Google's documented placeholder signature.
//  - Claude: max_tokens defaults to 8192 (budget + 4096 with thinking); a thinking budget is
//    >= 1024 and < max_tokens; thinking is left off with a forced tool choice or when the last
//    assistant turn has tool calls without signed thinking; temperature is clamped to 0..1 and
//    dropped (with top_k, and top_p < 0.95) under thinking; tool ids are reduced to
//    [A-Za-z0-9_-]; response_format becomes a system instruction (Claude has no JSON mode).
//  - Effort <-> budget: minimal/low 1024 (Gemini minimal 512), medium 8192, high 24576; a budget
//    maps back to low (<= 1024), medium (<= 8192) or high.
//  - Media: OpenAI data URLs <-> Claude base64 sources <-> Gemini inlineData; http(s) URLs ->
//    Claude url sources and Gemini fileData (media type from the extension when unknown);
//    Gemini gs:// or File API URIs cannot go to Claude or OpenAI (errors).
//  - Known losses: OpenAI has no top_k, no is_error on tool results, no cache_control; Claude has
//    no seed, penalties or n > 1 (an error); Gemini has no parallel_tool_calls switch; unknown
//    top-level fields reach only their own protocol.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/common.hpp"
#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

/// A string of the canonical model: either JSON-escaped content (the characters between the
/// quotes of a JSON string literal, copied as they are into JSON output) or plain characters
/// (escaped when written).
struct text_value {
  std::string_view data;  ///< the characters, escaped or plain as `escaped` says
  bool escaped = false;   ///< `data` is JSON-escaped string content
  /// True when there are no characters.
  bool empty() const noexcept { return data.empty(); }
};

/// A text_value of plain characters.
inline text_value plain_text(std::string_view s) noexcept {
  return {s, false};
}

/// The memory a decoded canonical value points into: a padded copy of the body, the simdjson
/// parser that read it (its string buffer holds unescaped strings) and strings made by codecs.
/// Buffers are borrowed from a small per-thread cache and given back on destruction, so a
/// typical conversion allocates almost nothing for them.
class decode_memory {
 public:
  /// Opaque state (defined in the codecs).
  struct impl;
  /// Empty memory (nothing borrowed yet).
  decode_memory() noexcept;
  /// Gives the borrowed buffers back.
  ~decode_memory();
  /// Moves the buffers (views into them stay valid).
  decode_memory(decode_memory&&) noexcept;
  /// Moves the buffers (views into them stay valid).
  decode_memory& operator=(decode_memory&&) noexcept;
  decode_memory(const decode_memory&) = delete;
  decode_memory& operator=(const decode_memory&) = delete;

  /// Keeps `s` alive as long as this memory and returns a view of it.
  std::string_view keep(std::string s);
  /// The plain (unescaped) characters of `t`; unescapes into this memory when needed.
  std::string_view plain(const text_value& t);
  /// The state (created on first use).
  impl& state();

 private:
  std::unique_ptr<impl> impl_;
};

/// Who speaks a message. Tool results travel in user messages, as in Claude and Gemini.
enum class message_role {
  system,     ///< instructions (OpenAI "system", Claude top-level system, Gemini systemInstruction)
  developer,  ///< OpenAI "developer" instructions (a system message elsewhere)
  user,       ///< the user, and tool results
  assistant   ///< the model (Gemini "model")
};

/// The type of a message part.
enum class part_kind {
  text,               ///< text
  media,              ///< an image, document or audio clip: base64 data or an URL
  tool_call,          ///< a function call made by the model
  tool_result,        ///< the result of a function call
  thinking,           ///< reasoning text with an optional signature
  redacted_thinking,  ///< Claude encrypted reasoning (opaque data)
  native              ///< a block only its own protocol understands, kept as raw JSON
};

/// One part of a message or of a response. Which fields matter depends on `kind`.
struct part {
  /// A text part with every field empty. User-provided on purpose: value-initialising a part
  /// (vector::emplace_back) would otherwise zero-fill its ~330 bytes with `rep stos` first, whose
  /// start-up cost showed as 3% of a request conversion; the member initialisers below store
  /// the same zeros directly.
  part() noexcept {}
  /// What this part is.
  part_kind kind = part_kind::text;
  /// text and thinking: the text; redacted_thinking: the opaque data.
  text_value text;
  /// thinking: its signature (Claude "signature", Gemini "thoughtSignature"); other kinds: a
  /// Gemini thoughtSignature carried by that part (Gemini signs function calls and text too).
  text_value signature;
  /// media: IANA media type ("image/png", "application/pdf", "audio/wav"); may be empty for URLs.
  text_value media_type;
  /// media: base64 data (empty when `url` is set).
  text_value data;
  /// media: an URL (https:, gs:, a file URI) instead of data.
  text_value url;
  /// media: OpenAI image detail ("auto", "low", "high").
  text_value detail;
  /// media: a file name (OpenAI file parts).
  text_value filename;
  /// tool_call: the call id; tool_result: the id of the call it answers.
  text_value id;
  /// tool_call: the function name; tool_result: the function name when the source said it.
  text_value name;
  /// tool_call: the arguments, a JSON object as text (escaped: the content of a JSON string
  /// literal holding that text, as OpenAI sends it; plain: the raw JSON object itself).
  text_value arguments;
  /// tool_result: content parts (text and media).
  std::vector<part> content;
  /// tool_result: a JSON object result with no text form (a Gemini functionResponse.response
  /// other than {"output": text} or {"error": text}), raw JSON.
  std::string_view result_json;
  /// tool_result: the tool reported a failure.
  bool is_error = false;
  /// tool_result: the content was a plain string (not an array of blocks).
  bool content_string = false;
  /// tool_call and tool_result: the id was made up by a decoder (Gemini sends none), so an
  /// encoder for a protocol without ids leaves it out.
  bool synthetic_id = false;
  /// Claude cache_control of this block, raw JSON (empty: none).
  std::string_view cache_control;
  /// native: the protocol the raw block belongs to.
  wire_protocol native_protocol = wire_protocol::openai;
  /// native: the raw JSON block (Claude server tool blocks, Gemini executableCode...).
  std::string_view raw;
};

/// One message of the conversation.
struct message {
  /// Who speaks.
  message_role role = message_role::user;
  /// The content, in order.
  std::vector<part> parts;
  /// The content was a plain string, not an array of parts (kept for faithful round trips).
  bool content_string = false;
};

/// A function the model may call, or a provider-native tool.
struct tool {
  /// The function name.
  text_value name;
  /// What the function does.
  text_value description;
  /// The JSON schema of the arguments, raw JSON (empty: none given).
  std::string_view parameters;
  /// OpenAI "strict" flag.
  std::optional<bool> strict;
  /// Claude cache_control of the tool, raw JSON (empty: none).
  std::string_view cache_control;
  /// Non-empty: a provider-native tool (Claude server tools such as web_search, Gemini
  /// googleSearch...), raw JSON, sent only to `native_protocol`.
  std::string_view raw;
  /// The protocol of a native tool.
  wire_protocol native_protocol = wire_protocol::openai;
};

/// How the model must use tools.
enum class tool_choice_mode {
  unset,      ///< not said (the provider's default, auto)
  automatic,  ///< the model decides (OpenAI "auto", Claude auto, Gemini AUTO)
  none,       ///< no tool calls (OpenAI "none", Claude none, Gemini NONE)
  required,   ///< at least one call (OpenAI "required", Claude any, Gemini ANY)
  named       ///< a call of `names` (OpenAI function, Claude tool, Gemini ANY + allowed names)
};

/// The tool choice of a request.
struct tool_choice {
  /// The mode.
  tool_choice_mode mode = tool_choice_mode::unset;
  /// named: the allowed functions (one, except from Gemini allowedFunctionNames).
  std::vector<text_value> names;
};

/// The structured output asked for.
enum class response_format_kind {
  unset,        ///< not said
  text,         ///< plain text (OpenAI {"type":"text"}, Gemini text/plain)
  json_object,  ///< any JSON object (OpenAI json_object, Gemini application/json)
  json_schema   ///< JSON following `schema`
};

/// Structured output settings.
struct response_format {
  /// What is asked.
  response_format_kind kind = response_format_kind::unset;
  /// json_schema: the schema's name (OpenAI requires one).
  text_value name;
  /// json_schema: its description.
  text_value description;
  /// json_schema: the JSON schema, raw JSON.
  std::string_view schema;
  /// json_schema: OpenAI "strict".
  std::optional<bool> strict;
};

/// Reasoning ("thinking") settings.
struct reasoning_config {
  /// Explicitly on or off (Claude thinking type, Gemini thinkingBudget 0, OpenAI effort "none").
  std::optional<bool> enabled;
  /// An effort level: OpenAI reasoning_effort ("minimal", "low", "medium", "high"...), Gemini
  /// thinkingLevel. Plain characters.
  std::string_view effort;
  /// A token budget (Claude budget_tokens, Gemini thinkingBudget; -1: dynamic).
  std::optional<std::int64_t> budget_tokens;
  /// Gemini includeThoughts.
  std::optional<bool> include_thoughts;
};

/// A top-level request field the canonical model has no place for, kept raw so that the same
/// protocol gets it back (round trips); other protocols never see it.
struct extra_field {
  /// The protocol it came from.
  wire_protocol protocol = wire_protocol::openai;
  /// The key, plain characters.
  std::string_view key;
  /// The value, raw JSON.
  std::string_view value;
};

/// A chat request in canonical terms.
struct canonical_request {
  /// The protocol it was decoded from.
  wire_protocol source = wire_protocol::openai;
  /// The model (empty for a Gemini body: its model is in the URL).
  text_value model;
  /// The conversation; system and developer messages are instructions.
  std::vector<message> messages;
  /// Functions and native tools.
  std::vector<tool> tools;
  /// How tools must be used.
  struct tool_choice choice;
  /// false: at most one tool call per turn (OpenAI parallel_tool_calls, Claude
  /// disable_parallel_tool_use).
  std::optional<bool> parallel_tool_calls;
  /// The output token limit (OpenAI max_tokens / max_completion_tokens, Claude max_tokens,
  /// Gemini maxOutputTokens).
  std::optional<std::int64_t> max_tokens;
  /// OpenAI: the client wrote max_completion_tokens.
  bool max_completion_tokens = false;
  /// Sampling temperature.
  std::optional<double> temperature;
  /// Nucleus sampling.
  std::optional<double> top_p;
  /// Top-k sampling (Claude, Gemini).
  std::optional<std::int64_t> top_k;
  /// Stop sequences.
  std::vector<text_value> stop;
  /// OpenAI: "stop" was a single string.
  bool stop_string = false;
  /// OpenAI / Gemini presence penalty.
  std::optional<double> presence_penalty;
  /// OpenAI / Gemini frequency penalty.
  std::optional<double> frequency_penalty;
  /// OpenAI / Gemini seed.
  std::optional<std::int64_t> seed;
  /// Number of choices (OpenAI n, Gemini candidateCount).
  std::optional<std::int64_t> candidates;
  /// Structured output.
  struct response_format format;
  /// Reasoning settings.
  reasoning_config reasoning;
  /// The client wants a stream.
  bool stream = false;
  /// OpenAI stream_options.include_usage.
  std::optional<bool> include_usage;
  /// An end-user id (OpenAI user, Claude metadata.user_id).
  text_value user;
  /// Fields of the source protocol the model has no place for.
  std::vector<extra_field> extras;
  /// What the views point into.
  decode_memory memory;
};

/// A complete (non-streaming) answer in canonical terms.
struct canonical_response {
  /// The protocol it was decoded from.
  wire_protocol source = wire_protocol::openai;
  /// The response id (OpenAI chatcmpl-..., Claude msg_..., Gemini responseId); may be empty.
  text_value id;
  /// The model that answered.
  text_value model;
  /// OpenAI "created" (Unix seconds).
  std::optional<std::int64_t> created;
  /// The content, in order: thinking, text, tool calls...
  std::vector<part> parts;
  /// Why the model stopped.
  stop_reason stop = stop_reason::end_turn;
  /// The stop sequence that matched (Claude), if any.
  text_value stop_sequence;
  /// Token usage.
  usage tokens;
  /// What the views point into.
  decode_memory memory;
};

/// One model of a model list.
struct model_info {
  /// The id clients send as "model" (Gemini's "models/" prefix removed).
  text_value id;
  /// A human-readable name.
  text_value display_name;
  /// A description (Gemini).
  text_value description;
  /// The owner (OpenAI owned_by).
  text_value owned_by;
  /// Creation time, Unix seconds (OpenAI created, Claude created_at).
  std::optional<std::int64_t> created;
  /// Gemini inputTokenLimit.
  std::optional<std::int64_t> input_token_limit;
  /// Gemini outputTokenLimit.
  std::optional<std::int64_t> output_token_limit;
};

/// A model list in canonical terms.
struct canonical_model_list {
  /// The protocol it was decoded from.
  wire_protocol source = wire_protocol::openai;
  /// The models, in order.
  std::vector<model_info> models;
  /// What the views point into.
  decode_memory memory;
};

/// Decodes a request body of protocol `p` into `out` (reset first; its views stay valid while it
/// lives). Returns an empty string on success, else a one-line client-facing message (malformed
/// JSON, a field of the wrong type...).
std::string decode_request(wire_protocol p, std::string_view body, canonical_request& out);
/// Appends the request body of protocol `p` to `out` (for Gemini, without model and stream,
/// which go in the URL). Returns an empty string on success, else why the request cannot be
/// expressed in `p`.
std::string encode_request(wire_protocol p, const canonical_request& in, std::string& out);

/// Decodes a complete response body of protocol `p`. Returns an empty string or an error.
std::string decode_response(wire_protocol p, std::string_view body, canonical_response& out);
/// Appends the response body of protocol `p` to `out`. Returns an empty string or an error.
std::string encode_response(wire_protocol p, const canonical_response& in, std::string& out);

/// Decodes a model list of protocol `p`. Returns an empty string or an error.
std::string decode_models(wire_protocol p, std::string_view body, canonical_model_list& out);
/// Appends the model list of protocol `p` to `out`.
void encode_models(wire_protocol p, const canonical_model_list& in, std::string& out);

/// Keywords removed from JSON schemas sent to Gemini (function parameters, responseSchema):
/// Gemini accepts an OpenAPI subset and rejects the rest. Documented here, used by the encoder.
/// Kept: type (a ["x","null"] array becomes "x" + nullable), format (only date-time, enum,
/// int32, int64, float, double), title, description, nullable, enum, items, properties,
/// required, anyOf (oneOf becomes anyOf; a {"type":"null"} branch becomes nullable), minItems,
/// maxItems, minimum, maximum, minLength, maxLength, pattern, minProperties, maxProperties,
/// propertyOrdering. Converted: const (a string) -> enum [value]; $ref to "#/$defs/x" or
/// "#/definitions/x" -> the definition inlined (to a bounded depth). Everything else is dropped:
/// $schema, $id, $ref (unresolvable), $defs, definitions, $comment, additionalProperties,
/// unevaluatedProperties, patternProperties, propertyNames, dependencies, dependentRequired,
/// dependentSchemas, exclusiveMinimum, exclusiveMaximum, multipleOf, uniqueItems, contains,
/// minContains, maxContains, prefixItems, additionalItems, allOf, not, if, then, else, examples,
/// default, example, readOnly, writeOnly, deprecated, contentEncoding, contentMediaType, strict.
/// An empty "properties" object is dropped too (Gemini rejects it).
std::string clean_schema_for_gemini(std::string_view schema_json);

}  // namespace aiclient::protocol
