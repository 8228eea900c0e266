#include "common/release_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "common/audit_export.h"
#include "common/audit_vocabulary.h"
#include "common/basis_points.h"
#include "common/latency_sketch.h"
#include "common/text.h"

namespace greylane {
namespace {

bool Ok(const AuditRecord& r) {
  return r.outcome == AuditOutcomeName(AuditOutcome::kOk);
}
bool Is(const AuditRecord& r, AuditAction action) {
  return r.action == AuditActionName(action);
}
bool StartsRelease(const AuditRecord& r) {
  if (!Ok(r)) return false;
  if (Is(r, AuditAction::kInitialize) || Is(r, AuditAction::kLoadCandidate)) return true;
  // After a rollback or a promotion, giving the candidate traffic again is
  // a new trial of it: a release of its own in the review.
  const bool ended = r.before.phase == "ROLLED_BACK" || r.before.phase == "PROMOTED";
  return ended && r.after.phase == "CANARY" && r.after.candidate_basis_points > 0;
}
bool EndsRelease(const AuditRecord& r) {
  return Ok(r) && (Is(r, AuditAction::kRollback) || Is(r, AuditAction::kPromote)) &&
         r.before != r.after;
}

enum class Clock { kDateTime, kMinutes, kSeconds };
std::string UtcTime(int64_t unix_ms, Clock clock = Clock::kDateTime) {
  const std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  if (clock == Clock::kDateTime) {
    std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else if (clock == Clock::kSeconds) {
    std::snprintf(text, sizeof(text), "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    std::snprintf(text, sizeof(text), "%02d:%02d", tm.tm_hour, tm.tm_min);
  }
  return text;
}

std::string Millis(uint64_t micros) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", static_cast<double>(micros) / 1000.0);
  return text;
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "–";
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f %%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

std::string Outcome(const ReleaseReport& r) {
  if (r.rows.empty()) return "no rows";
  if (!r.finished) return "in progress";
  const AuditRecord& last = r.rows.back();
  if (Is(last, AuditAction::kRollback)) return "rolled back";
  if (Is(last, AuditAction::kPromote)) return "promoted";
  return "replaced by a new candidate";
}

struct VersionTotal {
  std::string version;
  uint64_t requests = 0;
  uint64_t server_errors = 0;
  LatencySketch latency;
  bool has_latency = false;
};

// Per slot: requests and errors from the steps, latency from the history's
// sketches (exact for the whole release) when the agent kept them.
std::map<std::string, VersionTotal> Totals(const ReleaseReport& r) {
  std::map<std::string, VersionTotal> totals;
  for (size_t i = 1; i < r.rows.size(); ++i) {
    if (!r.rows[i].step || !Ok(r.rows[i])) continue;
    for (const StepFigures& v : r.rows[i].step->versions) {
      VersionTotal& t = totals[v.slot];
      t.version = v.version;
      t.requests += v.requests;
      t.server_errors += v.server_errors;
    }
  }
  const int64_t started = r.rows.empty() ? 0 : r.rows.front().time_unix_ms;
  for (const v1::MetricsFrame& m : r.minutes) {
    // Only minutes that overlap the release (the span asked for has one
    // more on each side, for the chart).
    const int64_t minute_start = m.window_end_unix_ms() - 60'000;
    if (m.window_end_unix_ms() <= started || minute_start >= r.ended_unix_ms) continue;
    for (const v1::VersionWindow& w : m.versions()) {
      LatencySketch s;
      if (!w.has_latency() || !LatencySketch::FromProto(w.latency(), &s)) continue;
      VersionTotal& t = totals[w.slot() == v1::CANDIDATE ? "candidate" : "baseline"];
      t.latency.Merge(s);
      t.has_latency = true;
    }
  }
  return totals;
}

struct Step {
  size_t number = 0;
  const AuditRecord* row = nullptr;
};
std::vector<Step> Steps(const ReleaseReport& r) {
  std::vector<Step> steps;
  for (size_t i = 1; i < r.rows.size(); ++i) {
    if (r.rows[i].step && Ok(r.rows[i])) steps.push_back({steps.size() + 1, &r.rows[i]});
  }
  return steps;
}

std::string Who(const AuditRecord& r) {
  return r.role.empty() ? r.actor : r.actor + " (" + r.role + ")";
}

std::string ChangeText(const AuditRecord& r) {
  if (r.before == r.after) return "no change";
  return FormatState(r.before) + " → " + FormatState(r.after);
}

std::string ChainText(const ReleaseReport& r, bool markdown) {
  const auto code = [&](const std::string& s) { return markdown ? "`" + s + "`" : s; };
  std::string out;
  if (r.chain.ok) {
    out = "Recomputed by this report over " + std::to_string(r.chain.rows) +
          " rows: chain verified through #" + std::to_string(r.chain.verified_through) +
          ", head hash " + code(r.chain.head_hash) + ".";
  } else {
    out = "Recomputed by this report: chain BROKEN at #" + std::to_string(r.chain.broken_at) +
          ": " + r.chain.why + ".";
  }
  out +=
      " The agent: " + std::string(r.agent_chain_ok ? "" : "NOT OK: ") + r.agent_chain_detail + ".";
  return out;
}

const char* SlotColour(const std::string& slot) {
  return slot == "candidate" ? "#c0392b" : "#1f5fa8";
}
}  // namespace

std::optional<ReleaseBounds> FindRelease(const std::vector<AuditRecord>& trail, uint64_t at) {
  std::optional<size_t> first;
  for (size_t i = 0; i < trail.size(); ++i) {
    if (at != 0 && trail[i].sequence > at) break;
    if (StartsRelease(trail[i])) first = i;
  }
  if (!first) return std::nullopt;
  ReleaseBounds bounds{*first, trail.size() - 1, false};
  for (size_t i = *first + 1; i < trail.size(); ++i) {
    if (StartsRelease(trail[i])) {  // the candidate was replaced before an end
      bounds.last = i - 1;
      bounds.finished = true;
      break;
    }
    if (EndsRelease(trail[i])) {
      bounds.last = i;
      bounds.finished = true;
      break;
    }
  }
  return bounds;
}

void TakeRelease(const std::vector<AuditRecord>& trail, const ReleaseBounds& bounds, int64_t now,
                 ReleaseReport* report) {
  report->rows.assign(trail.begin() + static_cast<std::ptrdiff_t>(bounds.first),
                      trail.begin() + static_cast<std::ptrdiff_t>(bounds.last) + 1);
  report->finished = bounds.finished;
  report->ended_unix_ms = bounds.finished ? report->rows.back().time_unix_ms : now;
}

HistorySpan ReleaseHistorySpan(const std::vector<AuditRecord>& trail, const ReleaseBounds& bounds) {
  constexpr int64_t kMinute = 60'000;
  if (bounds.first >= trail.size() || bounds.last >= trail.size()) return {};
  return {std::max<int64_t>(0, trail[bounds.first].time_unix_ms - kMinute),
          bounds.finished ? trail[bounds.last].time_unix_ms + kMinute : 0};
}

HistorySpan ReleaseHistorySpan(const ReleaseReport& r) {
  if (r.rows.empty()) return {};
  return ReleaseHistorySpan(r.rows, {0, r.rows.size() - 1, r.finished});
}

std::string ReportSummary(const ReleaseReport& r) {
  if (r.rows.empty()) return "No release in the trail.";
  const AuditState& start = r.rows.front().after;
  uint32_t peak = 0;
  for (const AuditRecord& row : r.rows) {
    if (Ok(row)) peak = std::max(peak, row.after.candidate_basis_points);
  }
  std::string out = r.model_name + ": candidate " + start.candidate_version + " against baseline " +
                    start.baseline_version + " — " + Outcome(r) + " after " +
                    FormatDuration(r.ended_unix_ms - r.rows.front().time_unix_ms) + ", " +
                    std::to_string(Steps(r).size()) + " steps, highest candidate share " +
                    FormatBasisPoints(peak) + ".";
  for (const auto& [slot, t] : Totals(r)) {
    out += " " + std::string(slot == "candidate" ? "Candidate " : "Baseline ") + t.version + ": " +
           std::to_string(t.requests) + " requests, " + Percent(t.server_errors, t.requests) +
           " errors";
    if (t.has_latency && t.latency.Count() > 0) {
      char p99[32];
      std::snprintf(p99, sizeof(p99), "%.2f", t.latency.QuantileMillis(0.99));
      out += std::string(", p99 ") + p99 + " ms";
    }
    out += ".";
  }
  return out;
}

std::string ReportMarkdown(const ReleaseReport& r) {
  const auto cell = [](const std::string& s) { return MarkdownCell(s); };
  std::string out = "# Release report: " + cell(r.model_name) + " on " + cell(r.agent_id) + "\n\n";
  out += cell(ReportSummary(r)) + "\n\n";
  out += "Agent " + cell(r.agent_id) + " on node " + cell(r.node_name) +
         (r.agent_address.empty() ? "" : " at " + cell(r.agent_address)) + "; generated " +
         UtcTime(r.generated_unix_ms) + " UTC. Times are UTC.\n\n";
  if (r.rows.empty()) return out;
  out += "Began " + UtcTime(r.rows.front().time_unix_ms) + " with " + r.rows.front().action +
         " (#" + std::to_string(r.rows.front().sequence) + "); " +
         (r.finished ? "ended " + UtcTime(r.ended_unix_ms) + " with " + r.rows.back().action +
                           " (#" + std::to_string(r.rows.back().sequence) + ")"
                     : std::string("still in progress")) +
         ".\n\n";

  out +=
      "## Steps\n\nEach change ends a step; its figures are the agent's, from the merged "
      "latency sketch of every request in the step.\n\n";
  out +=
      "| Step | Ended (UTC) | Length | Share | Version | Requests | Errors | p50 ms | p90 ms | "
      "p99 ms | Ended by |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Step& s : Steps(r)) {
    const AuditStep& step = *s.row->step;
    const std::string ended_by = s.row->action + " by " + cell(Who(*s.row));
    if (step.versions.empty()) {
      out += "| " + std::to_string(s.number) + " | " + UtcTime(step.ended_unix_ms) + " | " +
             FormatDuration(step.ended_unix_ms - step.started_unix_ms) + " | " +
             FormatBasisPoints(step.candidate_basis_points) + " | – | 0 | – | – | – | – | " +
             ended_by + " |\n";
    }
    for (const StepFigures& v : step.versions) {
      const bool served = v.requests > v.server_errors + v.client_errors;
      out += "| " + std::to_string(s.number) + " | " + UtcTime(step.ended_unix_ms) + " | " +
             FormatDuration(step.ended_unix_ms - step.started_unix_ms) + " | " +
             FormatBasisPoints(step.candidate_basis_points) + " | " + v.slot + " " +
             cell(v.version) + " | " + std::to_string(v.requests) + " | " +
             std::to_string(v.server_errors) + " (" + Percent(v.server_errors, v.requests) +
             ") | " + (served ? Millis(v.p50_us) : "–") + " | " +
             (served ? Millis(v.p90_us) : "–") + " | " + (served ? Millis(v.p99_us) : "–") + " | " +
             ended_by + " |\n";
    }
  }
  out += "\nThe timeline chart is in the HTML and PDF reports.\n\n";

  out +=
      "## Who did what, and why\n\n| # | Time (UTC) | Who | Action | Outcome | Change | "
      "Reason |\n|---|---|---|---|---|---|---|\n";
  for (const AuditRecord& row : r.rows) {
    out += "| " + std::to_string(row.sequence) + " | " + UtcTime(row.time_unix_ms) + " | " +
           cell(Who(row)) + " | " + cell(row.action) + " | " + cell(row.outcome) + " | " +
           cell(ChangeText(row)) + " | " + cell(row.reason) +
           (row.evidence.empty() ? "" : " — " + cell(row.evidence)) + " |\n";
  }
  out += "\n## Health changes\n\n";
  bool any = false;
  for (const AuditRecord& row : r.rows) {
    if (!Is(row, AuditAction::kHealth)) continue;
    out += "- " + UtcTime(row.time_unix_ms) + ": " + cell(row.reason) + "\n";
    any = true;
  }
  if (!any) out += "None recorded.\n";
  out += "\n## Audit chain\n\n" + ChainText(r, true) + "\n";
  return out;
}

std::string ReportTimelineSvg(const ReleaseReport& r, int width, int height) {
  const double left = 64, right = 56, top = 34, bottom = 34;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const int64_t t0 = r.rows.empty() ? 0 : r.rows.front().time_unix_ms;
  const int64_t t1 = std::max(r.ended_unix_ms, t0 + 60'000);
  const auto x = [&](int64_t t) {
    return left +
           plot_w * static_cast<double>(std::clamp(t, t0, t1) - t0) / static_cast<double>(t1 - t0);
  };
  double ymax = 0;
  for (const v1::MetricsFrame& m : r.minutes) {
    for (const v1::VersionWindow& w : m.versions()) ymax = std::max(ymax, w.latency_p99_ms());
  }
  ymax = ymax > 0 ? ymax * 1.15 : 1.0;
  const auto y = [&](double ms) { return top + plot_h * (1.0 - ms / ymax); };
  char buf[256];
  std::string svg;
  std::snprintf(buf, sizeof(buf),
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"11\">",
                width, height, width, height);
  svg += buf;
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
  std::snprintf(buf, sizeof(buf),
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#888888\"/>",
                left, top, plot_w, plot_h);
  svg += buf;
  // Axes: four latency ticks on the left, the candidate's share on the right.
  for (int i = 0; i <= 4; ++i) {
    const double v = ymax * i / 4.0;
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>",
                  left, left + plot_w, y(v), y(v), left - 4, y(v) + 4, v);
    svg += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "<text x=\"12\" y=\"%.1f\" transform=\"rotate(-90 12 %.1f)\" "
                "text-anchor=\"middle\">p99 ms (per minute)</text>",
                top + plot_h / 2, top + plot_h / 2);
  svg += buf;
  for (int i = 0; i <= 4; ++i) {
    const double yy = top + plot_h * (1.0 - i / 4.0);
    std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.1f\" fill=\"#777777\">%d %%</text>",
                  left + plot_w + 4, yy + 4, i * 25);
    svg += buf;
  }
  for (int i = 0; i <= 4; ++i) {
    const int64_t t = t0 + (t1 - t0) * i / 4;
    std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                  x(t), top + plot_h + 16,
                  UtcTime(t, t1 - t0 < 15 * 60'000 ? Clock::kSeconds : Clock::kMinutes).c_str());
    svg += buf;
  }
  std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">UTC</text>",
                left + plot_w / 2, top + plot_h + 30);
  svg += buf;
  // The candidate's share as a step line, from the trail.
  std::string share;
  uint32_t bp = r.rows.empty() ? 0 : r.rows.front().after.candidate_basis_points;
  const auto share_y = [&](uint32_t b) { return top + plot_h * (1.0 - b / 10000.0); };
  std::snprintf(buf, sizeof(buf), "%.1f,%.1f", x(t0), share_y(bp));
  share += buf;
  for (const AuditRecord& row : r.rows) {
    if (!Ok(row) || row.after.candidate_basis_points == bp) continue;
    std::snprintf(buf, sizeof(buf), " %.1f,%.1f %.1f,%.1f", x(row.time_unix_ms), share_y(bp),
                  x(row.time_unix_ms), share_y(row.after.candidate_basis_points));
    share += buf;
    bp = row.after.candidate_basis_points;
  }
  std::snprintf(buf, sizeof(buf), " %.1f,%.1f", x(t1), share_y(bp));
  share += buf;
  svg +=
      "<polyline fill=\"none\" stroke=\"#999999\" stroke-width=\"1.5\" stroke-dasharray=\"2,3\" "
      "points=\"" +
      share + "\"/>";
  // p99 per version: a minute without successful requests, or missing, is a gap.
  for (const std::string slot : {"baseline", "candidate"}) {
    std::vector<std::string> segments(1);
    int64_t previous = 0;
    for (const v1::MetricsFrame& m : r.minutes) {
      const v1::VersionWindow* w = nullptr;
      for (const v1::VersionWindow& v : m.versions()) {
        if ((v.slot() == v1::CANDIDATE) == (slot == "candidate")) w = &v;
      }
      const int64_t t = m.window_end_unix_ms() - 30'000;  // the minute's middle
      const bool served = w && w->requests() > w->server_errors() + w->client_errors();
      if (!served || (previous && t - previous > 90'000)) {
        if (!segments.back().empty()) segments.emplace_back();
      }
      if (served) {
        std::snprintf(buf, sizeof(buf), "%.1f,%.1f ", x(t), y(w->latency_p99_ms()));
        segments.back() += buf;
        previous = t;
      }
    }
    for (const std::string& points : segments) {
      if (points.empty()) continue;
      if (std::count(points.begin(), points.end(), ' ') == 1) {  // one minute alone: a dot
        double px = 0, py = 0;
        std::sscanf(points.c_str(), "%lf,%lf", &px, &py);
        std::snprintf(buf, sizeof(buf), "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", px,
                      py, SlotColour(slot));
        svg += buf;
        continue;
      }
      svg += std::string("<polyline fill=\"none\" stroke=\"") + SlotColour(slot) +
             "\" stroke-width=\"2\"" + (slot == "candidate" ? " stroke-dasharray=\"6,3\"" : "") +
             " points=\"" + points + "\"/>";
    }
  }
  // Each change is a numbered marker; rollbacks red, promotions green.
  size_t number = 0;
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const AuditRecord& row = r.rows[i];
    const bool health = Is(row, AuditAction::kHealth);
    if (!health && (!Ok(row) || (i > 0 && !row.step))) continue;
    const char* colour = Is(row, AuditAction::kRollback)  ? "#c0392b"
                         : Is(row, AuditAction::kPromote) ? "#1e8449"
                         : health                         ? "#d68910"
                                                          : "#555555";
    const double xx = x(row.time_unix_ms);
    if (health) {
      std::snprintf(buf, sizeof(buf),
                    "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", xx,
                    top + plot_h - 10, xx - 5, top + plot_h, xx + 5, top + plot_h, colour);
      svg += buf;
      continue;
    }
    const std::string label = i == 0 ? "start" : std::to_string(++number);
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"1.5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                  "fill=\"%s\">%s</text>",
                  xx, xx, top, top + plot_h, colour, xx, top - 4, colour, label.c_str());
    svg += buf;
  }
  // Legend.
  std::string base = "baseline", cand = "candidate";
  if (!r.rows.empty()) {
    base += " " + r.rows.front().after.baseline_version;
    cand += " " + r.rows.front().after.candidate_version;
  }
  std::snprintf(
      buf, sizeof(buf),
      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"12\" y2=\"12\" stroke=\"%s\" stroke-width=\"2\"/>", left,
      left + 20, SlotColour("baseline"));
  svg += buf;
  svg += "<text x=\"" + std::to_string(static_cast<int>(left) + 24) + "\" y=\"16\">" +
         HtmlText(base) + " p99</text>";
  std::snprintf(
      buf, sizeof(buf),
      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"12\" y2=\"12\" stroke=\"%s\" stroke-width=\"2\" "
      "stroke-dasharray=\"6,3\"/>",
      left + 190, left + 210, SlotColour("candidate"));
  svg += buf;
  svg += "<text x=\"" + std::to_string(static_cast<int>(left) + 214) + "\" y=\"16\">" +
         HtmlText(cand) + " p99</text>";
  std::snprintf(buf, sizeof(buf),
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"12\" y2=\"12\" stroke=\"#999999\" "
                "stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/><text x=\"%.1f\" y=\"16\">"
                "candidate share (right axis)</text>",
                left + 380, left + 400, left + 404);
  svg += buf;
  if (r.minutes.empty()) {
    std::snprintf(buf, sizeof(buf),
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#777777\">",
                  left + plot_w / 2, top + plot_h / 2);
    svg += buf;
    svg +=
        HtmlText(r.history_note.empty() ? "no history for this span" : r.history_note) + "</text>";
  }
  return svg + "</svg>";
}

