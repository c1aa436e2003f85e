// Micro-benchmark of request conversion on a 115 KB Claude Code-like request. Disabled: it
// measures, it asserts nothing about time. Run it from an optimised build with
//   protocol_tests --gtest_also_run_disabled_tests --gtest_filter='convert_bench*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "convert_test_support.hpp"

namespace {

using namespace convert_test;

TEST(convert_bench, DISABLED_claude_code_request) {
  const std::string body = claude_code_like_request();
  std::printf("request: %zu bytes\n", body.size());
  const auto run = [&](wire_protocol from, wire_protocol to, const std::string& in) -> std::string {
    double best = 1e18;
    double total = 0;
    constexpr int reps = 2000;
    std::string out;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const convert_result r = aiclient::protocol::convert_request(from, to, in, {"model", true});
      const auto t1 = std::chrono::steady_clock::now();
      EXPECT_TRUE(r.ok()) << r.error;
      if (!r.ok()) return {};
      const double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
      best = std::min(best, us);
      total += us;
      if (i == 0) out = r.body;
    }
    std::printf("%s -> %s: best %.1f us, mean %.1f us (%zu bytes out)\n",
                std::string(aiclient::protocol::to_string(from)).c_str(),
                std::string(aiclient::protocol::to_string(to)).c_str(), best, total / reps,
                out.size());
    return out;
  };
  const std::string as_openai = run(wire_protocol::claude, wire_protocol::openai, body);
  const std::string as_gemini = run(wire_protocol::claude, wire_protocol::gemini, body);
  run(wire_protocol::openai, wire_protocol::claude, as_openai);
  run(wire_protocol::openai, wire_protocol::gemini, as_openai);
  run(wire_protocol::gemini, wire_protocol::claude, as_gemini);
  run(wire_protocol::gemini, wire_protocol::openai, as_gemini);
}

}  // namespace
