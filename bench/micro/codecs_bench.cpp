// Micro-benchmarks of the hot-path codecs, on the 115 KB coding-agent fixture (Google
// Benchmark; bytes/s is the throughput over the input bytes).
//
//   bench_micro [--benchmark_filter=convert] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "../common/fixtures.hpp"
#include "aiclient/protocol/convert.hpp"
#include "aiclient/protocol/request_body.hpp"
#include "aiclient/protocol/sse.hpp"
#if __has_include("aiclient/protocol/kiro.hpp")
#include "aiclient/protocol/kiro.hpp"
#define BENCH_HAVE_KIRO 1
#endif

namespace {

using aiclient::protocol::wire_protocol;
namespace proto = aiclient::protocol;

struct fixtures {
  std::string large_openai = bench::coding_agent_request(bench::shape::openai, false);
  std::string large_claude = bench::coding_agent_request(bench::shape::anthropic, false);
  std::string small_openai = bench::small_request(bench::shape::openai, false);
  std::string small_claude = bench::small_request(bench::shape::anthropic, false);
  std::string openai_completion = bench::openai_completion();
  std::string claude_message = bench::anthropic_message();
  std::string openai_tool_completion = bench::openai_tool_completion();
  std::string claude_tool_message = bench::anthropic_tool_message();
  std::string openai_stream = bench::openai_long_stream(115000);
  std::string claude_stream = bench::anthropic_long_stream(115000);
  // Gemini bodies: the same conversation, answers and stream in Gemini's wire shape, written by
  // the gateway's own Claude -> Gemini conversion (the shape it sends to Gemini upstreams).
  std::string large_gemini = to_gemini_request(large_claude);
  std::string gemini_response = to_gemini_response(claude_message);
  std::string gemini_tool_response = to_gemini_response(claude_tool_message);
  std::string gemini_stream = to_gemini_stream(claude_stream);

 private:
  static std::string to_gemini_request(const std::string& claude) {
    proto::request_options o;
    o.model = "gemini-2.5-pro";
    auto r = proto::convert_request(wire_protocol::claude, wire_protocol::gemini, claude, o);
    if (!r.ok()) throw std::runtime_error("gemini request fixture: " + r.error);
    return std::move(r.body);
  }
  static std::string to_gemini_response(const std::string& claude) {
    auto r = proto::convert_response(wire_protocol::claude, wire_protocol::gemini, claude,
                                     "gemini-2.5-pro");
    if (!r.ok()) throw std::runtime_error("gemini response fixture: " + r.error);
    return std::move(r.body);
  }
  static std::string to_gemini_stream(const std::string& claude) {
    proto::stream_options o;
    o.model = "gemini-2.5-pro";
    o.gemini_sse = true;  // what the gateway asks Gemini upstreams for (alt=sse)
    auto c = proto::stream_converter::make(wire_protocol::claude, wire_protocol::gemini, o);
    std::string out;
    c->feed(claude, out);
    c->finish(out);
    if (c->failed()) throw std::runtime_error("gemini stream fixture: conversion failed");
    return out;
  }
};

const fixtures& fx() {
  static const fixtures f;
  return f;
}

// ---- reference parsers (what the design notes compare against) ------------------------------

void reference_nlohmann_parse(benchmark::State& st) {
  const auto& body = fx().large_claude;
  for (auto _ : st) benchmark::DoNotOptimize(nlohmann::json::parse(body));
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body.size()));
}
BENCHMARK(reference_nlohmann_parse)->Name("reference/nlohmann_parse/claude_115k");

void reference_simdjson_dom(benchmark::State& st) {
  const auto& body = fx().large_claude;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  for (auto _ : st) {
    auto doc = parser.parse(padded);
    benchmark::DoNotOptimize(doc.error());
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body.size()));
}
BENCHMARK(reference_simdjson_dom)->Name("reference/simdjson_dom_parse/claude_115k");

// ---- pass-through: inspect_body + apply_edits ------------------------------------------------

void inspect(benchmark::State& st, wire_protocol p, const std::string* body) {
  for (auto _ : st) {
    auto r = proto::inspect_body(p, *body);
    if (!r.summary) st.SkipWithError(r.error.c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body->size()));
}
BENCHMARK_CAPTURE(inspect, openai_115k, wire_protocol::openai, &fx().large_openai)
    ->Name("inspect_body/openai_115k");