std::string ReportHtml(const ReleaseReport& r, ChartEmbed chart) {
  const auto h = [](const std::string& s) { return HtmlText(s); };
  std::string out =
      "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Release report: " +
      h(r.model_name) + " on " + h(r.agent_id) +
      "</title><style>body{font-family:'DejaVu Sans',sans-serif;font-size:10pt;margin:24px}"
      "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 6px;"
      "text-align:left;vertical-align:top}th{background:#eeeeee}.num{text-align:right}"
      ".bad{color:#c0392b;font-weight:bold}.mono{font-family:'DejaVu Sans Mono',monospace}"
      "</style></head><body>";
  out += "<h1>Release report: " + h(r.model_name) + " on " + h(r.agent_id) + "</h1>";
  out += "<p><b>" + h(ReportSummary(r)) + "</b></p>";
  out += "<p>Agent " + h(r.agent_id) + " on node " + h(r.node_name) +
         (r.agent_address.empty() ? "" : " at " + h(r.agent_address)) + "; generated " +
         UtcTime(r.generated_unix_ms) + " UTC. Times are UTC.</p>";
  if (r.rows.empty()) return out + "</body></html>";
  out += "<p>Began " + UtcTime(r.rows.front().time_unix_ms) + " with " + h(r.rows.front().action) +
         " (#" + std::to_string(r.rows.front().sequence) + "); " +
         (r.finished ? "ended " + UtcTime(r.ended_unix_ms) + " with " + h(r.rows.back().action) +
                           " (#" + std::to_string(r.rows.back().sequence) + ")"
                     : std::string("still in progress")) +
         ".</p>";
  out += "<h2>Timeline</h2>";
  out += chart == ChartEmbed::kInlineSvg
             ? "<div>" + ReportTimelineSvg(r, 900, 300) + "</div>"
             : std::string("<p><img src=\"") + kReportChartUrl + "\" width=\"640\"></p>";
  out +=
      "<p>Numbered lines are the steps' ends (red: rollback, green: promotion); orange "
      "triangles are health changes.</p>";

  out +=
      "<h2>Steps</h2><p>Each change ends a step; its figures are the agent's, from the merged "
      "latency sketch of every request in the step.</p>";
  out +=
      "<table border=\"1\" cellspacing=\"0\" cellpadding=\"3\"><tr><th>Step</th><th>Ended "
      "(UTC)</th><th>Length</th><th>Share</th><th>Version</th><th>Requests</th><th>Errors</th>"
      "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>Ended by</th></tr>";
  for (const Step& s : Steps(r)) {
    const AuditStep& step = *s.row->step;
    const std::string head = "<td class=\"num\">" + std::to_string(s.number) + "</td><td>" +
                             UtcTime(step.ended_unix_ms) + "</td><td>" +
                             FormatDuration(step.ended_unix_ms - step.started_unix_ms) +
                             "</td><td class=\"num\">" +
                             FormatBasisPoints(step.candidate_basis_points) + "</td>";
    const std::string ended_by = "<td>" + h(s.row->action) + " by " + h(Who(*s.row)) + "</td>";
    if (step.versions.empty()) {
      out += "<tr>" + head +
             "<td>–</td><td class=\"num\">0</td><td>–</td><td>–</td><td>–</td>"
             "<td>–</td>" +
             ended_by + "</tr>";
    }
    for (const StepFigures& v : step.versions) {
      const bool served = v.requests > v.server_errors + v.client_errors;
      const bool bad = v.requests > 0 && v.server_errors * 100 >= v.requests;
      out += "<tr>" + head + "<td>" + h(v.slot + " " + v.version) + "</td><td class=\"num\">" +
             std::to_string(v.requests) + "</td><td class=\"num" + (bad ? " bad" : "") + "\">" +
             std::to_string(v.server_errors) + " (" + Percent(v.server_errors, v.requests) +
             ")</td><td class=\"num\">" + (served ? Millis(v.p50_us) : "–") +
             "</td><td class=\"num\">" + (served ? Millis(v.p90_us) : "–") +
             "</td><td class=\"num\">" + (served ? Millis(v.p99_us) : "–") + "</td>" + ended_by +
             "</tr>";
    }
  }
  out += "</table>";

  out +=
      "<h2>Who did what, and why</h2><table border=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
      "<tr><th>#</th><th>Time (UTC)</th><th>Who</th><th>Action</th><th>Outcome</th>"
      "<th>Change</th><th>Reason</th></tr>";
  for (const AuditRecord& row : r.rows) {
    out += "<tr><td class=\"num\">" + std::to_string(row.sequence) + "</td><td>" +
           UtcTime(row.time_unix_ms) + "</td><td>" + h(Who(row)) + "</td><td>" + h(row.action) +
           "</td><td" + (Ok(row) ? "" : " class=\"bad\"") + ">" + h(row.outcome) + "</td><td>" +
           h(ChangeText(row)) + "</td><td>" + h(row.reason) +
           (row.evidence.empty() ? "" : "<br><i>" + h(row.evidence) + "</i>") + "</td></tr>";
  }
  out += "</table><h2>Health changes</h2><ul>";
  bool any = false;
  for (const AuditRecord& row : r.rows) {
    if (!Is(row, AuditAction::kHealth)) continue;
    out += "<li>" + UtcTime(row.time_unix_ms) + ": " + h(row.reason) + "</li>";
    any = true;
  }
  if (!any) out += "<li>None recorded.</li>";
  out += "</ul><h2>Audit chain</h2><p>" + h(ChainText(r, false)) + "</p>";
  return out + "</body></html>";
}

}  // namespace greylane
