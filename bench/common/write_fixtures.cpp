// bench_fixtures DIR: writes the request and answer bodies used by the load scenarios.
#include <cstdio>
#include <fstream>
#include <string>

#include "fixtures.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench_fixtures DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  auto put = [&](const char* name, const std::string& body) {
    std::ofstream f(dir + "/" + name, std::ios::binary);
    f << body;
    if (!f) {
      std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name);
      std::exit(1);
    }
    std::printf("%-34s %8zu bytes\n", name, body.size());
  };
  using bench::shape;
  put("small_openai.json", bench::small_request(shape::openai, false));
  put("small_openai_stream.json", bench::small_request(shape::openai, true));
  put("small_anthropic.json", bench::small_request(shape::anthropic, false));
  put("small_anthropic_stream.json", bench::small_request(shape::anthropic, true));
  put("large_openai.json", bench::coding_agent_request(shape::openai, false));
  put("large_anthropic.json", bench::coding_agent_request(shape::anthropic, false));
  put("openai_completion.json", bench::openai_completion());
  put("anthropic_message.json", bench::anthropic_message());
  return 0;
}
