// Kiro event-stream answers -> canonical stream events, the client stream converter and the
// non-streaming aggregator. The reading rules are documented at make_stream_decoder (kiro.hpp).
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <random>

#include "aiclient/protocol/kiro.hpp"

namespace aiclient::protocol::kiro {

namespace {

constexpr std::string_view open_tag = "<thinking>";
constexpr std::string_view close_tag = "</thinking>";

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string random_alnum(std::string_view prefix, std::size_t n) {
  static constexpr char alphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out(prefix);
  for (std::size_t i = 0; i < n; ++i) out += alphabet[rng() % 62];
  return out;
}

// Status of a Kiro exception or error code.
int exception_status(std::string_view type) noexcept {
  if (type == "ThrottlingException") return 429;
  if (type == "ValidationException") return 400;
  if (type == "AccessDeniedException") return 403;
  if (type == "ServiceUnavailableException") return 503;
  if (type == "InternalServerException") return 500;
  if (type == "ResourceNotFoundException") return 404;
  return 502;
}

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
std::size_t partial_tag_suffix(std::string_view s, std::string_view tag) noexcept {
  const std::size_t max = std::min(s.size(), tag.size() - 1);
  for (std::size_t n = max; n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

// A tool call being accumulated from toolUseEvent fragments.
struct pending_tool {
  std::string id;
  std::string name;
  std::string input;
};

class decoder final : public stream_decoder {
 public:
  explicit decoder(decode_options opts)
      : opts_(std::move(opts)), parser_(opts_.max_message_bytes) {}

  void feed(std::string_view bytes, stream_event_sink& sink) override {
    if (ended_) return;
    sink_ = &sink;
    try {
      parser_.append(bytes);
      drain();
    } catch (const std::exception& e) {  // resource exhaustion only
      emit_error(502, "upstream_error", std::string("Kiro stream decoding failed: ") + e.what());
    }
  }

  void finish(stream_event_sink& sink) override {
    if (ended_) return;
    sink_ = &sink;
    try {
      drain();
      if (ended_) return;
      if (!parser_.finish()) {
        fail_framing();
        return;
      }
      end_message(std::nullopt);
    } catch (const std::exception& e) {
      emit_error(502, "upstream_error", std::string("Kiro stream decoding failed: ") + e.what());
    }
  }

  bool failed() const noexcept override { return failed_; }

  bool complete() const noexcept override {
    if (failed_) return false;
    return ended_ || (parser_.messages() > 0 && parser_.buffered() == 0 && !parser_.failed());
  }

 private:
  enum class text_state : std::uint8_t { detect, thinking, after, text };

  void drain() {
    eventstream_message m;
    while (!ended_ && parser_.next(m)) handle(m);
    if (!ended_ && parser_.failed()) fail_framing();
  }

  void fail_framing() {
    emit_error(502, "upstream_error", "malformed Kiro event stream: " + parser_.error());
  }

  void handle(const eventstream_message& m) {
    if (m.message_type == "exception" || (m.message_type.empty() && !m.exception_type.empty())) {
      on_exception(m.exception_type, m.payload);
      return;
    }
    if (m.message_type == "error") {
      std::string message = "Kiro error";
      if (!m.error_code.empty()) message += " " + std::string(m.error_code);
      if (!m.error_message.empty()) message += ": " + std::string(m.error_message);
      emit_error(exception_status(m.error_code),
                 m.error_code.empty() ? "upstream_error" : m.error_code, message);
      return;
    }
    if (!m.message_type.empty() && m.message_type != "event") return;
    if (m.event_type == "assistantResponseEvent") {
      on_assistant_response(m.payload);
    } else if (m.event_type == "toolUseEvent") {
      on_tool_use(m.payload);
    } else if (m.event_type == "contextUsageEvent") {
      on_context_usage(m.payload);
    }
    // meteringEvent (credits), messageMetadataEvent, followupPromptEvent, codeReferenceEvent
    // and unknown events carry nothing for the client.
  }

  bool parse_object(std::string_view payload, std::string_view event, simdjson::dom::object& out) {
    simdjson::dom::element doc;
    if (json_.parse(payload.data(), payload.size()).get(doc) || doc.get_object().get(out)) {
      emit_error(502, "upstream_error",
                 "malformed Kiro " + std::string(event) + " payload (not a JSON object)");
      return false;
    }
    return true;
  }

  void on_assistant_response(std::string_view payload) {
    simdjson::dom::object o;
    if (!parse_object(payload, "assistantResponseEvent", o)) return;
    if (o["followupPrompt"].error() == simdjson::SUCCESS) return;
    std::string_view content;
    if (o["content"].get_string().get(content) || content.empty()) return;
    on_text(content);
  }

  void on_tool_use(std::string_view payload) {
    simdjson::dom::object o;
    if (!parse_object(payload, "toolUseEvent", o)) return;
    std::string_view id, name, input_string, input_object;
    bool stop = false;
    bool has_input_string = false;
    for (const auto field : o) {
      if (field.key == "toolUseId") {
        if (field.value.get_string().get(id)) id = {};
      } else if (field.key == "name") {
        if (field.value.get_string().get(name)) name = {};
      } else if (field.key == "input") {
        if (field.value.is_string()) {
          has_input_string = !field.value.get_string().get(input_string);
        } else if (field.value.is_object()) {
          input_object_storage_ = simdjson::minify(field.value);
          input_object = input_object_storage_;
        }
      } else if (field.key == "stop") {
        if (field.value.get_bool().get(stop)) stop = false;
      }
    }
    pending_tool* t = nullptr;
    if (!id.empty()) {
      if (std::find(closed_ids_.begin(), closed_ids_.end(), id) != closed_ids_.end()) return;
      for (pending_tool& p : tools_) {
        if (p.id == id) t = &p;
      }
    } else if (!tools_.empty()) {
      t = &tools_.back();  // a fragment without id continues the latest call
    }
    if (!t) {
      if (id.empty() && name.empty()) return;  // nothing to attach it to
      pending_tool& p = tools_.emplace_back();
      p.id = id.empty() ? random_alnum("tooluse_", 22) : std::string(id);
      t = &p;
    }
    if (t->name.empty() && !name.empty()) t->name = name;
    if (!input_object.empty()) {
      t->input = input_object;
    } else if (has_input_string) {
      t->input += input_string;
    }
    if (t->input.size() > 4 * opts_.max_message_bytes) {
      emit_error(502, "upstream_error", "Kiro tool call input exceeds the maximum size");
      return;
    }
    if (stop) close_tool(static_cast<std::size_t>(t - tools_.data()));
  }

  void on_context_usage(std::string_view payload) {
    simdjson::dom::object o;
    if (!parse_object(payload, "contextUsageEvent", o)) return;
    double pct = 0;
    if (o["contextUsagePercentage"].get_double().get(pct) || !std::isfinite(pct) || pct < 0) return;
    context_percentage_ = pct;
  }

  void on_exception(std::string_view type, std::string_view payload) {
    std::string_view message;
    simdjson::dom::element doc;
    if (!json_.parse(payload.data(), payload.size()).get(doc) && doc.is_object()) {
      if (doc["message"].get_string().get(message) && doc["Message"].get_string().get(message)) {
        message = {};
      }
    }
    if (type == "ContentLengthExceededException") {
      // The answer reached the output limit: what came is kept; calls left open are cut.
      tools_.clear();
      end_message(stop_reason::max_tokens);
      return;
    }
    std::string text = "Kiro " + std::string(type.empty() ? "exception" : type);
    if (message.empty() && !payload.empty()) message = payload.substr(0, 300);
    if (!message.empty()) {
      text += ": ";
      text += message;
    }
    emit_error(exception_status(type), type.empty() ? "upstream_error" : type, text);
  }

  // --- text and <thinking> ---

  void on_text(std::string_view piece) {
    if (!opts_.extract_thinking && state_ == text_state::detect) state_ = text_state::text;
    switch (state_) {
      case text_state::text:
        emit_text(piece);
        return;
      case text_state::detect: {
        pending_ += piece;
        std::size_t lead = 0;
        while (lead < pending_.size() && is_space(pending_[lead])) ++lead;
        const std::string_view rest = std::string_view(pending_).substr(lead);
        if (rest.size() < open_tag.size()) {
          if (open_tag.substr(0, rest.size()) == rest) return;  // may still become the tag
        } else if (rest.substr(0, open_tag.size()) == open_tag) {
          state_ = text_state::thinking;
          std::string after(rest.substr(open_tag.size()));
          pending_.clear();
          on_text(after);
          return;
        }
        state_ = text_state::text;
        std::string all;
        all.swap(pending_);
        emit_text(all);
        return;
      }
      case text_state::thinking: {
        pending_ += piece;
        const std::size_t end = pending_.find(close_tag);
        if (end != std::string::npos) {
          emit_thinking(std::string_view(pending_).substr(0, end));
          stop_block(think_block_);
          std::string after = pending_.substr(end + close_tag.size());
          pending_.clear();
          state_ = text_state::after;
          if (!after.empty()) on_text(after);
          return;
        }
        const std::size_t keep = partial_tag_suffix(pending_, close_tag);
        emit_thinking(std::string_view(pending_).substr(0, pending_.size() - keep));
        pending_.erase(0, pending_.size() - keep);
        return;
      }
      case text_state::after: {
        std::size_t lead = 0;
        while (lead < piece.size() && is_space(piece[lead])) ++lead;
        if (lead == piece.size()) return;
        state_ = text_state::text;
        emit_text(piece.substr(lead));
        return;
      }
    }
  }

  // Emits what the <thinking> detection holds back and closes the text and thinking blocks.
  void flush_text() {
    if (state_ == text_state::detect) {
      state_ = text_state::text;
      std::string all;
      all.swap(pending_);
      emit_text(all);
    } else if (state_ == text_state::thinking) {
      std::string all;
      all.swap(pending_);
      emit_thinking(all);
      state_ = text_state::after;
    }
    stop_block(think_block_);
    stop_block(text_block_);
  }

  void emit_text(std::string_view piece) {
    if (piece.empty()) return;
    stop_block(think_block_);
    if (!text_block_) text_block_ = start_block(block_type::text, {}, {});
    output_bytes_ += piece.size();
    delta(*text_block_, delta_type::text, piece);
  }

  void emit_thinking(std::string_view piece) {
    if (piece.empty()) return;
    if (!think_block_) think_block_ = start_block(block_type::thinking, {}, {});
    output_bytes_ += piece.size();
    delta(*think_block_, delta_type::thinking, piece);
  }

  // --- tool calls ---

  void close_tool(std::size_t i) {
    pending_tool t = std::move(tools_[i]);
    tools_.erase(tools_.begin() + static_cast<std::ptrdiff_t>(i));
    closed_ids_.push_back(t.id);
    if (t.name.empty()) return;  // never named: no client can run it
    if (const auto it = opts_.tool_names.find(t.name); it != opts_.tool_names.end()) {
      t.name = it->second;
    }
    std::string_view input = t.input;
    while (!input.empty() && is_space(input.front())) input.remove_prefix(1);
    while (!input.empty() && is_space(input.back())) input.remove_suffix(1);
    simdjson::dom::element doc;
    if (input.empty() || input.front() != '{' || json_.parse(input.data(), input.size()).get(doc) ||
        !doc.is_object()) {
      input = "{}";
    }
    for (const auto& [name, args] : emitted_) {
      if (name == t.name && args == input) return;  // the same call again
    }
    emitted_.emplace_back(t.name, std::string(input));
    flush_text();
    start_message();
    const std::uint32_t index = next_index_++;
    stream_event e;
    e.type = stream_event_type::block_start;
    e.index = index;
    e.block = block_type::tool_use;
    e.id = t.id;
    e.name = t.name;
    emit(e);
    output_bytes_ += input.size();
    delta(index, delta_type::partial_json, input);
    std::optional<std::uint32_t> open = index;
    stop_block(open);
  }

  // --- canonical events ---

  void emit(const stream_event& e) {
    if (ended_) return;
    if (e.type == stream_event_type::message_stop || e.type == stream_event_type::error) {
      ended_ = true;
    }
    sink_->on_event(e);
  }

  usage current_usage() const {
    usage u;
    if (context_percentage_) {
      u.input_tokens = static_cast<std::int64_t>(std::llround(
          *context_percentage_ * static_cast<double>(opts_.context_window_tokens) / 100.0));
      u.has_input = true;
    } else if (opts_.input_tokens_estimate > 0) {
      u.input_tokens = opts_.input_tokens_estimate;
      u.has_input = true;
    }
    u.output_tokens = static_cast<std::int64_t>((output_bytes_ + 3) / 4);
    u.has_output = true;
    return u;
  }

  void start_message() {
    if (started_) return;
    started_ = true;
    stream_event e;
    e.type = stream_event_type::message_start;
    e.name = opts_.model;
    e.tokens = current_usage();
    e.tokens.output_tokens = 0;
    e.tokens.has_output = false;
    emit(e);
  }

  std::uint32_t start_block(block_type type, std::string_view id, std::string_view name) {
    start_message();
    const std::uint32_t index = next_index_++;
    stream_event e;
    e.type = stream_event_type::block_start;
    e.index = index;
    e.block = type;
    e.id = id;
    e.name = name;
    emit(e);
    return index;
  }

  void delta(std::uint32_t index, delta_type type, std::string_view piece) {
    stream_event e;
    e.type = stream_event_type::block_delta;
    e.index = index;
    e.delta = type;
    e.text = piece;
    emit(e);
  }

  void stop_block(std::optional<std::uint32_t>& index) {
    if (!index) return;
    stream_event e;
    e.type = stream_event_type::block_stop;
    e.index = *index;
    index.reset();
    emit(e);
  }

  void end_message(std::optional<stop_reason> forced) {
    if (ended_) return;
    start_message();
    while (!tools_.empty()) close_tool(0);  // calls the stream never closed
    flush_text();
    stop_reason stop = emitted_.empty() ? stop_reason::end_turn : stop_reason::tool_use;
    if (context_percentage_ && *context_percentage_ >= 100.0) stop = stop_reason::max_tokens;
    if (forced) stop = *forced;
    stream_event d;
    d.type = stream_event_type::message_delta;
    d.stop = stop;
    d.tokens = current_usage();
    emit(d);
    stream_event s;
    s.type = stream_event_type::message_stop;
    emit(s);
  }

  void emit_error(int status, std::string_view type, std::string_view message) {
    if (ended_) return;
    failed_ = true;
    stream_event e;
    e.type = stream_event_type::error;
    e.status = status;
    e.error_type = type;
    e.text = message;
    emit(e);
  }

  decode_options opts_;
  eventstream_parser parser_;
  simdjson::dom::parser json_;
  stream_event_sink* sink_ = nullptr;
  bool started_ = false;
  bool ended_ = false;
  bool failed_ = false;
  std::uint32_t next_index_ = 0;
  std::optional<std::uint32_t> text_block_;
  std::optional<std::uint32_t> think_block_;
  text_state state_ = text_state::detect;
  std::string pending_;              ///< text held back by the <thinking> detection
  std::vector<pending_tool> tools_;  ///< open calls, in order of their first fragment
  std::vector<std::string> closed_ids_;
  std::vector<std::pair<std::string, std::string>> emitted_;  ///< (name, input) sent
  std::string input_object_storage_;
  std::optional<double> context_percentage_;
  std::size_t output_bytes_ = 0;
};

}  // namespace

std::unique_ptr<stream_decoder> make_stream_decoder(decode_options opts) {
  return std::make_unique<decoder>(std::move(opts));
}

// --- converter ---

namespace {

// Forwards canonical events to an encoder, appending to the current output string, and keeps
// the upstream error.
class encoder_sink final : public stream_event_sink {
 public:
  encoder_sink(stream_encoder& encoder, std::string& out, decode_error& error)
      : encoder_(encoder), out_(out), error_(error) {}
  void on_event(const stream_event& event) override {
    if (event.type == stream_event_type::error) {
      error_.status = event.status ? event.status : 502;
      error_.type = event.error_type;
      error_.message = event.text;
    }
    encoder_.encode(event, out_);
  }

 private:
  stream_encoder& encoder_;
  std::string& out_;
  decode_error& error_;
};

decode_options with_model(decode_options kiro, const stream_options& opts) {
  if (kiro.model.empty()) kiro.model = opts.model;
  kiro.max_message_bytes = std::min(kiro.max_message_bytes, opts.max_event_bytes);
  return kiro;
}

}  // namespace

kiro_stream_converter::kiro_stream_converter(wire_protocol to, const stream_options& opts,
                                             decode_options kiro)
    : decoder_(make_stream_decoder(with_model(std::move(kiro), opts))),
      encoder_(stream_encoder::make(to, opts)) {}

void kiro_stream_converter::feed(std::string_view upstream_bytes, std::string& out) {
  if (encoder_->done()) return;
  encoder_sink sink(*encoder_, out, error_);
  decoder_->feed(upstream_bytes, sink);
}

void kiro_stream_converter::finish(std::string& out) {
  if (encoder_->done()) return;
  encoder_sink sink(*encoder_, out, error_);
  decoder_->finish(sink);
  encoder_->finish(out);
}

void kiro_stream_converter::fail(int status, std::string_view message, std::string& out) {
  encoder_->fail(status, message, out);
}

bool kiro_stream_converter::failed() const noexcept {
  return decoder_->failed();
}

bool kiro_stream_converter::upstream_complete() const noexcept {
  return decoder_->complete();
}

// --- aggregator ---

struct response_aggregator::impl final : stream_event_sink {
  struct collected {
    part_kind kind = part_kind::text;
    std::uint32_t index = 0;
    std::string text;  ///< text / thinking / tool arguments
    std::string id;
    std::string name;
  };

  explicit impl(decode_options o) : model(o.model), decoder(make_stream_decoder(std::move(o))) {}

  void on_event(const stream_event& e) override {
    switch (e.type) {
      case stream_event_type::block_start: {
        collected& c = parts.emplace_back();
        c.index = e.index;
        c.kind = e.block == block_type::tool_use   ? part_kind::tool_call
                 : e.block == block_type::thinking ? part_kind::thinking
                                                   : part_kind::text;
        c.id = e.id;
        c.name = e.name;
        break;
      }
      case stream_event_type::block_delta:
        for (collected& c : parts) {
          if (c.index == e.index) c.text += e.text;
        }
        break;
      case stream_event_type::message_delta:
        if (e.stop) stop = *e.stop;
        tokens = e.tokens;
        break;
      case stream_event_type::error:
        error.status = e.status ? e.status : 502;
        error.type = e.error_type;
        error.message = e.text;
        break;
      default:
        break;
    }
  }

  std::string model;
  std::unique_ptr<stream_decoder> decoder;
  std::vector<collected> parts;
  stop_reason stop = stop_reason::end_turn;
  usage tokens;
  decode_error error;
};

response_aggregator::response_aggregator(decode_options opts)
    : impl_(std::make_unique<impl>(std::move(opts))) {}

response_aggregator::~response_aggregator() = default;

void response_aggregator::feed(std::string_view bytes) {
  impl_->decoder->feed(bytes, *impl_);
}

decode_error response_aggregator::finish(canonical_response& out) {
  try {
    impl_->decoder->finish(*impl_);
    if (!impl_->error.ok()) return impl_->error;
    out.source = wire_protocol::claude;
    out.id = plain_text(out.memory.keep(random_alnum("msg_", 24)));
    out.model = plain_text(out.memory.keep(impl_->model));
    out.parts.clear();
    for (impl::collected& c : impl_->parts) {
      part& p = out.parts.emplace_back();
      p.kind = c.kind;
      if (c.kind == part_kind::tool_call) {
        p.id = plain_text(out.memory.keep(std::move(c.id)));
        p.name = plain_text(out.memory.keep(std::move(c.name)));
        p.arguments = plain_text(out.memory.keep(std::move(c.text)));
      } else {
        p.text = plain_text(out.memory.keep(std::move(c.text)));
      }
    }
    impl_->parts.clear();
    out.stop = impl_->stop;
    out.tokens = impl_->tokens;
    return {};
  } catch (const std::exception& e) {
    decode_error err;
    err.status = 502;
    err.type = "upstream_error";
    err.message = std::string("Kiro answer decoding failed: ") + e.what();
    return err;
  }
}

decode_error aggregate_response(std::string_view body, const decode_options& opts,
                                canonical_response& out) {
  response_aggregator a(opts);
  a.feed(body);
  return a.finish(out);
}

}  // namespace aiclient::protocol::kiro
