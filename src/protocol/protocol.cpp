#include "aiclient/protocol/protocol.hpp"

namespace aiclient::protocol {

std::string_view to_string(wire_protocol p) noexcept {
  switch (p) {
    case wire_protocol::openai:
      return "openai";
    case wire_protocol::claude:
      return "claude";
    case wire_protocol::gemini:
      return "gemini";
  }
  return "unknown";
}

}  // namespace aiclient::protocol
