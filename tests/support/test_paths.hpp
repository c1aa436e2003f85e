#pragma once
#include <string>

namespace aiclient::testing {

/// The repository's root folder (for fixtures).
std::string source_dir();
/// tests/fixtures/<relative>, read whole; throws std::runtime_error naming the path when missing.
std::string read_fixture(const std::string& relative);

}  // namespace aiclient::testing
