// Canonical stream events -> Anthropic Messages SSE (event: <type>\ndata: <json>\n\n).
//
// Anthropic clients need one open content block at a time, with indices 0, 1, 2... in order,
// while the canonical stream may have several blocks open at once (OpenAI parallel tool calls
// whose argument deltas interleave). So one block is "on the wire" at a time; a block that
// starts while another is on the wire waits, its deltas buffered, until the wire block is
// stopped, or, for a tool_use block, until its argument JSON is complete (braces balanced):
// then it is closed early, as no valid byte can follow. Sequential tool calls thus stream
// without delay and only truly interleaved ones are buffered.
#include <algorithm>
#include <vector>

#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/errors.hpp"
#include "stream_internal.hpp"

namespace aiclient::protocol::stream_detail {

namespace {

class claude_encoder final : public stream_encoder {
 public:
  explicit claude_encoder(const stream_options& opts) : model_(opts.model) {}

  void encode(const stream_event& e, std::string& out) override {
    if (done_) return;
    switch (e.type) {
      case stream_event_type::message_start:
        start(e.id, e.name, e.tokens, out);
        break;
      case stream_event_type::block_start:
        start({}, {}, usage{}, out);
        block_start(e, out);
        break;
      case stream_event_type::block_delta:
        start({}, {}, usage{}, out);
        block_delta(e, out);
        break;
      case stream_event_type::block_stop:
        block_stop(e.index, out);
        break;
      case stream_event_type::message_delta:
        start({}, {}, usage{}, out);
        message_delta(e.stop.value_or(stop_reason::end_turn), e.stop_sequence, e.tokens, out);
        break;
      case stream_event_type::message_stop:
        finish(out);
        break;
      case stream_event_type::error:
        fail(e.status ? e.status : 500, e.text, out);
        break;
      case stream_event_type::ping:
        if (started_) out += "event: ping\ndata: {\"type\":\"ping\"}\n\n";
        break;
    }
  }

  void finish(std::string& out) override {
    if (done_) return;
    start({}, {}, usage{}, out);
    if (!delta_sent_) {
      const bool tools = std::any_of(blocks_.begin(), blocks_.end(),
                                     [](const block& b) { return b.type == block_type::tool_use; });
      message_delta(tools ? stop_reason::tool_use : stop_reason::end_turn, {}, tokens_, out);
    }
    out += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    done_ = true;
  }

  void fail(int status, std::string_view message, std::string& out) override {
    if (done_) return;
    out += stream_error_event(wire_protocol::claude, status, message);
    done_ = true;
  }

  bool done() const noexcept override { return done_; }

 private:
  enum class wire : std::uint8_t { waiting, open, closed };

  struct block {
    std::uint32_t index = 0;  ///< canonical index
    block_type type = block_type::text;
    wire state = wire::waiting;
    bool stopped = false;        ///< canonical block_stop seen
    std::string id, name, data;  ///< start fields, kept while waiting
    std::string buffered;        ///< deltas received while waiting
    std::string signature;       ///< signature received while waiting
    json_progress json;          ///< tool_use: whether the arguments are complete
  };

  void start(std::string_view id, std::string_view model, const usage& tokens, std::string& out) {
    if (started_) return;
    started_ = true;
    if (tokens.has_input) tokens_ = tokens;
    out += "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":";
    if (id.substr(0, 4) == "msg_") {
      append_json_string(out, id);
    } else if (!id.empty()) {
      std::string prefixed = "msg_";
      prefixed += id;
      append_json_string(out, prefixed);
    } else {
      std::string generated;
      append_random_id(generated, "msg_");
      append_json_string(out, generated);
    }
    out += R"(,"type":"message","role":"assistant","model":)";
    append_json_string(out, model_.empty() ? model : std::string_view(model_));
    out += R"(,"content":[],"stop_reason":null,"stop_sequence":null,"usage":)";
    usage start_usage = tokens_;
    start_usage.output_tokens = 0;
    append_usage_json(out, wire_protocol::claude, start_usage);
    out += "}}\n\n";
  }

