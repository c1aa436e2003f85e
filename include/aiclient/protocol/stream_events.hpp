#pragma once
// The canonical stream: a sequence of typed events in Anthropic's vocabulary (the richest of
// the three protocols). A decoder turns upstream bytes of one protocol into canonical events; an
// encoder turns canonical events into client bytes of one protocol; stream_converter (see
// convert.hpp) is one of each.
//
// A well-formed canonical stream, as every decoder produces it:
//   message_start (exactly once, first)
//   { block_start(i) block_delta(i)* block_stop(i) | ping }*   (blocks may overlap: several
//       blocks can be open at once, e.g. OpenAI parallel tool calls whose argument deltas
//       interleave; each block's own events are in order and indices are unique)
//   message_delta (stop reason, final usage; every block stopped before it)
//   message_stop
// or, at any point, a single terminal `error`. Encoders tolerate less (a missing message_start
// or block_stop is synthesized), so providers with other wire formats (Kiro event-stream, the
// mock provider) can drive an encoder directly.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aiclient/protocol/common.hpp"
#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

struct stream_options;

/// Kinds of canonical stream events.
enum class stream_event_type : std::uint8_t {
  message_start,  ///< id, model, tokens (input side when known)
  block_start,    ///< index, block; tool_use: id, name; redacted_thinking: text (the data)
  block_delta,    ///< index, delta, text (the piece)
  block_stop,     ///< index
  message_delta,  ///< stop, stop_sequence, tokens (everything known at the end)
  message_stop,   ///< end of the message
  error,          ///< status, error_type, text (the message); terminal
  ping            ///< keep-alive, no content
};

/// Kinds of content blocks.
enum class block_type : std::uint8_t { text, thinking, tool_use, redacted_thinking };

/// Kinds of block deltas.
enum class delta_type : std::uint8_t {
  text,          ///< text of a text block
  thinking,      ///< reasoning text of a thinking block
  partial_json,  ///< a piece of a tool_use block's argument JSON (pieces concatenate)
  signature      ///< signature of a thinking block (Gemini thoughtSignature)
};

/// One canonical event. String views point into the producer's buffers and are valid only
/// during the call that delivers the event: copy what you keep.
struct stream_event {
  stream_event_type type = stream_event_type::ping;  ///< what happened
  std::uint32_t index = 0;                           ///< block events: the block's index
  block_type block = block_type::text;               ///< block_start: kind of block
  delta_type delta = delta_type::text;               ///< block_delta: kind of piece
  std::string_view id;    ///< message_start: message id; block_start tool_use: call id
  std::string_view name;  ///< message_start: model; block_start tool_use: tool name
  std::string_view text;  ///< block_delta: piece; redacted_thinking start: data; error: message
  usage tokens;           ///< message_start, message_delta: token usage (see common.hpp)
  std::optional<stop_reason> stop;  ///< message_delta: why the model stopped (when known)
  std::string_view stop_sequence;   ///< message_delta: the stop sequence that matched, if any
  int status = 0;                   ///< error: equivalent HTTP status
  std::string_view error_type;      ///< error: the upstream's error type/status name, if any
};

/// Receives canonical events from a decoder.
class stream_event_sink {
 public:
  virtual ~stream_event_sink() = default;
  /// Called once per event, in stream order.
  virtual void on_event(const stream_event& event) = 0;
};

/// Upstream bytes of one protocol (SSE) -> canonical events. Never throws on bad input: a
/// broken upstream stream (malformed event JSON, oversized event) becomes an `error` event.
class stream_decoder {
 public:
  virtual ~stream_decoder() = default;
  /// A decoder for upstream streams of protocol `from`; events larger than `max_event_bytes`
  /// fail the stream.
  static std::unique_ptr<stream_decoder> make(wire_protocol from, std::size_t max_event_bytes);
  /// Feeds bytes (any split); emits the events completed by them.
  virtual void feed(std::string_view bytes, stream_event_sink& sink) = 0;
  /// End of the upstream bytes: emits the events still buffered, then closes the stream
  /// (open blocks stopped, message_delta, message_stop) when the upstream did not.
  virtual void finish(stream_event_sink& sink) = 0;
  /// True once the upstream carried an error or broke the framing (an `error` was emitted).
  virtual bool failed() const noexcept = 0;
  /// True once the upstream sent its own end of message (OpenAI finish_reason or [DONE],
  /// Anthropic message_delta with a stop_reason or message_stop, Gemini finishReason): a
  /// stream that ends without it was cut.
  virtual bool complete() const noexcept = 0;
};

/// Canonical events -> client bytes of one protocol.
class stream_encoder {
 public:
  virtual ~stream_encoder() = default;
  /// An encoder for clients of protocol `to`.
  static std::unique_ptr<stream_encoder> make(wire_protocol to, const stream_options& opts);
  /// Appends the client bytes for one event (possibly none, e.g. while a block waits for its
  /// turn on an Anthropic stream). Events after the end of the stream are ignored.
  virtual void encode(const stream_event& event, std::string& out) = 0;
  /// Closes the client stream properly when it is not over yet (open blocks closed, stop reason
  /// and usage, then message_stop / data: [DONE] / "]").
  virtual void finish(std::string& out) = 0;
  /// Appends the client protocol's in-band error event and ends the stream (no-op when over).
  virtual void fail(int status, std::string_view message, std::string& out) = 0;
  /// True once the client stream is over (closed or failed).
  virtual bool done() const noexcept = 0;
};

}  // namespace aiclient::protocol
