// Anthropic Messages stream events (SSE) -> canonical stream events (nearly one to one).
//
// Block indices are the upstream's. Unknown block types (server tools, future types) are
// skipped with their deltas; a delta for a block never started is dropped (it has no type).
// Usage: canonical input tokens include cache reads and writes (Anthropic's input_tokens does
// not); message_delta's usage (output, and input/cache counts when present) updates the
// message_start figures.
#include <vector>

#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

enum class kind : std::uint8_t {
  unknown,
  message_start,
  block_start,
  block_delta,
  block_stop,
  message_delta,
  message_stop,
  ping,
  error
};

kind kind_of(std::string_view type) {
  if (type == "content_block_delta") return kind::block_delta;
  if (type == "content_block_start") return kind::block_start;
  if (type == "content_block_stop") return kind::block_stop;
  if (type == "message_start") return kind::message_start;
  if (type == "message_delta") return kind::message_delta;
  if (type == "message_stop") return kind::message_stop;
  if (type == "ping") return kind::ping;
  if (type == "error") return kind::error;
  return kind::unknown;
}

// Anthropic usage counts, each with a "present" flag (message_delta may carry only some).
struct claude_usage {
  std::int64_t input = 0, output = 0, cache_read = 0, cache_creation = 0;
  bool has_input = false, has_output = false, has_cache_read = false, has_cache_creation = false;
};

// The fields of one event that matter, read in any key order.
struct event_fields {
  std::string_view type;
  bool has_index = false;
  std::int64_t index = 0;
  // message_start
  std::string_view id, model;
  // content_block_start / delta (the object's "type" and its payload fields)
  std::string_view sub_type;
  std::string_view block_id, block_name;
  std::string_view text;       ///< text, thinking, partial_json, data
  std::string_view signature;  ///< thinking block start or signature_delta
  // message_delta
  std::string_view stop_reason, stop_sequence;
  claude_usage tokens;
  // error
  std::string_view error_type, error_message;
};

error_code read_usage(od::value v, claude_usage& u) {
  return each_field(v, [&](std::string_view key, od::value fv) {
    error_code e = simdjson::SUCCESS;
    if (key == "input_tokens") {
      e = read_int(fv, u.input, &u.has_input);
    } else if (key == "output_tokens") {
      e = read_int(fv, u.output, &u.has_output);
    } else if (key == "cache_read_input_tokens") {
      e = read_int(fv, u.cache_read, &u.has_cache_read);
    } else if (key == "cache_creation_input_tokens") {
      e = read_int(fv, u.cache_creation, &u.has_cache_creation);
    }
    return e;
  });
}

// message_start's "message", content_block_start's "content_block", content_block_delta's and
// message_delta's "delta", error's "error": one reader for all (their keys do not collide).
error_code read_inner(od::value v, event_fields& f) {
  return each_field(v, [&](std::string_view key, od::value fv) {
    error_code e = simdjson::SUCCESS;
    if (key == "type") {
      e = read_string(fv, f.sub_type);
    } else if (key == "id") {
      e = read_string(fv, f.id);
    } else if (key == "model") {
      e = read_string(fv, f.model);
    } else if (key == "name") {
      e = read_string(fv, f.block_name);
    } else if (key == "text" || key == "thinking" || key == "partial_json" || key == "data") {
      e = read_string(fv, f.text);
    } else if (key == "signature") {
      e = read_string(fv, f.signature);
    } else if (key == "stop_reason") {
      e = read_string(fv, f.stop_reason);
    } else if (key == "stop_sequence") {
      e = read_string(fv, f.stop_sequence);
    } else if (key == "usage") {
      e = read_usage(fv, f.tokens);
    } else if (key == "message") {
      e = read_string(fv, f.error_message);
    }
    return e;
  });
}

class claude_decoder final : public sse_decoder {
 public:
  using sse_decoder::sse_decoder;

 protected:
  void handle(const sse_event& event) override {
    const std::string_view data = trim(event.data);
    if (data.empty()) return;
    event_fields f;
    if (const error_code e = read_event(data, f)) {
      fail_malformed(e);
      return;
    }
    kind k = kind_of(f.type);
    if (k == kind::unknown) k = kind_of(event.event);
    switch (k) {
      case kind::message_start:
        on_message_start(f);
        break;
      case kind::block_start:
        on_block_start(f);
        break;
      case kind::block_delta:
        on_block_delta(f);
        break;
      case kind::block_stop:
        if (f.has_index && f.index >= 0 && f.index <= UINT32_MAX) {
          stop_block(static_cast<std::uint32_t>(f.index));
        }
        break;
      case kind::message_delta:
        on_message_delta(f);
        break;
      case kind::message_stop:
        complete_ = true;
        end_message(stop_or_default(), stop_sequence_, canonical_usage());
        break;
      case kind::ping: {
        stream_event e;
        e.type = stream_event_type::ping;
        emit(e);
        break;
      }
      case kind::error: {
        int status = status_from_error_type(f.error_type);
        if (!status) status = 500;
        emit_error(status, f.error_type,
                   f.error_message.empty() ? std::string_view("upstream error") : f.error_message);
        break;
      }
      case kind::unknown:
        break;  // future event types are ignored, as the SDKs do
    }
  }

