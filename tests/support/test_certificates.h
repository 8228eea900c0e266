#pragma once
// A throwaway PKI for TLS tests, made with OpenSSL's C API at test time:
// a CA, a server certificate for localhost/127.0.0.1 and a client
// certificate, written as PEM files into a folder.
#include <string>

namespace greylane::test {

struct TestPki {
  std::string ca_cert;  // paths
  std::string server_cert;
  std::string server_key;
  std::string client_cert;  // CN given to MakeTestPki
  std::string client_key;
  std::string stranger_cert;  // signed by another CA
  std::string stranger_key;
};

// Empty paths when OpenSSL fails (the test then fails on its own checks).
TestPki MakeTestPki(const std::string& dir, const std::string& client_common_name);
std::string ReadText(const std::string& path);

}  // namespace greylane::test
