#pragma once
// Pieces shared by the stream decoders and encoders (private to src/protocol/stream_*.cpp).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/sse.hpp"
#include "aiclient/protocol/stream_events.hpp"

namespace aiclient::protocol::stream_detail {

namespace od = simdjson::ondemand;
using simdjson::error_code;

/// Parses one upstream event's JSON with a per-thread on-demand parser and padded buffer (both
/// reused: no allocation per event once grown). The document and every string view read from it
/// stay valid until the next call of parse_event on the same thread.
error_code parse_event(std::string_view json, od::document& doc);

/// Reads a string value; leaves `out` unchanged when the value is not a string.
error_code read_string(od::value v, std::string_view& out);
/// Reads an integer value (a float is truncated); `has` set when it was a number.
error_code read_int(od::value v, std::int64_t& out, bool* has = nullptr);
/// Reads a boolean value; leaves `out` unchanged when the value is not a boolean.
error_code read_bool(od::value v, bool& out);
/// The raw JSON text of an object value (whitespace included), or empty when not an object.
error_code read_raw_object(od::value v, std::string_view& out);

/// Calls f(key, value), which returns an error_code, for each field of an opened object;
/// stops at the first error.
template <class F>
error_code each_field(od::object& obj, F&& f) {
  for (auto field_result : obj) {
    od::field field;
    if (const error_code e = std::move(field_result).get(field)) return e;
    std::string_view key;
    if (const error_code e = field.unescaped_key().get(key)) return e;
    if (const error_code e = f(key, field.value())) return e;
  }
  return simdjson::SUCCESS;
}

/// The same for an object value; nothing when the value is not an object.
template <class F>
error_code each_field(od::value v, F&& f) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::object) return simdjson::SUCCESS;
  od::object obj;
  if (const error_code e = v.get_object().get(obj)) return e;
  return each_field(obj, f);
}

/// Calls f(value), which returns an error_code, for each element of an array value (nothing when
/// the value is not an array); stops at the first error.
template <class F>
error_code each_element(od::value v, F&& f) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::array) return simdjson::SUCCESS;
  od::array arr;
  if (const error_code e = v.get_array().get(arr)) return e;
  for (auto element : arr) {
    od::value item;
    if (const error_code e = std::move(element).get(item)) return e;
    if (const error_code e = f(item)) return e;
  }
  return simdjson::SUCCESS;
}

/// A random identifier: `prefix` followed by `n` characters of [0-9A-Za-z].
std::string random_id(std::string_view prefix, std::size_t n = 24);
/// Appends a random identifier to `out` (see random_id).
void append_random_id(std::string& out, std::string_view prefix, std::size_t n = 24);

/// An HTTP status for an upstream error type (Anthropic error types, OpenAI error types and
/// codes, Google RPC statuses); 0 when unknown.
int status_from_error_type(std::string_view type) noexcept;

/// Removes leading and trailing ASCII whitespace.
std::string_view trim(std::string_view s) noexcept;

/// Base of the SSE decoders: frames the upstream bytes with sse_parser, hands each event to
/// handle(), and keeps the canonical stream well formed (one message_start first, the set of
/// open blocks, nothing after message_stop or error).
class sse_decoder : public stream_decoder {
 public:
  explicit sse_decoder(std::size_t max_event_bytes) : parser_(max_event_bytes) {}

  void feed(std::string_view bytes, stream_event_sink& sink) final;
  void finish(stream_event_sink& sink) final;
  bool failed() const noexcept final { return failed_; }
  bool complete() const noexcept final { return complete_; }

 protected:
  /// Converts one upstream SSE event.
  virtual void handle(const sse_event& event) = 0;
  /// Called by finish() when the stream is not over: emit what closes it.
  virtual void close_stream() = 0;

  /// Emits message_start once (later calls do nothing).
  void start_message(std::string_view id, std::string_view model, const usage& tokens);
  bool started() const noexcept { return started_; }
  /// Emits a block_start and records the block as open.
  void start_block(std::uint32_t index, block_type type, std::string_view id = {},
                   std::string_view name = {}, std::string_view data = {});
  /// Emits a block_delta (the block must be open).
  void block_delta(std::uint32_t index, delta_type type, std::string_view piece);
  /// Emits a block_stop for an open block; false when it was not open.
  bool stop_block(std::uint32_t index);
  /// True when the block is open.
  bool is_open(std::uint32_t index) const noexcept;
  /// Stops every open block, oldest first.
  void stop_all_blocks();
  /// Stops open blocks, then emits message_delta (once; message_start first if needed). Blocks
  /// started after it are ignored.
  void message_delta(std::optional<stop_reason> stop, std::string_view stop_sequence,
                     const usage& tokens);
  /// True once message_delta was emitted.
  bool delta_sent() const noexcept { return delta_sent_; }
  /// message_delta (unless sent), then message_stop.
  void end_message(std::optional<stop_reason> stop, std::string_view stop_sequence,
                   const usage& tokens);
  /// Emits a terminal error event.
  void emit_error(int status, std::string_view type, std::string_view message);
  /// The upstream event was not valid JSON of the expected shape.
  void fail_malformed(error_code e);
  /// Emits one event as it is.
  void emit(const stream_event& event);

  bool ended_ = false;     ///< message_stop or error emitted: ignore the rest
  bool complete_ = false;  ///< the upstream sent its end of message

 private:
  void drain();

  sse_parser parser_;
  stream_event_sink* sink_ = nullptr;
  std::vector<std::uint32_t> open_;  ///< open block indices, in start order
  bool started_ = false;
  bool delta_sent_ = false;
  bool failed_ = false;
};

/// Tracks whether streamed JSON text forms one complete JSON object or array (braces balanced
/// outside strings), without parsing it.
class json_progress {
 public:
  /// Feeds the next piece.
  void feed(std::string_view piece) noexcept;
  /// True when the text so far is a whole object/array (trailing whitespace allowed).
  bool complete() const noexcept { return closed_ && !trailing_; }
  /// True when no non-whitespace byte was seen.
  bool empty() const noexcept { return !opened_; }

 private:
  std::uint32_t depth_ = 0;
  bool opened_ = false;
  bool closed_ = false;
  bool trailing_ = false;
  bool in_string_ = false;
  bool escape_ = false;
};

/// Encoders.
std::unique_ptr<stream_encoder> make_openai_encoder(const stream_options& opts);
std::unique_ptr<stream_encoder> make_claude_encoder(const stream_options& opts);
std::unique_ptr<stream_encoder> make_gemini_encoder(const stream_options& opts);

/// Decoders.
std::unique_ptr<stream_decoder> make_openai_decoder(std::size_t max_event_bytes);
std::unique_ptr<stream_decoder> make_claude_decoder(std::size_t max_event_bytes);
std::unique_ptr<stream_decoder> make_gemini_decoder(std::size_t max_event_bytes);

}  // namespace aiclient::protocol::stream_detail
