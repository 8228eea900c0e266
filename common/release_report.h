#pragma once
// One release, for its review meeting: from the `load_candidate` (or
// `initialize`, or a split that gives the candidate traffic again after a
// rollback or promotion) that began it to the promotion or rollback that
// ended it (or now, while it is in progress). Rendered as Markdown and as HTML with
// an SVG timeline; the console and greylane-ctl also print the HTML to PDF
// (app/release_report_pdf.h). Plain C++ so the command-line tool and the
// console write the same report from the same rows. The SVG is written by
// hand: it is a few polylines, and no Debian library draws one without Qt.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct ReleaseBounds {
  size_t first = 0;  // index in the trail of the row that began it
  size_t last = 0;   // of the row that ended it, or of the newest row
  bool finished = false;
};

// The release holding the row with sequence `at` (0: the newest release).
// None when the trail holds no release start at or before it.
std::optional<ReleaseBounds> FindRelease(const std::vector<AuditRecord>& trail, uint64_t at);

struct ReleaseReport {
  std::string agent_id;
  std::string node_name;
  std::string model_name;
  std::string agent_address;
  int64_t generated_unix_ms = 0;
  std::vector<AuditRecord> rows;  // the release's rows, oldest first
  bool finished = false;
  int64_t ended_unix_ms = 0;              // the last row's time, or now while in progress
  std::vector<v1::MetricsFrame> minutes;  // the agent's history over the release (may be empty)
  std::string history_note;               // why there is none, when there is none
  // The chain: recomputed by whoever made the report over the whole trail,
  // and the agent's own verdict over its disk.
  ChainVerdict chain;
  bool agent_chain_ok = false;
  std::string agent_chain_detail;
};

// Fills rows, finished and ended_unix_ms from the trail and bounds.
void TakeRelease(const std::vector<AuditRecord>& trail, const ReleaseBounds& bounds, int64_t now,
                 ReleaseReport* report);

// What to ask the agent's history for: the release's minutes and one on
// each side; to 0 (now) while it is in progress.
struct HistorySpan {
  int64_t from_unix_ms = 0;
  int64_t to_unix_ms = 0;
};
HistorySpan ReleaseHistorySpan(const ReleaseReport& report);
HistorySpan ReleaseHistorySpan(const std::vector<AuditRecord>& trail, const ReleaseBounds& bounds);

enum class ChartEmbed { kInlineSvg, kImage };
inline constexpr char kReportChartUrl[] = "greylane-timeline.png";

std::string ReportSummary(const ReleaseReport& report);  // one line
std::string ReportMarkdown(const ReleaseReport& report);
// kImage refers to the chart as kReportChartUrl (for QTextDocument, which
// draws no SVG).
std::string ReportHtml(const ReleaseReport& report, ChartEmbed chart);
std::string ReportTimelineSvg(const ReleaseReport& report, int width, int height);

}  // namespace greylane