  void close_stream() override {
    end_message(stop_or_default(), stop_sequence_, canonical_usage());
  }

 private:
  static error_code read_event(std::string_view data, event_fields& f) {
    od::document doc;
    if (const error_code e = parse_event(data, doc)) return e;
    od::object root;
    if (const error_code e = doc.get_object().get(root)) return e;
    return each_field(root, [&](std::string_view key, od::value v) {
      error_code e = simdjson::SUCCESS;
      if (key == "type") {
        e = read_string(v, f.type);
      } else if (key == "index") {
        e = read_int(v, f.index, &f.has_index);
      } else if (key == "message" || key == "content_block" || key == "delta") {
        e = read_inner(v, f);
      } else if (key == "usage") {
        e = read_usage(v, f.tokens);
      } else if (key == "error") {
        event_fields inner;
        e = read_inner(v, inner);
        f.error_type = inner.sub_type;
        f.error_message = inner.error_message;
      }
      return e;
    });
  }

  void merge(const claude_usage& u) {
    if (u.has_input) base_.input = u.input, base_.has_input = true;
    if (u.has_output) base_.output = u.output, base_.has_output = true;
    if (u.has_cache_read) base_.cache_read = u.cache_read, base_.has_cache_read = true;
    if (u.has_cache_creation) {
      base_.cache_creation = u.cache_creation;
      base_.has_cache_creation = true;
    }
  }

  usage canonical_usage() const {
    usage u;
    u.cache_read_tokens = base_.cache_read;
    u.cache_creation_tokens = base_.cache_creation;
    u.input_tokens = base_.input + base_.cache_read + base_.cache_creation;
    u.output_tokens = base_.output;
    u.has_input = base_.has_input || base_.has_cache_read || base_.has_cache_creation;
    u.has_output = base_.has_output;
    return u;
  }

  void on_message_start(const event_fields& f) {
    merge(f.tokens);
    usage u = canonical_usage();
    u.has_output = false;  // message_start's output_tokens is a placeholder
    start_message(f.id, f.model, u);
  }

  void on_block_start(const event_fields& f) {
    if (!f.has_index || f.index < 0 || f.index > UINT32_MAX) return;
    const auto index = static_cast<std::uint32_t>(f.index);
    if (is_open(index)) return;  // a duplicate start: keep the first
    block_type type;
    if (f.sub_type == "text") {
      type = block_type::text;
    } else if (f.sub_type == "thinking") {
      type = block_type::thinking;
    } else if (f.sub_type == "tool_use") {
      type = block_type::tool_use;
      saw_tool_ = true;
    } else if (f.sub_type == "redacted_thinking") {
      type = block_type::redacted_thinking;
    } else {
      return;  // server_tool_use, web_search_tool_result, ...: no equivalent elsewhere
    }
    start_block(index, type, f.id, f.block_name,
                type == block_type::redacted_thinking ? f.text : std::string_view{});
    // Content already present in the start event is a first delta.
    if (type == block_type::text && !f.text.empty()) {
      block_delta(index, delta_type::text, f.text);
    } else if (type == block_type::thinking) {
      if (!f.text.empty()) block_delta(index, delta_type::thinking, f.text);
      if (!f.signature.empty()) block_delta(index, delta_type::signature, f.signature);
    }
  }

  void on_block_delta(const event_fields& f) {
    if (!f.has_index || f.index < 0 || f.index > UINT32_MAX) return;
    const auto index = static_cast<std::uint32_t>(f.index);
    if (!is_open(index)) return;
    if (f.sub_type == "text_delta") {
      if (!f.text.empty()) block_delta(index, delta_type::text, f.text);
    } else if (f.sub_type == "thinking_delta") {
      if (!f.text.empty()) block_delta(index, delta_type::thinking, f.text);
    } else if (f.sub_type == "signature_delta") {
      if (!f.signature.empty()) block_delta(index, delta_type::signature, f.signature);
    } else if (f.sub_type == "input_json_delta") {
      if (!f.text.empty()) block_delta(index, delta_type::partial_json, f.text);
    }
    // citations_delta and future delta types: no equivalent elsewhere.
  }

  void on_message_delta(const event_fields& f) {
    merge(f.tokens);
    if (!f.stop_reason.empty()) {
      stop_ = stop_reason_from(wire_protocol::claude, f.stop_reason);
      complete_ = true;
    }
    if (!f.stop_sequence.empty()) stop_sequence_.assign(f.stop_sequence);
    message_delta(stop_or_default(), stop_sequence_, canonical_usage());
  }

  stop_reason stop_or_default() const {
    if (stop_) return *stop_;
    return saw_tool_ ? stop_reason::tool_use : stop_reason::end_turn;
  }

  claude_usage base_;
  std::optional<stop_reason> stop_;
  std::string stop_sequence_;
  bool saw_tool_ = false;
};

}  // namespace

std::unique_ptr<stream_decoder> make_claude_decoder(std::size_t max_event_bytes) {
  return std::make_unique<claude_decoder>(max_event_bytes);
}

}  // namespace aiclient::protocol::stream_detail
