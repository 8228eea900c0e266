#include "agent/load/digits_dataset.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/models_dir.h"

namespace greylane {

std::vector<DigitsRow> LoadDigitsCsv(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open digits data '" + path + "'";
    return {};
  }
  std::vector<DigitsRow> rows;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string cell;
    DigitsRow row;
    bool first = true;
    while (std::getline(fields, cell, ',')) {
      try {
        if (first) {
          row.label = std::stoi(cell);
        } else {
          row.pixels.push_back(std::stof(cell));
        }
      } catch (const std::exception&) {
        *error = path + ":" + std::to_string(line_no) + ": not a number: '" + cell + "'";
        return {};
      }
      first = false;
    }
    if (row.pixels.size() != 64) {
      *error = path + ":" + std::to_string(line_no) + ": expected label and 64 pixels";
      return {};
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) *error = "no rows in '" + path + "'";
  return rows;
}

std::string DefaultDigitsCsv() {
  return (std::filesystem::path(FindModelsDir({})) / "digits-holdout.csv").string();
}

}  // namespace greylane
