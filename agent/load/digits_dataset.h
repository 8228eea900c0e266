#pragma once
// The held-out digits rows (label + 64 pixels) written by
// scripts/train_digits.py: what the load generator sends and the tests score.
#include <string>
#include <vector>

namespace greylane {

struct DigitsRow {
  int label = 0;
  std::vector<float> pixels;  // 64 values, 0..16
};

// Empty and `error` set when the file is missing or malformed.
std::vector<DigitsRow> LoadDigitsCsv(const std::string& path, std::string* error);
// digits-holdout.csv in the models folder the agent would use.
std::string DefaultDigitsCsv();

}  // namespace greylane
