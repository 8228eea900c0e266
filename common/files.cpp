#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "common/text.h"

namespace greylane {
namespace {

absl::Status ErrnoStatus(int err, std::string_view what, const std::string& path) {
  std::string message =
      "cannot read " + std::string(what) + " " + Quote(path, 300) + ": " + std::strerror(err);
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::FailedPreconditionError(message);
}

}  // namespace

absl::StatusOr<OpenedFile> OpenRegularFile(const std::string& path, size_t max_bytes,
                                           std::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(std::string(what) + ": no file named");
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return ErrnoStatus(errno, what, path);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, what, path);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(std::string(what) + " " + Quote(path, 300) +
                                      " is not a regular file (a FIFO, device or folder "
                                      "cannot be used)");
  }
  if (static_cast<uint64_t>(info.st_size) > max_bytes) {
    ::close(fd);
    return absl::InvalidArgumentError(std::string(what) + " " + Quote(path, 300) + " is " +
                                      std::to_string(info.st_size) + " bytes; at most " +
                                      std::to_string(max_bytes) + " are accepted");
  }
  // Back to blocking reads: a regular file never blocks indefinitely.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return OpenedFile{fd, static_cast<size_t>(info.st_size)};
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max_bytes,
                                            std::string_view what, struct stat* info) {
  absl::StatusOr<OpenedFile> file = OpenRegularFile(path, max_bytes, what);
  if (!file.ok()) return file.status();
  if (info && ::fstat(file->fd, info) != 0) {
    const int err = errno;
    ::close(file->fd);
    return ErrnoStatus(err, what, path);
  }
  // Read to the end rather than trusting st_size: the file may be growing.
  std::string text;
  text.resize(file->size);
  size_t have = 0;
  for (;;) {
    if (have == text.size()) {
      if (text.size() >= max_bytes) {
        char probe;
        const ssize_t more = ::read(file->fd, &probe, 1);
        ::close(file->fd);
        if (more > 0) {
          return absl::InvalidArgumentError(std::string(what) + " " + Quote(path, 300) +
                                            " is over " + std::to_string(max_bytes) + " bytes");
        }
        return text;
      }
      text.resize(std::min(max_bytes, std::max<size_t>(4096, text.size() * 2)));
    }
    const ssize_t n = ::read(file->fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(file->fd);
      return ErrnoStatus(err, what, path);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(file->fd);
  text.resize(have);
  return text;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  // Never renamed over a device, a FIFO, a directory or a symlink (as root,
  // `--output /dev/null` once replaced the device with a file).
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(path +
                                         " exists and is not a regular file; give a file path");
  }
  const std::string temporary = path + ".partial";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError("cannot write " + temporary + ": " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      return absl::UnavailableError("cannot write " + path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return absl::UnavailableError("cannot write " + path + ": " + why);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return absl::FailedPreconditionError("cannot replace " + path + ": " + why);
  }
  return absl::OkStatus();
}

}  // namespace greylane