  block* find(std::uint32_t index) {
    for (block& b : blocks_) {
      if (b.index == index) return &b;
    }
    return nullptr;
  }

  block* on_wire() {
    return active_ < blocks_.size() && blocks_[active_].state == wire::open ? &blocks_[active_]
                                                                            : nullptr;
  }

  void block_start(const stream_event& e, std::string& out) {
    if (delta_sent_ || find(e.index)) return;
    block& b = blocks_.emplace_back();
    b.index = e.index;
    b.type = e.block;
    if (on_wire()) {
      b.id.assign(e.id);
      b.name.assign(e.name);
      b.data.assign(e.text);
      switch_if_done(out);
      return;
    }
    advance(out, &e);
  }

  void block_delta(const stream_event& e, std::string& out) {
    if (e.text.empty()) return;
    block* b = find(e.index);
    if (!b || b->stopped) return;
    if (b->type == block_type::tool_use && e.delta == delta_type::partial_json) {
      b->json.feed(e.text);
    }
    switch (b->state) {
      case wire::open:
        write_delta(*b, e.delta, e.text, out);
        switch_if_done(out);
        break;
      case wire::waiting:
        if (e.delta == delta_type::signature) {
          b->signature += e.text;
        } else if (e.delta == buffered_delta(b->type)) {
          b->buffered += e.text;
        }
        switch_if_done(out);
        break;
      case wire::closed:
        // Closed early because its JSON was complete: only whitespace can validly follow.
        break;
    }
  }

  void block_stop(std::uint32_t index, std::string& out) {
    block* b = find(index);
    if (!b || b->stopped) return;
    b->stopped = true;
    if (b->state == wire::open) {
      close(*b, out);
      advance(out, nullptr);
    }
  }

  // The wire block is a tool call whose arguments are complete and another block waits: close
  // it now so the waiting one can stream.
  void switch_if_done(std::string& out) {
    block* w = on_wire();
    if (!w || w->type != block_type::tool_use || !w->json.complete()) return;
    const bool waiting = std::any_of(blocks_.begin(), blocks_.end(),
                                     [](const block& b) { return b.state == wire::waiting; });
    if (!waiting) return;
    close(*w, out);
    advance(out, nullptr);
  }

  // Puts the next waiting block on the wire (with what it buffered); repeats while the blocks
  // put on the wire are already stopped. `fresh` is the block_start event of the last block of
  // blocks_ when it has not been copied (it goes on the wire right away).
  void advance(std::string& out, const stream_event* fresh) {
    active_ = blocks_.size();
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      block& b = blocks_[i];
      if (b.state != wire::waiting) continue;
      const bool is_fresh = fresh && i + 1 == blocks_.size();
      open(b, is_fresh ? fresh->id : std::string_view(b.id),
           is_fresh ? fresh->name : std::string_view(b.name),
           is_fresh ? fresh->text : std::string_view(b.data), out);
      if (!b.buffered.empty()) {
        write_delta(b, buffered_delta(b.type), b.buffered, out);
        release(b.buffered);
      }
      if (!b.signature.empty()) {
        write_delta(b, delta_type::signature, b.signature, out);
        release(b.signature);
      }
      if (!b.stopped &&
          !(b.type == block_type::tool_use && b.json.complete() && has_waiting_after(i))) {
        active_ = i;
        return;
      }
      close(b, out);
    }
  }

  bool has_waiting_after(std::size_t i) const {
    for (std::size_t k = i + 1; k < blocks_.size(); ++k) {
      if (blocks_[k].state == wire::waiting) return true;
    }
    return false;
  }

  static void release(std::string& s) {
    s.clear();
    s.shrink_to_fit();
  }

  static delta_type buffered_delta(block_type t) {
    switch (t) {
      case block_type::thinking:
        return delta_type::thinking;
      case block_type::tool_use:
        return delta_type::partial_json;
      default:
        return delta_type::text;
    }
  }