BENCHMARK_CAPTURE(inspect, claude_115k, wire_protocol::claude, &fx().large_claude)
    ->Name("inspect_body/claude_115k");
BENCHMARK_CAPTURE(inspect, gemini_115k, wire_protocol::gemini, &fx().large_gemini)
    ->Name("inspect_body/gemini_115k");
BENCHMARK_CAPTURE(inspect, openai_small, wire_protocol::openai, &fx().small_openai)
    ->Name("inspect_body/openai_small");

void edits(benchmark::State& st, wire_protocol p, const std::string* body, bool system_prompt) {
  proto::body_edits e;
  e.model = "gpt-4.1-mini";
  if (system_prompt) {
    e.system_prompt = "Answer in English. Keep answers short.";
    e.mode = proto::system_prompt_mode::append;
  }
  for (auto _ : st) {
    std::string err;
    auto r = proto::apply_edits(p, *body, e, &err);
    if (!r) st.SkipWithError(err.c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body->size()));
}
BENCHMARK_CAPTURE(edits, openai_model, wire_protocol::openai, &fx().large_openai, false)
    ->Name("apply_edits/openai_115k/model");
BENCHMARK_CAPTURE(edits, claude_model_system, wire_protocol::claude, &fx().large_claude, true)
    ->Name("apply_edits/claude_115k/model+system");

// ---- conversion of requests and responses ----------------------------------------------------

void convert_req(benchmark::State& st, wire_protocol from, wire_protocol to,
                 const std::string* body) {
  proto::request_options o;
  o.model = to == wire_protocol::claude   ? "claude-sonnet-4-5"
            : to == wire_protocol::openai ? "gpt-4.1"
                                          : "gemini-2.5-pro";
  for (auto _ : st) {
    auto r = proto::convert_request(from, to, *body, o);
    if (!r.ok()) st.SkipWithError(r.error.c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body->size()));
}
BENCHMARK_CAPTURE(convert_req, c2o, wire_protocol::claude, wire_protocol::openai,
                  &fx().large_claude)
    ->Name("convert_request/claude_to_openai/115k");
BENCHMARK_CAPTURE(convert_req, o2c, wire_protocol::openai, wire_protocol::claude,
                  &fx().large_openai)
    ->Name("convert_request/openai_to_claude/115k");
BENCHMARK_CAPTURE(convert_req, c2g, wire_protocol::claude, wire_protocol::gemini,
                  &fx().large_claude)
    ->Name("convert_request/claude_to_gemini/115k");
BENCHMARK_CAPTURE(convert_req, g2o, wire_protocol::gemini, wire_protocol::openai,
                  &fx().large_gemini)
    ->Name("convert_request/gemini_to_openai/115k");
BENCHMARK_CAPTURE(convert_req, g2c, wire_protocol::gemini, wire_protocol::claude,
                  &fx().large_gemini)
    ->Name("convert_request/gemini_to_claude/115k");
BENCHMARK_CAPTURE(convert_req, c2o_small, wire_protocol::claude, wire_protocol::openai,
                  &fx().small_claude)
    ->Name("convert_request/claude_to_openai/small");
BENCHMARK_CAPTURE(convert_req, o2c_small, wire_protocol::openai, wire_protocol::claude,
                  &fx().small_openai)
    ->Name("convert_request/openai_to_claude/small");

// What the handler runs for a converted request: inspect_body (model, stream), then
// convert_request, on a body with the parser's padding allocated after it (as the server reads
// it). `mode`: two_pass_copy, the inspection in place and the conversion on a padded copy (the
// handler before the shared parse); two_pass, both in place, each with its own stage 1; shared,
// one stage 1 (inspect_body keeps the parse for convert_request).
enum class handler_mode { two_pass_copy, two_pass, shared };

