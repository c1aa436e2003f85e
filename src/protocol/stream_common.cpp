// Shared machinery of the stream decoders and encoders, and stream_converter::make.
#include <algorithm>
#include <cstring>
#include <memory>
#include <random>

#include "aiclient/protocol/convert.hpp"
#include "stream_internal.hpp"

namespace aiclient::protocol {

namespace stream_detail {

namespace {

// Per-thread on-demand parser and padded copy of the event being read.
struct event_scratch {
  od::parser parser;
  std::string buf;
};

// Events up to this size keep their buffers for the next event.
constexpr std::size_t keep_capacity = std::size_t{1} << 20;

event_scratch& scratch() {
  thread_local event_scratch s;
  return s;
}

}  // namespace

error_code parse_event(std::string_view json, od::document& doc) {
  event_scratch& s = scratch();
  if (s.buf.capacity() > keep_capacity + simdjson::SIMDJSON_PADDING &&
      json.size() <= keep_capacity) {
    s.buf = std::string();
    s.buf.shrink_to_fit();
    s.parser = od::parser{};
  }
  s.buf.assign(json);
  s.buf.append(simdjson::SIMDJSON_PADDING, '\0');
  return s.parser.iterate(simdjson::padded_string_view(s.buf.data(), json.size(), s.buf.size()))
      .get(doc);
}

error_code read_string(od::value v, std::string_view& out) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::string) return simdjson::SUCCESS;
  return v.get_string().get(out);
}

error_code read_int(od::value v, std::int64_t& out, bool* has) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::number) return simdjson::SUCCESS;
  od::number_type nt;
  if (const error_code e = v.get_number_type().get(nt)) return e;
  if (nt == od::number_type::floating_point_number) {
    double d = 0;
    if (const error_code e = v.get_double().get(d)) return e;
    if (d > 9e18 || d < -9e18 || d != d) d = 0;  // out of range or NaN: meaningless as a count
    out = static_cast<std::int64_t>(d);
  } else if (nt == od::number_type::unsigned_integer) {
    std::uint64_t u = 0;
    if (const error_code e = v.get_uint64().get(u)) return e;
    out = static_cast<std::int64_t>(std::min<std::uint64_t>(u, INT64_MAX));
  } else {
    if (const error_code e = v.get_int64().get(out)) return e;
  }
  if (has) *has = true;
  return simdjson::SUCCESS;
}

error_code read_bool(od::value v, bool& out) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::boolean) return simdjson::SUCCESS;
  return v.get_bool().get(out);
}

error_code read_raw_object(od::value v, std::string_view& out) {
  od::json_type t;
  if (const error_code e = v.type().get(t)) return e;
  if (t != od::json_type::object) return simdjson::SUCCESS;
  od::object o;
  if (const error_code e = v.get_object().get(o)) return e;
  return o.raw_json().get(out);
}

void append_random_id(std::string& out, std::string_view prefix, std::size_t n) {
  static constexpr char alphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  out += prefix;
  std::uint64_t bits = 0;
  int left = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (left == 0) {
      bits = rng();
      left = 10;  // 10 draws of 6 bits per 64-bit word
    }
    out += alphabet[(bits & 63) % 62];
    bits >>= 6;
    --left;
  }
}

std::string random_id(std::string_view prefix, std::size_t n) {
  std::string out;
  out.reserve(prefix.size() + n);
  append_random_id(out, prefix, n);
  return out;
}

