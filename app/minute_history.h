#pragma once
// The agent's per-minute history as the console holds it for the long chart
// windows (1 h, 6 h, 24 h, the whole release). MinuteHistory is plain data
// (so series are built and tested without a network); MinuteHistoryReader
// loads a span page by page through QueryHistory, then re-reads the newest
// minutes every kRefreshMs so the minute in progress stays current.
#include <QObject>
#include <QString>
#include <QTimer>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "greylane/v1/agent.pb.h"

namespace greylane {

class AgentClient;

struct MinutePoint {
  int64_t end_unix_ms = 0;  // the minute's end
  uint32_t seconds = 0;     // seconds with data (fewer while the agent was down)
  uint64_t requests = 0;
  uint64_t server_errors = 0;
  uint64_t successes = 0;  // requests with a latency
  double p50_ms = 0;
  double p99_ms = 0;
  bool generative = false;  // generative answers: their times too
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
};

class MinuteHistory {
 public:
  // Adds a minute, or replaces the earlier reading of the same minute (the
  // minute in progress is re-read until it is whole).
  void Merge(const v1::MetricsFrame& minute);
  // One version's minutes, oldest first (empty when unknown).
  const std::vector<MinutePoint>& Points(const std::string& version) const;
  int64_t NewestUnixMs() const { return m_newest; }
  // Forgets minutes that ended before `unix_ms`.
  void DropBefore(int64_t unix_ms);
  void Clear();

 private:
  std::map<std::string, std::vector<MinutePoint>> m_series;
  int64_t m_newest = 0;
};

class MinuteHistoryReader final : public QObject {
  Q_OBJECT

 public:
  static constexpr int kRefreshMs = 15'000;
  explicit MinuteHistoryReader(AgentClient& client, QObject* parent = nullptr);

  // Keeps the minutes from `from_unix_ms` to now loaded and current; 0
  // stops reading (what is held stays until a wider span is asked for).
  void Cover(int64_t from_unix_ms);
  const MinuteHistory& History() const { return m_history; }
  // Bumped on every change to History(), so a view redraws only then.
  uint64_t Generation() const { return m_generation; }
  bool Loading() const { return m_loading; }
  // One line for the user: loading progress, the agent's retention, or
  // why history could not be read ("" when there is nothing to say).
  QString Note() const;
  // Takes a page as if the agent had sent it (tests and benchmarks).
  void AdoptPage(const v1::QueryHistoryResponse& page);

 signals:
  void updated();

 private:
  // Reads a span from `from_unix_ms` (Ask: one page of it) to now.
  void Read(int64_t from_unix_ms);
  void Ask(int64_t from_unix_ms);
  // A page's minutes merged, and what it says of the agent's retention.
  void Take(const v1::QueryHistoryResponse& page);
  void OnPage(quint64 request, int code, const QString& message,
              const v1::QueryHistoryResponse& page);

  AgentClient& m_client;
  MinuteHistory m_history;
  QTimer m_refresh;
  quint64 m_request = 0;  // the page awaited (0: none)
  int64_t m_wanted = 0;   // from where the view wants minutes
  int64_t m_covered = 0;  // from where minutes are loaded (0: nothing yet)
  int64_t m_reading = 0;  // the span being read starts here
  uint64_t m_generation = 0;
  bool m_loading = false;
  int m_minutes_read = 0;
  int64_t m_agent_oldest = 0;
  uint32_t m_retention_days = 0;
  QString m_problem;
};

}  // namespace greylane
