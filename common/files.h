#pragma once
// Reading files named from outside (configs, tokens, certificates, models)
// without trusting them: regular files only (a FIFO or a device would block
// or never end), opened non-blocking, size bounded before anything is
// allocated, and every failure said with the file's name and role.
#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace greylane {

inline constexpr size_t kMaxPemBytes = 1u << 20;     // certificates, keys, CAs
inline constexpr size_t kMaxConfigBytes = 1u << 20;  // YAML config
inline constexpr size_t kMaxTokensBytes = 4u << 20;  // tokens files

// The whole file. `what` names it in errors ("the CA file"). `info`, when
// given, receives the file's fstat (mode, owner) for permission checks.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max_bytes,
                                            std::string_view what, struct stat* info = nullptr);

// An open regular file for streaming reads (large model files): the same
// checks, the descriptor owned by the caller. Returns the fd and its size.
struct OpenedFile {
  int fd = -1;
  size_t size = 0;
};
absl::StatusOr<OpenedFile> OpenRegularFile(const std::string& path, size_t max_bytes,
                                           std::string_view what);

// Writes `bytes` beside `path` and renames it over `path` once flushed, so
// a reader (or a crash, or a full disk) never leaves half a file there.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace greylane