int status_from_error_type(std::string_view t) noexcept {
  struct entry {
    std::string_view type;
    int status;
  };
  static constexpr entry table[] = {
      // Anthropic
      {"invalid_request_error", 400},
      {"authentication_error", 401},
      {"permission_error", 403},
      {"not_found_error", 404},
      {"request_too_large", 413},
      {"rate_limit_error", 429},
      {"api_error", 500},
      {"overloaded_error", 529},
      {"timeout_error", 504},
      // OpenAI (types and codes)
      {"invalid_api_key", 401},
      {"insufficient_quota", 429},
      {"rate_limit_exceeded", 429},
      {"context_length_exceeded", 400},
      {"server_error", 500},
      {"service_unavailable", 503},
      {"upstream_error", 502},
      // Google RPC statuses
      {"INVALID_ARGUMENT", 400},
      {"FAILED_PRECONDITION", 400},
      {"OUT_OF_RANGE", 400},
      {"UNAUTHENTICATED", 401},
      {"PERMISSION_DENIED", 403},
      {"NOT_FOUND", 404},
      {"ABORTED", 409},
      {"ALREADY_EXISTS", 409},
      {"RESOURCE_EXHAUSTED", 429},
      {"CANCELLED", 499},
      {"INTERNAL", 500},
      {"UNKNOWN", 500},
      {"DATA_LOSS", 500},
      {"UNIMPLEMENTED", 501},
      {"UNAVAILABLE", 503},
      {"DEADLINE_EXCEEDED", 504},
  };
  for (const entry& e : table) {
    if (e.type == t) return e.status;
  }
  return 0;
}

std::string_view trim(std::string_view s) noexcept {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// --- sse_decoder ---

void sse_decoder::drain() {
  while (!ended_ && parser_.next()) handle(parser_.current());
  if (!ended_ && parser_.failed()) {
    emit_error(502, "upstream_error",
               "upstream stream event exceeds the maximum event size: " + parser_.error());
  }
}

void sse_decoder::feed(std::string_view bytes, stream_event_sink& sink) {
  if (ended_) return;
  sink_ = &sink;
  parser_.append(bytes);
  drain();
}

void sse_decoder::finish(stream_event_sink& sink) {
  if (ended_) return;
  sink_ = &sink;
  while (!ended_ && parser_.finish_event()) handle(parser_.current());
  if (!ended_ && parser_.failed()) {
    emit_error(502, "upstream_error",
               "upstream stream event exceeds the maximum event size: " + parser_.error());
  }
  if (!ended_) close_stream();
  ended_ = true;
}

void sse_decoder::emit(const stream_event& event) {
  if (ended_) return;
  if (event.type == stream_event_type::message_stop || event.type == stream_event_type::error) {
    ended_ = true;
  }
  sink_->on_event(event);
}

void sse_decoder::start_message(std::string_view id, std::string_view model, const usage& tokens) {
  if (started_) return;
  started_ = true;
  stream_event e;
  e.type = stream_event_type::message_start;
  e.id = id;
  e.name = model;
  e.tokens = tokens;
  emit(e);
}

void sse_decoder::start_block(std::uint32_t index, block_type type, std::string_view id,
                              std::string_view name, std::string_view data) {
  if (delta_sent_) return;
  start_message({}, {}, usage{});
  open_.push_back(index);
  stream_event e;
  e.type = stream_event_type::block_start;
  e.index = index;
  e.block = type;
  e.id = id;
  e.name = name;
  e.text = data;
  emit(e);
}

void sse_decoder::block_delta(std::uint32_t index, delta_type type, std::string_view piece) {
  stream_event e;
  e.type = stream_event_type::block_delta;
  e.index = index;
  e.delta = type;
  e.text = piece;
  emit(e);
}

bool sse_decoder::is_open(std::uint32_t index) const noexcept {
  return std::find(open_.begin(), open_.end(), index) != open_.end();
}

bool sse_decoder::stop_block(std::uint32_t index) {
  const auto it = std::find(open_.begin(), open_.end(), index);
  if (it == open_.end()) return false;
  open_.erase(it);
  stream_event e;
  e.type = stream_event_type::block_stop;
  e.index = index;
  emit(e);
  return true;
}

void sse_decoder::stop_all_blocks() {
  while (!open_.empty()) stop_block(open_.front());
}

void sse_decoder::message_delta(std::optional<stop_reason> stop, std::string_view stop_sequence,
                                const usage& tokens) {
  if (ended_ || delta_sent_) return;
  start_message({}, {}, usage{});
  stop_all_blocks();
  delta_sent_ = true;
  stream_event e;
  e.type = stream_event_type::message_delta;
  e.stop = stop;
  e.stop_sequence = stop_sequence;
  e.tokens = tokens;
  emit(e);
}

void sse_decoder::end_message(std::optional<stop_reason> stop, std::string_view stop_sequence,
                              const usage& tokens) {
  if (ended_) return;
  message_delta(stop, stop_sequence, tokens);
  stream_event s;
  s.type = stream_event_type::message_stop;
  emit(s);
}

void sse_decoder::emit_error(int status, std::string_view type, std::string_view message) {
  if (ended_) return;
  failed_ = true;
  stream_event e;
  e.type = stream_event_type::error;
  e.status = status;
  e.error_type = type;
  e.text = message;
  emit(e);
}

void sse_decoder::fail_malformed(error_code e) {
  std::string message = "malformed upstream stream event: ";
  message += simdjson::error_message(e);
  emit_error(502, "upstream_error", message);
}

// --- json_progress ---

void json_progress::feed(std::string_view piece) noexcept {
  for (const char c : piece) {
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (closed_) {
      trailing_ = true;  // bytes after the closing bracket: not one complete value
      continue;
    }
    if (!opened_) {
      opened_ = true;
      if (c != '{' && c != '[') {
        trailing_ = true;  // a scalar: never "complete" for our purposes
        closed_ = true;
        continue;
      }
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (depth_ > 0 && --depth_ == 0) closed_ = true;
    }
  }
}

}  // namespace stream_detail

