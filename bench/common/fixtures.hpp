#pragma once
// Request and answer bodies for the benchmarks, generated deterministically (same bytes on
// every run and every machine). Used by the fixture writer (bench_fixtures), the fake upstream
// and the micro-benchmarks.
#include <cstddef>
#include <string>
#include <vector>

namespace bench {

/// Wire shape of a body.
enum class shape { openai, anthropic };

/// A small chat request (one user message, ~200 bytes).
std::string small_request(shape s, bool stream);

/// A coding agent's request (Claude Code-like): a long system prompt, 24 tool definitions with
/// realistic JSON schemas, and a long multi-turn history with parallel tool calls and tool
/// results holding source files. The Anthropic shape is padded to `target_bytes`; the OpenAI
/// shape carries the same conversation (and ends up a little larger: arguments are strings).
std::string coding_agent_request(shape s, bool stream, std::size_t target_bytes = 115000);

/// A non-streamed chat.completion of exactly 624 bytes (the reference upstream answer).
std::string openai_completion();

/// A non-streamed Anthropic message of the same content.
std::string anthropic_message();

/// Larger non-streamed answers with text and three parallel tool calls (micro-benchmarks).
std::string openai_tool_completion();
std::string anthropic_tool_message();

/// A streamed answer as SSE events ("data: ...\n\n" each, "event: ..." for Anthropic):
/// OpenAI: a role chunk, `content_chunks` content chunks, a finish chunk with usage, [DONE].
/// Anthropic: message_start, content_block_start, `content_chunks` text deltas,
/// content_block_stop, message_delta with usage, message_stop.
std::vector<std::string> openai_stream_events(int content_chunks);
std::vector<std::string> anthropic_stream_events(int content_chunks);

/// A long streamed answer with text and tool-call argument deltas (micro-benchmarks).
std::string openai_long_stream(std::size_t target_bytes);
std::string anthropic_long_stream(std::size_t target_bytes);

/// Pieces of streams whose content chunks carry a send timestamp ("@<ns> "), for the slow
/// streams: the first events (before the content), one content event, the closing events.
std::string openai_stream_head();
std::string openai_stream_content(const std::string& text);
std::string openai_stream_tail();
std::string anthropic_stream_head();
std::string anthropic_stream_content(const std::string& text);
std::string anthropic_stream_tail();

}  // namespace bench
