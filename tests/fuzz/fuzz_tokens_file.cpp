// libFuzzer: the agent's tokens file (hashes, identities, roles) and the
// clients' token file. An identity that is accepted is valid UTF-8 without
// control characters: it goes into the audit trail and to every console.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/auth/token_store.h"
#include "common/client_token.h"
#include "common/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto store = greylane::TokenStore::Parse(text, &error)) {
    // Every accepted identity must be storable; Authenticate must not crash.
    (void)store->Authenticate(text.substr(0, 64));
  } else if (error.empty()) {
    __builtin_trap();
  }
  for (const char* role : {"operator", "viewer"}) {
    auto token = greylane::ParseTokenFile(text, "fuzz", role);
    if (token.ok()) {
      for (const char c : token->token) {
        if (c < 0x21 || c > 0x7e) __builtin_trap();  // only header-safe tokens
      }
    }
  }
  return 0;
}
