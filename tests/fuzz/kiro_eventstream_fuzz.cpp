// libFuzzer target: the Kiro AWS event-stream parser, the Kiro -> client stream converter (for
// the three client protocols) and the non-streaming aggregator, on arbitrary upstream bytes.
//
/* Not built by CMake. Build and run from the repository root (clang with libFuzzer):

  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/protocol \
    tests/fuzz/kiro_eventstream_fuzz.cpp \
    src/protocol/kiro_*.cpp src/protocol/stream_*.cpp src/protocol/canonical_*.cpp \
    src/protocol/codec_util.cpp src/protocol/common.cpp src/protocol/convert.cpp \
    src/protocol/errors.cpp src/protocol/protocol.cpp src/protocol/sse.cpp \
    -lsimdjson -o /tmp/kiro_eventstream_fuzz
  mkdir -p /tmp/kiro_corpus && /tmp/kiro_eventstream_fuzz -max_len=65536 /tmp/kiro_corpus
*/
// Input layout: byte 0 selects the mode (bit 0: recompute the CRCs of every plausible message so
// that mutations reach the header and JSON decoding instead of failing the CRC check; bits 1-7:
// the seed of the split points); the rest is the upstream body.
//
// The same body runs in CI over thousands of generated inputs: tests/unit/protocol/
// kiro_fuzz_test.cpp includes this file with KIRO_FUZZ_NO_ENTRY_POINT defined.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/kiro.hpp"

namespace kiro_fuzz {

namespace kiro = aiclient::protocol::kiro;
using aiclient::protocol::wire_protocol;

inline std::uint32_t get_u32(std::string_view s, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(s[at])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 2])} << 8) |
         std::uint32_t{static_cast<unsigned char>(s[at + 3])};
}

inline void set_u32(std::string& s, std::size_t at, std::uint32_t v) {
  s[at] = static_cast<char>(v >> 24);
  s[at + 1] = static_cast<char>(v >> 16);
  s[at + 2] = static_cast<char>(v >> 8);
  s[at + 3] = static_cast<char>(v);
}

/// Recomputes the prelude and message CRCs of each message whose length fits the bytes left
/// (headers lengths that overrun are clamped), stopping at the first implausible length.
inline std::string fix_crcs(std::string_view in) {
  std::string s(in);
  std::size_t pos = 0;
  while (s.size() - pos >= 16) {
    const std::uint32_t total = get_u32(s, pos);
    if (total < 16 || total > s.size() - pos) break;
    if (get_u32(s, pos + 4) > total - 16) set_u32(s, pos + 4, total - 16);
    set_u32(s, pos + 8, kiro::crc32(std::string_view(s).substr(pos, 8)));
    set_u32(s, pos + total - 4, kiro::crc32(std::string_view(s).substr(pos, total - 4)));
    pos += total;
  }
  return s;
}

/// What the parser produced: every message's fields, then the failure.
inline std::string parse_trace(std::string_view body, std::size_t max, unsigned seed, bool split) {
  kiro::eventstream_parser p(max);
  std::string trace;
  std::uint32_t state = seed * 2654435761u + 1;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t n = body.size() - pos;
    if (split) {
      state = state * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (state >> 16) % 37);
    }
    p.append(body.substr(pos, n));
    pos += n;
    kiro::eventstream_message m;
    while (p.next(m)) {
      if (m.payload.size() + 16 > max) return "payload larger than the maximum";
      for (const std::string_view f : {m.message_type, m.event_type, m.exception_type,
                                       m.content_type, m.error_code, m.error_message, m.payload}) {
        trace += std::to_string(f.size());
        trace += ':';
        trace += f;
      }
      trace += '|';
    }
  }
  p.finish();
  trace += p.failed() ? "failed:" + p.error() : "ok";
  return trace;
}

/// Runs one input; returns a description of a broken invariant, or an empty string.
inline std::string run_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  const unsigned mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string fixed;
  if (mode & 1) {
    fixed = fix_crcs(body);
    body = fixed;
  }
  const unsigned seed = mode >> 1;
  const std::size_t max = 4096;

  // 1. The parser gives the same messages and the same end whatever the split.
  const std::string whole = parse_trace(body, max, seed, false);
  const std::string split = parse_trace(body, max, seed, true);
  if (whole != split) return "parser results differ between whole and split feeding";

  // 2. Every client stream ends properly (its terminator, or an in-band error).
  bool claude_failed = false;
  for (const wire_protocol to :
       {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini}) {
    aiclient::protocol::stream_options opts;
    opts.model = "m";
    opts.include_usage = true;
    kiro::decode_options kopts;
    kopts.max_message_bytes = max;
    kiro::kiro_stream_converter conv(to, opts, kopts);
    std::string out;
    std::uint32_t state = seed + 7;
    for (std::size_t pos = 0; pos < body.size();) {
      state = state * 1103515245u + 12345u;
      const std::size_t n = std::min<std::size_t>(body.size() - pos, 1 + (state >> 16) % 53);
      conv.feed(body.substr(pos, n), out);
      pos += n;
    }
    const bool complete = conv.upstream_complete();
    conv.finish(out);
    if (complete && conv.failed()) return "a complete stream failed at finish";
    switch (to) {
      case wire_protocol::openai:
        if (out.size() < 14 || out.compare(out.size() - 14, 14, "data: [DONE]\n\n") != 0) {
          return "OpenAI stream without data: [DONE] at the end";
        }
        break;
      case wire_protocol::claude: {
        const bool stopped = out.size() >= 2 && out.ends_with("{\"type\":\"message_stop\"}\n\n");
        // Start of the last SSE event (event lines follow a blank line, or open the stream;
        // "event: " inside a data line is not one).
        const std::size_t sep = out.rfind("\n\nevent: ", out.size() >= 3 ? out.size() - 3 : 0);
        const std::size_t last = sep == std::string::npos ? 0 : sep + 2;
        const bool error = out.compare(last, 13, "event: error\n") == 0;
        if (!stopped && !error) return "Anthropic stream without message_stop or error at the end";
        // message_start first, or an error that is the whole stream (a stream broken from its
        // first message: the caller can still answer with an HTTP error).
        if (out.rfind("event: message_start", 0) != 0 &&
            (out.rfind("event: error", 0) != 0 || last != 0)) {
          return "Anthropic stream starting with neither message_start nor a lone error";
        }
        claude_failed = conv.failed();
        if (error != conv.failed()) return "Anthropic error event and failed() disagree";
        break;
      }
      case wire_protocol::gemini:
        if (out.empty() || !out.ends_with("\n\n")) return "Gemini stream not ending with an event";
        break;
    }
  }

  // 3. The aggregator agrees with the stream, and its response encodes.
  aiclient::protocol::canonical_response resp;
  kiro::decode_options kopts;
  kopts.max_message_bytes = max;
  kopts.model = "m";
  const kiro::decode_error err = kiro::aggregate_response(body, kopts, resp);
  if (err.ok() == claude_failed) return "aggregator and stream converter disagree on failure";
  if (err.ok()) {
    for (const wire_protocol to :
         {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini}) {
      std::string out;
      const std::string e = aiclient::protocol::encode_response(to, resp, out);
      if (!e.empty()) return "encode_response failed: " + e;
    }
  } else if (err.status < 400 || err.message.empty()) {
    return "aggregator error without status or message";
  }
  return {};
}

}  // namespace kiro_fuzz

#ifndef KIRO_FUZZ_NO_ENTRY_POINT
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = kiro_fuzz::run_one(data, size);
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
#endif
