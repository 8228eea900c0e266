#pragma once
// The release view of one agent: header (model, phase, split, last change,
// the result of the last action), a banner when the analysis rolled back by
// itself, the two version cards, the rollout plan's step bar, the latency
// (with the policy's p99 levels) and traffic charts beside the analysis's
// live verdicts, the split control, and rollback / promote. Charts redraw
// on a coalescing single-shot timer, never once per message.
#include <QElapsedTimer>
#include <QPointer>
#include <QTimer>
#include <QWidget>

#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "app/agent_session.h"
#include "app/mutation_outcome.h"
#include "ui/reason_dialog.h"

class QBoxLayout;
class QComboBox;
class QLabel;
class QPushButton;

namespace greylane {

class RolloutBar;
class TimeSeriesChart;
struct ReleaseSeries;
class TrafficSplitControl;
class VerdictPanel;
class VersionCard;

class ReleaseView final : public QWidget {
  Q_OBJECT

 public:
  explicit ReleaseView(QWidget* parent = nullptr);

  void SetSession(AgentSession* session);
  AgentSession* Session() const { return m_session; }

  // Opens the confirmation (reason filled in and focused; Enter sends).
  void RequestRollback();
  void RequestPromote();
  void RequestApply();
  // The plan editor; then pause / resume / abort with a reason.
  void RequestStartRollout();
  void RequestRolloutControl(AuditAction action);
  // The drill dialog (admin).
  void RequestDrill();
  // 60..900: the live seconds; longer, or kWholeRelease: the agent's
  // per-minute history, read in the background.
  void SetWindowSeconds(int seconds);
  int WindowSeconds() const { return m_window_seconds; }
  bool ShowsHistory() const {
    return m_window_seconds == kWholeRelease || m_window_seconds > kLongestLiveWindow;
  }
  QString HistoryNote() const;
  void SetPaused(bool paused);
  bool Paused() const { return m_paused; }
  void SetDark(bool dark);
  // The minimum with the charts side by side, as they are on a short view:
  // stacked, their two minimums would hold a 1280x720 window taller than
  // the screen while the banner and the verdicts show.
  QSize minimumSizeHint() const override;
  // Redraws now (the timer calls this; benchmarks and tests may too).
  void Redraw();

  // For tests, benchmarks and accessibility.
  TrafficSplitControl* SplitControl() const { return m_split; }
  QPushButton* RollbackButton() const { return m_rollback; }
  QPushButton* PromoteButton() const { return m_promote; }
  TimeSeriesChart* LatencyChart() const { return m_latency; }
  // Which time the first chart plots (tests and --screenshot pick one).
  void SetChartedTime(ChartedTime charted);
  TimeSeriesChart* TrafficChart() const { return m_traffic; }
  ReasonDialog* OpenDialog() const { return m_dialog; }
  QString HeaderText() const;
  QString ResultText() const;
  QString CardsText() const;
  VerdictPanel* Verdicts() const { return m_verdicts; }
  RolloutBar* Rollout() const { return m_rollout; }
  // The automatic-rollback banner's text ("" when hidden).
  QString AutoRollbackText() const;
  QDialog* OpenPlanDialog() const { return m_plan_dialog; }
  // From the confirmation's OK to this view showing the agent's answer.
  double LastConfirmToShownMs() const { return m_confirm_to_shown_ms; }
  int RedrawCount() const { return m_redraws; }

  static constexpr int kRedrawDelayMs = 33;
  static constexpr int kSideBySideBelowHeight = 620;
  static constexpr int kSideBySideFromWidth = 800;
  static constexpr int kVerdictsBesideFromWidth = 1180;
  static constexpr int kCardWindowSeconds = 10;
  static constexpr int kLongestLiveWindow = 900;
  static constexpr int kWholeRelease = -1;

 signals:
  // The result of an action, for the status bar.
  void actionReported(const QString& text);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void ScheduleRedraw();
  void RefreshHeader();
  void RefreshCards();
  void RefreshCharts();
  void RefreshAnalysis();
  void DrawSeries(const ReleaseSeries& series, double window);
  // The span a history window shows now: [from, to] in ms since the epoch.
  std::pair<int64_t, int64_t> HistorySpanNow() const;
  void SaveChart(TimeSeriesChart* chart, const QString& format);
  void RefreshControls();
  void OnMutationFinished(const QString& action, int code, const QString& message,
                          const v1::AgentState& state, double elapsed_ms);
  void OpenReasonDialog(const QString& action, const QString& title, const QString& explanation,
                        const QString& button, const QString& default_reason, bool destructive);
  void Send(const QString& action, const QString& reason);
  void ShowResult(const QString& html);
  void OnStateRefreshed(int code, const QString& message);
  // "demo (id vm) at 10.0.0.7:7070": which agent this is, for the banner.
  QString AgentWords() const;
  void FadeStaleResult();

  QPointer<AgentSession> m_session;
  QList<QMetaObject::Connection> m_connections;
  QLabel* m_model;
  QLabel* m_phase;
  QLabel* m_split_text;
  QLabel* m_last_change;
  QLabel* m_result;
  QLabel* m_link_banner;
  QPushButton* m_retry;
  QLabel* m_auto_banner;
  QPushButton* m_auto_dismiss;
  uint64_t m_dismissed_rollback = 0;  // audit sequence of the banner dismissed
  VerdictPanel* m_verdicts;
  RolloutBar* m_rollout;
  QBoxLayout* m_charts_and_verdicts;
  QPointer<QDialog> m_plan_dialog;
  v1::RolloutPlan m_plan_to_start;  // the editor's plan, for Send()
  QPushButton* m_rollback;
  QPushButton* m_promote;
  VersionCard* m_baseline_card;
  VersionCard* m_candidate_card;
  TimeSeriesChart* m_latency;
  TimeSeriesChart* m_traffic;
  QBoxLayout* m_charts;
  QComboBox* m_window;
  // Request latency, time to first token or inter-token latency; shown once
  // the agent serves generative answers.
  QComboBox* m_charted_time;
  ChartedTime m_charted = ChartedTime::kRequest;
  QPushButton* m_pause;
  QLabel* m_history_note;
  // What the history charts last drew, so a redraw rebuilds only on change.
  int64_t m_asked_from = INT64_MAX;
  std::tuple<uint64_t, size_t, int64_t, int64_t, std::string> m_drawn{};
  TrafficSplitControl* m_split;
  QPointer<ReasonDialog> m_dialog;
  QTimer m_redraw_timer;
  bool m_paused = false;
  int m_window_seconds = 300;
  int m_redraws = 0;
  // What the user typed for an action that did not go through, offered
  // again next time (nothing typed is lost on failure).
  QHash<QString, QString> m_unsent_reason;
  QString m_in_flight;  // the action awaiting its answer
  uint32_t m_in_flight_split = 0;
  // The change last sent; while its outcome is unknown (no answer), the
  // state is re-read every second until the agent answers.
  std::optional<SentChange> m_sent;
  bool m_outcome_unknown = false;
  bool m_refreshing = false;
  QTimer m_recheck_timer;
  // A result belongs to the revision it reported; it fades once the state
  // moves on (a later change from elsewhere).
  uint64_t m_result_revision = 0;
  QString m_result_html;
  bool m_result_faded = false;
  QElapsedTimer m_confirmed;
  double m_confirm_to_shown_ms = 0;
};

QString PhaseTitle(v1::Phase phase);

}  // namespace greylane
