#pragma once
// One version of the canary pair at a glance: version, backend, health,
// weight, requests/s, error rate and p50/p99 over the last seconds, with
// the candidate's difference to the baseline; for a language model also the
// time to first token, between tokens, tokens/s, streams that ended badly
// and how far the candidate's output lengths are from the baseline's.
#include <QColor>
#include <QFrame>
#include <QString>

class QLabel;

namespace greylane {

struct VersionCardData {
  QString title;       // "Baseline" | "Candidate"
  bool known = false;  // false: no state from the agent yet (nothing else is shown)
  QString version;     // "v2"
  QString backend;     // "builtin · /path/model.glm"
  enum class Health { Unknown, Healthy, Unhealthy } health = Health::Unknown;
  QString health_detail;
  double weight_percent = 0;
  bool has_traffic = false;  // false: no request in the window
  double window_seconds = 10;
  double requests_per_second = 0;
  double error_rate = 0;  // of requests, 0..1
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;   // in the window
  uint64_t successes = 0;  // of them, answered (the latency's sample)
  // Relative to the baseline, for the candidate only ("" for the baseline).
  QString p50_diff;
  QString p99_diff;
  bool worse = false;  // the diff is bad enough to colour
  QString verdict;     // why it is (or is not) judged worse, plain
  // Generative answers (streams of tokens) in the window.
  bool generative = false;
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  double tokens_per_second = 0;
  uint64_t integrity_problems = 0;
  // Candidate only: how far its output lengths are from the baseline's
  // (Kolmogorov-Smirnov, 0..1); negative when not known.
  double output_divergence = -1;
};

class VersionCard final : public QFrame {
  Q_OBJECT

 public:
  static constexpr int kShownDetailChars = 110;  // about two lines of a card
  explicit VersionCard(const QColor& accent, QWidget* parent = nullptr);
  void Show(const VersionCardData& data);
  QString Text() const;  // every label, for tests and accessibility

 private:
  void ShowGeneration(const VersionCardData& data);
  QColor m_accent;
  QLabel* m_title;
  QLabel* m_health;
  QLabel* m_backend;
  QLabel* m_traffic;
  QLabel* m_latency;
  QLabel* m_generation;
};

}  // namespace greylane
