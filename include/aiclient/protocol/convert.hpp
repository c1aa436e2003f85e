#pragma once
// Protocol conversion through the canonical model (hub and spokes): one decoder to and one
// encoder from the canonical model per protocol, for requests, responses and streams.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aiclient/protocol/protocol.hpp"
#include "aiclient/protocol/request_body.hpp"

namespace aiclient::protocol {

/// Facts a request conversion needs beyond the body.
struct request_options {
  /// The model to send upstream. For a Gemini client it comes from the URL; for others it
  /// overrides the body's "model" when not empty (model mapping).
  std::string model;
  /// Whether the client asked for a stream (a Gemini client says so with the endpoint).
  bool stream = false;
};

/// A converted body, or a client-facing error (400: the request cannot be expressed).
struct convert_result {
  std::string body;
  std::string error;  ///< non-empty on failure
  bool ok() const noexcept { return error.empty(); }
};

/// Converts a client request body of protocol `from` into an upstream request body of
/// protocol `to` (from != to). For a Gemini target, the model and the stream flag are not in
/// the body (the caller puts them in the URL).
convert_result convert_request(wire_protocol from, wire_protocol to, std::string_view body,
                               const request_options& opts);
/// The same, reading `body` in place when `allocated` bytes at body.data() leave room for the
/// parser's padding (body.size() + json_padding: e.g. a std::string's capacity()) instead of
/// copying it first. With `parsed` ready (inspect_body(from, body, ..., *parsed) accepted these
/// bytes), its parse is reused instead of running simdjson's stage 1 again, and released:
/// `body` must then be the bytes inspect_body read, unchanged and at the same address (when
/// inspect_body copied them, equal bytes anywhere also do); otherwise the parse is ignored.
/// The result is the same as convert_request(from, to, body, opts), errors included.
convert_result convert_request(wire_protocol from, wire_protocol to, std::string_view body,
                               std::size_t allocated, const request_options& opts,
                               parsed_body* parsed = nullptr);

/// Converts a complete (non-streaming) upstream response body of protocol `from` into the
/// client's protocol `to`. `model` is the model name to report to the client.
convert_result convert_response(wire_protocol from, wire_protocol to, std::string_view body,
                                std::string_view model);

/// Converts a model list of protocol `from` (OpenAI {"data":[{"id"}]}, Anthropic
/// {"data":[{"id","display_name"}]}, Gemini {"models":[{"name":"models/x"}]}) into `to`.
convert_result convert_models(wire_protocol from, wire_protocol to, std::string_view body);

/// Facts a stream conversion needs.
struct stream_options {
  std::string model;           ///< model name to report to the client
  bool include_usage = false;  ///< OpenAI client asked stream_options.include_usage
  bool gemini_sse = true;      ///< Gemini client: alt=sse (else one streamed JSON array)
  std::size_t max_event_bytes = 16 * 1024 * 1024;  ///< larger upstream events fail the stream
};

/// Converts an upstream stream (SSE of protocol `from`; for a Gemini upstream, SSE
/// GenerateContentResponse chunks) into the client's stream of protocol `to`, incrementally:
/// every complete upstream event is converted and appended to `out` at once.
class stream_converter {
 public:
  virtual ~stream_converter() = default;
  /// Makes a converter (from != to).
  static std::unique_ptr<stream_converter> make(wire_protocol from, wire_protocol to,
                                                const stream_options& opts);
  /// Upstream bytes in (any split); converted client bytes appended to `out`.
  virtual void feed(std::string_view upstream_bytes, std::string& out) = 0;
  /// The upstream stream ended cleanly: appends what closes the client stream properly
  /// (open blocks closed, stop reason and usage, message_stop / data: [DONE] / "]").
  /// When the upstream ended without its own terminal event, this still closes properly.
  virtual void finish(std::string& out) = 0;
  /// The upstream failed mid-stream (or sent an error event): appends the client protocol's
  /// in-band error event. The stream is over after it.
  virtual void fail(int status, std::string_view message, std::string& out) = 0;
  /// True when the upstream stream itself carried an error event or broke the framing
  /// (feed() then already appended the client's error event).
  virtual bool failed() const noexcept = 0;
  /// True once the upstream sent its own end of message (OpenAI finish_reason or [DONE],
  /// Anthropic message_delta with a stop_reason or message_stop, Gemini finishReason). When the
  /// upstream connection ends without it, the stream was cut: call fail() rather than finish().
  virtual bool upstream_complete() const noexcept = 0;
};

}  // namespace aiclient::protocol