  void open(block& b, std::string_view id, std::string_view name, std::string_view data,
            std::string& out) {
    b.state = wire::open;
    const std::uint32_t wire_index = next_wire_++;
    out += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":";
    out += std::to_string(wire_index);
    out += R"(,"content_block":)";
    switch (b.type) {
      case block_type::text:
        out += R"({"type":"text","text":""})";
        break;
      case block_type::thinking:
        out += R"({"type":"thinking","thinking":"","signature":""})";
        break;
      case block_type::redacted_thinking:
        out += R"({"type":"redacted_thinking","data":)";
        append_json_string(out, data);
        out += '}';
        break;
      case block_type::tool_use:
        out += R"({"type":"tool_use","id":)";
        if (id.empty()) {
          std::string generated;
          append_random_id(generated, "toolu_");
          append_json_string(out, generated);
        } else {
          append_json_string(out, id);
        }
        out += R"(,"name":)";
        append_json_string(out, name);
        out += R"(,"input":{}})";
        break;
    }
    out += "}\n\n";
    wire_index_ = wire_index;
    release(b.id);  // `id`, `name` and `data` may point into these: done with them now
    release(b.name);
    release(b.data);
  }

  void write_delta(const block& b, delta_type d, std::string_view piece, std::string& out) {
    std::string_view type, key;
    switch (d) {
      case delta_type::text:
        if (b.type != block_type::text) return;
        type = "text_delta";
        key = "text";
        break;
      case delta_type::thinking:
        if (b.type != block_type::thinking) return;
        type = "thinking_delta";
        key = "thinking";
        break;
      case delta_type::signature:
        if (b.type != block_type::thinking) return;
        type = "signature_delta";
        key = "signature";
        break;
      case delta_type::partial_json:
        if (b.type != block_type::tool_use) return;
        type = "input_json_delta";
        key = "partial_json";
        break;
    }
    out += "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":";
    out += std::to_string(wire_index_);
    out += R"(,"delta":{"type":")";
    out += type;
    out += R"(",")";
    out += key;
    out += "\":";
    append_json_string(out, piece);
    out += "}}\n\n";
  }

  void close(block& b, std::string& out) {
    b.state = wire::closed;
    out += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":";
    out += std::to_string(wire_index_);
    out += "}\n\n";
  }

  // Flushes every block (waiting ones in order), then message_delta.
  void message_delta(stop_reason stop, std::string_view stop_sequence, const usage& tokens,
                     std::string& out) {
    if (delta_sent_) return;
    for (block& b : blocks_) b.stopped = true;
    if (block* w = on_wire()) close(*w, out);
    advance(out, nullptr);
    delta_sent_ = true;
    if (tokens.has_input || tokens.has_output) tokens_ = tokens;
    out += R"(event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":")";
    out += stop_reason_to(wire_protocol::claude, stop);
    out += R"(","stop_sequence":)";
    if (stop_sequence.empty()) {
      out += "null";
    } else {
      append_json_string(out, stop_sequence);
    }
    out += R"(},"usage":)";
    if (tokens_.has_input) {
      append_usage_json(out, wire_protocol::claude, tokens_);
    } else {
      out += R"({"output_tokens":)";
      out += std::to_string(tokens_.output_tokens);
      out += '}';
    }
    out += "}\n\n";
  }

  std::string model_;
  std::vector<block> blocks_;
  std::size_t active_ = 0;  ///< position in blocks_ of the block on the wire (size: none)
  std::uint32_t next_wire_ = 0;
  std::uint32_t wire_index_ = 0;  ///< wire index of the block on the wire
  usage tokens_;
  bool started_ = false;
  bool delta_sent_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<stream_encoder> make_claude_encoder(const stream_options& opts) {
  return std::make_unique<claude_encoder>(opts);
}

}  // namespace aiclient::protocol::stream_detail
