#include "app/minute_history.h"

#include <QDateTime>

#include <algorithm>

#include <grpcpp/support/status.h>

#include "app/agent_client.h"

namespace greylane {
namespace {
constexpr int64_t kMinuteMs = 60'000;
const std::vector<MinutePoint> kNone;

QString Clock(int64_t unix_ms) {
  return QDateTime::fromMSecsSinceEpoch(unix_ms).toLocalTime().toString(
      QStringLiteral("ddd HH:mm"));
}
}  // namespace

void MinuteHistory::Merge(const v1::MetricsFrame& minute) {
  const int64_t end = minute.window_end_unix_ms();
  for (const v1::VersionWindow& w : minute.versions()) {
    MinutePoint p;
    p.end_unix_ms = end;
    p.seconds = std::clamp<uint32_t>(minute.window_seconds(), 1, 60);
    p.requests = w.requests();
    p.server_errors = w.server_errors();
    p.successes = w.requests() - std::min(w.requests(), w.server_errors() + w.client_errors());
    p.p50_ms = w.latency_p50_ms();
    p.p99_ms = w.latency_p99_ms();
    if (w.has_generation()) {
      p.generative = w.generation().ttft().bucket_count_size() > 0 ||
                     w.generation().itl().bucket_count_size() > 0 ||
                     w.generation().ttft_p50_ms() > 0;
      p.ttft_p50_ms = w.generation().ttft_p50_ms();
      p.ttft_p99_ms = w.generation().ttft_p99_ms();
      p.itl_p50_ms = w.generation().itl_p50_ms();
      p.itl_p99_ms = w.generation().itl_p99_ms();
    }
    std::vector<MinutePoint>& points = m_series[w.version()];
    // Nearly always the newest minute or a re-read of it: search from the end.
    auto it =
        std::lower_bound(points.begin(), points.end(), end,
                         [](const MinutePoint& q, int64_t value) { return q.end_unix_ms < value; });
    if (it != points.end() && it->end_unix_ms == end) {
      *it = p;
    } else {
      points.insert(it, p);
    }
  }
  m_newest = std::max(m_newest, end);
}

const std::vector<MinutePoint>& MinuteHistory::Points(const std::string& version) const {
  const auto it = m_series.find(version);
  return it == m_series.end() ? kNone : it->second;
}

void MinuteHistory::DropBefore(int64_t unix_ms) {
  for (auto it = m_series.begin(); it != m_series.end();) {
    auto& points = it->second;
    points.erase(points.begin(), std::lower_bound(points.begin(), points.end(), unix_ms,
                                                  [](const MinutePoint& q, int64_t value) {
                                                    return q.end_unix_ms < value;
                                                  }));
    it = points.empty() ? m_series.erase(it) : std::next(it);
  }
}

void MinuteHistory::Clear() {
  m_series.clear();
  m_newest = 0;
}

MinuteHistoryReader::MinuteHistoryReader(AgentClient& client, QObject* parent)
    : QObject(parent), m_client(client) {
  m_refresh.setInterval(kRefreshMs);
  connect(&m_refresh, &QTimer::timeout, this, [this] {
    if (m_request != 0 || m_wanted == 0) return;
    if (m_covered == 0) {
      Cover(m_wanted);  // the first read failed (agent away): try it whole again
      return;
    }
    // The newest minute held may have been in progress: read it again.
    Read(std::max(m_covered, m_history.NewestUnixMs() - kMinuteMs));
  });
  connect(&m_client, &AgentClient::historyPage, this, &MinuteHistoryReader::OnPage);
}

void MinuteHistoryReader::Cover(int64_t from_unix_ms) {
  m_wanted = from_unix_ms;
  if (from_unix_ms == 0) {
    m_refresh.stop();
    return;
  }
  if (!m_refresh.isActive()) m_refresh.start();
  if (m_covered != 0 && from_unix_ms >= m_covered) {
    if (m_request == 0) Read(std::max(m_covered, m_history.NewestUnixMs() - kMinuteMs));
    return;
  }
  // Wider than what is held: read the whole span again (24 h is ~10 ms of
  // the agent's time), dropping a span that is no longer wanted.
  if (m_request != 0) return;  // the page in flight ends by reading the wider span
  m_history.DropBefore(from_unix_ms - kMinuteMs);
  m_covered = 0;
  m_minutes_read = 0;
  m_loading = true;
  ++m_generation;
  Read(from_unix_ms);
  emit updated();
}

void MinuteHistoryReader::Read(int64_t from_unix_ms) {
  m_reading = from_unix_ms;
  Ask(from_unix_ms);
}

void MinuteHistoryReader::Ask(int64_t from_unix_ms) {
  // To a minute ahead of now, so the minute in progress is included.
  m_request =
      m_client.QueryHistory(from_unix_ms, QDateTime::currentMSecsSinceEpoch() + kMinuteMs, false);
}

void MinuteHistoryReader::Take(const v1::QueryHistoryResponse& page) {
  for (const v1::MetricsFrame& minute : page.minutes()) m_history.Merge(minute);
  m_minutes_read += page.minutes_size();
  m_agent_oldest = page.oldest_unix_ms();
  m_retention_days = page.retention_days();
  ++m_generation;
}

void MinuteHistoryReader::OnPage(quint64 request, int code, const QString& message,
                                 const v1::QueryHistoryResponse& page) {
  if (request != m_request) return;
  m_request = 0;
  if (code != grpc::StatusCode::OK) {
    m_loading = false;
    m_problem = code == grpc::StatusCode::UNIMPLEMENTED
                    ? tr("this agent keeps no history (it predates QueryHistory)")
                    : tr("history could not be read: %1").arg(message);
    ++m_generation;
    emit updated();
    return;
  }
  m_problem.clear();
  Take(page);
  if (page.next_from_unix_ms() != 0) {
    Ask(page.next_from_unix_ms());
  } else {
    m_loading = false;
    if (m_covered == 0 || m_reading < m_covered) m_covered = m_reading;
    // Asked for more while reading: read the wider span now.
    if (m_wanted != 0 && m_wanted < m_covered) Cover(m_wanted);
  }
  emit updated();
}

void MinuteHistoryReader::AdoptPage(const v1::QueryHistoryResponse& page) {
  Take(page);
  emit updated();
}

QString MinuteHistoryReader::Note() const {
  if (!m_problem.isEmpty()) return m_problem;
  if (m_loading) return tr("loading history… %n minute(s) so far", nullptr, m_minutes_read);
  if (m_wanted != 0 && m_agent_oldest != 0 && m_agent_oldest > m_wanted) {
    return tr("the agent's history starts %1 (it keeps %n day(s))", nullptr,
              static_cast<int>(m_retention_days))
        .arg(Clock(m_agent_oldest));
  }
  if (m_wanted != 0 && m_agent_oldest == 0 && m_covered != 0)
    return tr("the agent has kept no history yet");
  return {};
}

}  // namespace greylane