void inspect_convert(benchmark::State& st, wire_protocol from, wire_protocol to,
                     const std::string* fixture, handler_mode mode) {
  std::string body;
  body.reserve(fixture->size() + proto::json_padding);
  body = *fixture;
  proto::request_options o;
  o.model = to == wire_protocol::claude ? "claude-sonnet-4-5" : "gpt-4.1";
  for (auto _ : st) {
    proto::parsed_body parsed;
    auto i = mode == handler_mode::shared ? proto::inspect_body(from, body, body.capacity(), parsed)
                                          : proto::inspect_body(from, body, body.capacity());
    if (!i.summary) st.SkipWithError(i.error.c_str());
    o.stream = i.summary->stream;
    auto r = mode == handler_mode::two_pass_copy
                 ? proto::convert_request(from, to, body, o)
                 : proto::convert_request(from, to, body, body.capacity(), o, &parsed);
    if (!r.ok()) st.SkipWithError(r.error.c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(fixture->size()));
}
BENCHMARK_CAPTURE(inspect_convert, c2o_copy, wire_protocol::claude, wire_protocol::openai,
                  &fx().large_claude, handler_mode::two_pass_copy)
    ->Name("inspect+convert/claude_to_openai/115k/two_pass_copy");
BENCHMARK_CAPTURE(inspect_convert, c2o_two, wire_protocol::claude, wire_protocol::openai,
                  &fx().large_claude, handler_mode::two_pass)
    ->Name("inspect+convert/claude_to_openai/115k/two_pass");
BENCHMARK_CAPTURE(inspect_convert, c2o_shared, wire_protocol::claude, wire_protocol::openai,
                  &fx().large_claude, handler_mode::shared)
    ->Name("inspect+convert/claude_to_openai/115k/shared");
BENCHMARK_CAPTURE(inspect_convert, o2c_shared, wire_protocol::openai, wire_protocol::claude,
                  &fx().large_openai, handler_mode::shared)
    ->Name("inspect+convert/openai_to_claude/115k/shared");

void convert_resp(benchmark::State& st, wire_protocol from, wire_protocol to,
                  const std::string* body) {
  for (auto _ : st) {
    auto r = proto::convert_response(from, to, *body, "client-model");
    if (!r.ok()) st.SkipWithError(r.error.c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(body->size()));
}
BENCHMARK_CAPTURE(convert_resp, o2c, wire_protocol::openai, wire_protocol::claude,
                  &fx().openai_completion)
    ->Name("convert_response/openai_to_claude/624B");
BENCHMARK_CAPTURE(convert_resp, c2o, wire_protocol::claude, wire_protocol::openai,
                  &fx().claude_message)
    ->Name("convert_response/claude_to_openai/small");
BENCHMARK_CAPTURE(convert_resp, o2c_tools, wire_protocol::openai, wire_protocol::claude,
                  &fx().openai_tool_completion)
    ->Name("convert_response/openai_to_claude/tool_calls");
BENCHMARK_CAPTURE(convert_resp, c2o_tools, wire_protocol::claude, wire_protocol::openai,
                  &fx().claude_tool_message)
    ->Name("convert_response/claude_to_openai/tool_calls");
BENCHMARK_CAPTURE(convert_resp, g2o, wire_protocol::gemini, wire_protocol::openai,
                  &fx().gemini_response)
    ->Name("convert_response/gemini_to_openai/small");
BENCHMARK_CAPTURE(convert_resp, g2c_tools, wire_protocol::gemini, wire_protocol::claude,
                  &fx().gemini_tool_response)
    ->Name("convert_response/gemini_to_claude/tool_calls");

// ---- streams: fed in 4 KB pieces, as reads from an upstream socket ---------------------------

constexpr std::size_t piece = 4096;

void stream_conv(benchmark::State& st, wire_protocol from, wire_protocol to, const std::string* s) {
  proto::stream_options o;
  o.model = "client-model";
  std::string out;
  for (auto _ : st) {
    auto c = proto::stream_converter::make(from, to, o);
    for (std::size_t i = 0; i < s->size(); i += piece) {
      out.clear();
      c->feed(std::string_view(*s).substr(i, piece), out);
      benchmark::DoNotOptimize(out.data());
    }
    out.clear();
    c->finish(out);
    if (c->failed()) st.SkipWithError("stream failed");
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(s->size()));
}
BENCHMARK_CAPTURE(stream_conv, o2c, wire_protocol::openai, wire_protocol::claude,
                  &fx().openai_stream)
    ->Name("stream_converter/openai_to_claude/115k");
BENCHMARK_CAPTURE(stream_conv, c2o, wire_protocol::claude, wire_protocol::openai,
                  &fx().claude_stream)
    ->Name("stream_converter/claude_to_openai/115k");
BENCHMARK_CAPTURE(stream_conv, c2g, wire_protocol::claude, wire_protocol::gemini,
                  &fx().claude_stream)
    ->Name("stream_converter/claude_to_gemini/115k");
BENCHMARK_CAPTURE(stream_conv, g2o, wire_protocol::gemini, wire_protocol::openai,
                  &fx().gemini_stream)
    ->Name("stream_converter/gemini_to_openai/115k");
BENCHMARK_CAPTURE(stream_conv, g2c, wire_protocol::gemini, wire_protocol::claude,
                  &fx().gemini_stream)
    ->Name("stream_converter/gemini_to_claude/115k");

void framer(benchmark::State& st, const std::string* s) {
  for (auto _ : st) {
    proto::sse_framer f;
    std::size_t n = 0;
    for (std::size_t i = 0; i < s->size(); i += piece) {
      f.feed(std::string_view(*s).substr(i, piece));
      n += f.take_complete().size();
    }
    n += f.take_all().size();
    if (n != s->size()) st.SkipWithError("framer lost bytes");
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(s->size()));
}
BENCHMARK_CAPTURE(framer, openai, &fx().openai_stream)->Name("sse_framer/openai_stream/115k");

void parser(benchmark::State& st, const std::string* s) {
  for (auto _ : st) {
    proto::sse_parser p;
    std::size_t events = 0;
    for (std::size_t i = 0; i < s->size(); i += piece)
      p.feed(std::string_view(*s).substr(i, piece), [&](const proto::sse_event& e) {
        events += 1;
        benchmark::DoNotOptimize(e.data.data());
      });
    p.finish([&](const proto::sse_event&) { events += 1; });
    if (events == 0) st.SkipWithError("no events");
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(s->size()));
}
BENCHMARK_CAPTURE(parser, openai, &fx().openai_stream)->Name("sse_parser/openai_stream/115k");
BENCHMARK_CAPTURE(parser, claude, &fx().claude_stream)->Name("sse_parser/claude_stream/115k");
BENCHMARK_CAPTURE(parser, gemini, &fx().gemini_stream)->Name("sse_parser/gemini_stream/115k");

#ifdef BENCH_HAVE_KIRO
// AWS event-stream (Kiro): ~115 KB of assistantResponseEvent messages.
const std::string& kiro_stream() {
  static const std::string s = [] {
    std::string out;
    const char* words[] = {"The ", "pool ", "manager ", "records ", "the ", "outcome ", "first. "};
    for (int i = 0; out.size() < 115000; ++i)
      out += proto::kiro::encode_event("assistantResponseEvent",
                                       std::string("{\"content\":\"") + words[i % 7] + "\"}");
    return out;
  }();
  return s;
}

void kiro_parser(benchmark::State& st) {
  const auto& s = kiro_stream();
  for (auto _ : st) {
    proto::kiro::eventstream_parser p;
    proto::kiro::eventstream_message m;
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); i += piece) {
      p.append(std::string_view(s).substr(i, piece));
      while (p.next(m)) ++n;
    }
    if (p.failed() || n == 0) st.SkipWithError("event-stream parse failed");
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(s.size()));
}
BENCHMARK(kiro_parser)->Name("eventstream_parser/kiro/115k");

void kiro_conv(benchmark::State& st) {
  const auto& s = kiro_stream();
  proto::stream_options o;
  o.model = "client-model";
  std::string out;
  for (auto _ : st) {
    proto::kiro::kiro_stream_converter c(wire_protocol::claude, o);
    for (std::size_t i = 0; i < s.size(); i += piece) {
      out.clear();
      c.feed(std::string_view(s).substr(i, piece), out);
    }
    out.clear();
    c.finish(out);
    if (c.failed()) st.SkipWithError("kiro stream failed");
  }
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(s.size()));
}
BENCHMARK(kiro_conv)->Name("stream_converter/kiro_to_claude/115k");
#endif

}  // namespace

BENCHMARK_MAIN();