// --- factories and the converter ---

std::unique_ptr<stream_decoder> stream_decoder::make(wire_protocol from,
                                                     std::size_t max_event_bytes) {
  switch (from) {
    case wire_protocol::openai:
      return stream_detail::make_openai_decoder(max_event_bytes);
    case wire_protocol::claude:
      return stream_detail::make_claude_decoder(max_event_bytes);
    case wire_protocol::gemini:
      return stream_detail::make_gemini_decoder(max_event_bytes);
  }
  return nullptr;
}

std::unique_ptr<stream_encoder> stream_encoder::make(wire_protocol to, const stream_options& opts) {
  switch (to) {
    case wire_protocol::openai:
      return stream_detail::make_openai_encoder(opts);
    case wire_protocol::claude:
      return stream_detail::make_claude_encoder(opts);
    case wire_protocol::gemini:
      return stream_detail::make_gemini_encoder(opts);
  }
  return nullptr;
}

namespace {

// A decoder for the upstream protocol feeding an encoder for the client protocol.
class converter final : public stream_converter, private stream_event_sink {
 public:
  converter(wire_protocol from, wire_protocol to, const stream_options& opts)
      : decoder_(stream_decoder::make(from, opts.max_event_bytes)),
        encoder_(stream_encoder::make(to, opts)) {}

  void feed(std::string_view upstream_bytes, std::string& out) override {
    if (encoder_->done()) return;
    out_ = &out;
    decoder_->feed(upstream_bytes, *this);
    out_ = nullptr;
  }

  void finish(std::string& out) override {
    if (encoder_->done()) return;
    out_ = &out;
    decoder_->finish(*this);
    out_ = nullptr;
    encoder_->finish(out);
  }

  void fail(int status, std::string_view message, std::string& out) override {
    encoder_->fail(status, message, out);
  }

  bool failed() const noexcept override { return decoder_->failed(); }

  bool upstream_complete() const noexcept override { return decoder_->complete(); }

 private:
  void on_event(const stream_event& event) override { encoder_->encode(event, *out_); }

  std::unique_ptr<stream_decoder> decoder_;
  std::unique_ptr<stream_encoder> encoder_;
  std::string* out_ = nullptr;
};

}  // namespace

std::unique_ptr<stream_converter> stream_converter::make(wire_protocol from, wire_protocol to,
                                                         const stream_options& opts) {
  return std::make_unique<converter>(from, to, opts);
}

}  // namespace aiclient::protocol
