#include "support/test_paths.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aiclient::testing {

std::string source_dir() {
  return AICLIENT_SOURCE_DIR;
}

std::string read_fixture(const std::string& relative) {
  const std::string path = source_dir() + "/tests/fixtures/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace aiclient::testing
