#include "ui/release_view.h"

#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>

#include <grpcpp/support/status.h>

#include "app/analysis_words.h"
#include "app/fleet_model.h"
#include "app/release_series.h"
#include "app/version_comparison.h"
#include "common/files.h"
#include "common/release_report.h"
#include "common/rollout_plan.h"
#include "ui/drill_dialog.h"
#include "ui/file_names.h"
#include "ui/reason_dialog.h"
#include "ui/rollback_keys.h"
#include "ui/rollout_dialog.h"
#include "widgets/colour_roles.h"
#include "widgets/rollout_bar.h"
#include "widgets/time_series_chart.h"
#include "widgets/traffic_split_control.h"
#include "widgets/verdict_panel.h"
#include "widgets/version_card.h"

namespace greylane {
namespace {

QString Q(const std::string& s) {
  return QString::fromStdString(s);
}

// QWidget::setStyleSheet re-polishes even for the same sheet; the header is
// refreshed on every redraw, so only a real change is applied.
void SetStyle(QWidget* widget, const QString& sheet) {
  if (widget->styleSheet() != sheet) widget->setStyleSheet(sheet);
}

QString Plain(QString html) {
  html.remove(QRegularExpression(QStringLiteral("<[^>]*>")));
  return html;
}

QString Ago(int64_t unix_ms) {
  const qint64 seconds = (QDateTime::currentMSecsSinceEpoch() - unix_ms) / 1000;
  if (seconds < 60) return QObject::tr("%1 s ago").arg(std::max<qint64>(seconds, 0));
  if (seconds < 3600) return QObject::tr("%1 min ago").arg(seconds / 60);
  return QObject::tr("%1 h ago").arg(seconds / 3600);
}

// Text from outside (reasons, evidence) may hold a run with no space in it
// that no label can wrap: it once made the window 2 462 px wide and pushed
// Rollback off the screen. A zero-width space every 40 characters of such a
// run lets it wrap; nothing visible changes.
QString Breakable(const QString& text) {
  QString out;
  out.reserve(text.size() + text.size() / 40);
  int run = 0;
  for (const QChar c : text) {
    run = c.isSpace() ? 0 : run + 1;
    if (run > 40) {
      out += QChar(0x200B);
      run = 1;
    }
    out += c;
  }
  return out;
}

// An automatic rollback's evidence in the banner: the start, the rest in its tooltip.
constexpr int kBannerEvidenceChars = 140;
constexpr int kHeaderReasonChars = 160;

QString LocalTime(int64_t unix_ms) {
  return QDateTime::fromMSecsSinceEpoch(unix_ms).toLocalTime().toString(QStringLiteral("HH:mm:ss"));
}

// Badge fills: white text on them in either palette.
QColor PhaseColour(v1::Phase phase) {
  switch (phase) {
    case v1::CANARY:
      return RoleColour(ColourRole::kWarningFill);
    case v1::PROMOTED:
      return RoleColour(ColourRole::kGoodFill);
    case v1::ROLLED_BACK:
      return RoleColour(ColourRole::kBadFill);
    default:
      return QColor(0x70, 0x78, 0x80);
  }
}

// "<b style='color:#2e9d4f'>text</b>" in the role's colour for the palette in force.
QString Bold(ColourRole role, const QString& html) {
  return QStringLiteral("<b style='color:%1'>%2</b>").arg(RoleHex(role), html);
}

QColor ToneColour(Tone tone, bool fill) {
  switch (tone) {
    case Tone::kGood:
      return RoleColour(fill ? ColourRole::kGoodFill : ColourRole::kGood);
    case Tone::kWarning:
      return RoleColour(fill ? ColourRole::kWarningFill : ColourRole::kWarning);
    case Tone::kBad:
      return RoleColour(fill ? ColourRole::kBadFill : ColourRole::kBad);
    default:
      return fill ? QColor(0x70, 0x78, 0x80) : RoleColour(ColourRole::kNeutral);
  }
}

VersionCardData::Health CardHealth(v1::Health health) {
  switch (health) {
    case v1::HEALTHY:
      return VersionCardData::Health::Healthy;
    case v1::UNHEALTHY:
      return VersionCardData::Health::Unhealthy;
    default:
      return VersionCardData::Health::Unknown;
  }
}
}  // namespace

QString PhaseTitle(v1::Phase phase) {
  switch (phase) {
    case v1::STEADY:
      return QObject::tr("STEADY");
    case v1::CANARY:
      return QObject::tr("CANARY");
    case v1::PROMOTED:
      return QObject::tr("PROMOTED");
    case v1::ROLLED_BACK:
      return QObject::tr("ROLLED BACK");
    default:
      return QObject::tr("UNKNOWN");
  }
}

ReleaseView::ReleaseView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setSizeConstraint(QLayout::SetNoConstraint);  // minimumSizeHint() decides

  // Header: what is running, in which phase, and the last change.
  auto* header = new QHBoxLayout;
  auto* title = new QVBoxLayout;
  auto* first = new QHBoxLayout;
  m_model = new QLabel;
  m_model->setTextFormat(Qt::RichText);

  m_phase = new QLabel;
  m_phase->setObjectName(QStringLiteral("PhaseBadge"));
  m_split_text = new QLabel;
  m_split_text->setTextFormat(Qt::RichText);
  first->addWidget(m_model);
  first->addWidget(m_phase);
  first->addWidget(m_split_text);
  first->addStretch(1);
  title->addLayout(first);
  m_last_change = new QLabel;
  m_last_change->setTextFormat(Qt::PlainText);  // reasons and names come from outside
  m_last_change->setWordWrap(true);
  m_last_change->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_last_change->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  title->addWidget(m_last_change);
  m_result = new QLabel;
  m_result->setWordWrap(true);
  m_result->setTextFormat(Qt::RichText);
  m_result->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_result->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  title->addWidget(m_result);
  header->addLayout(title, 1);
  m_promote = new QPushButton(QIcon(QStringLiteral(":/icons/promote.svg")), tr("&Promote…"));
  m_promote->setToolTip(tr("Make the candidate the baseline at 100 %"));
  // The real shortcut on the button; no underlined R (Alt+R only focused it,
  // and a second press opened the Release menu).
  m_rollback = new QPushButton(
      QIcon(QStringLiteral(":/icons/rollback.svg")),
      tr("Rollback…\n%1").arg(RollbackKeys::kKeys.toString(QKeySequence::NativeText)));
  m_rollback->setObjectName(QStringLiteral("RollbackButton"));
  m_rollback->setToolTip(tr("Send all traffic back to the baseline (Ctrl+Shift+R)"));
  m_rollback->setMinimumHeight(44);
  m_rollback->setStyleSheet(
      QStringLiteral("QPushButton#RollbackButton { background: %1; color: white; font-weight: bold;"
                     " font-size: 15px; padding: 6px 14px; border-radius: 4px; }"
                     "QPushButton#RollbackButton:focus { border: 2px solid #ffd0cc; }"
                     "QPushButton#RollbackButton:disabled { background: #b8b8b8; color: #eeeeee; }")
          .arg(RoleHex(ColourRole::kBadFill)));
  header->addWidget(m_promote, 0, Qt::AlignTop);
  header->addWidget(m_rollback, 0, Qt::AlignTop);
  layout->addLayout(header);

  // A banner that says plainly when the data below is not live.
  auto* banner = new QHBoxLayout;
  m_link_banner = new QLabel;
  m_link_banner->setTextFormat(Qt::PlainText);
  m_link_banner->setWordWrap(true);
  m_retry = new QPushButton(QIcon(QStringLiteral(":/icons/retry.svg")), tr("Retry &now"));
  banner->addWidget(m_link_banner, 1);
  banner->addWidget(m_retry);
  layout->addLayout(banner);

  // The analysis rolled back by itself: what failed, with its numbers,
  // until dismissed (a new automatic rollback shows again).
  auto* auto_row = new QHBoxLayout;
  m_auto_banner = new QLabel;
  m_auto_banner->setObjectName(QStringLiteral("AutoRollbackBanner"));
  m_auto_banner->setTextFormat(Qt::PlainText);
  m_auto_banner->setWordWrap(true);
  m_auto_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_auto_banner->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  m_auto_dismiss = new QPushButton(tr("Dismiss"));
  auto_row->addWidget(m_auto_banner, 1);
  auto_row->addWidget(m_auto_dismiss, 0, Qt::AlignTop);
  layout->addLayout(auto_row);
  m_auto_banner->hide();
  m_auto_dismiss->hide();

  auto* cards = new QHBoxLayout;
  m_baseline_card = new VersionCard(RoleColour(ColourRole::kBaseline));
  m_candidate_card = new VersionCard(RoleColour(ColourRole::kCandidate));
  cards->addWidget(m_baseline_card, 1);  // always half each
  cards->addWidget(m_candidate_card, 1);
  layout->addLayout(cards);
  m_rollout = new RolloutBar;
  layout->addWidget(m_rollout);

  auto* chart_bar = new QHBoxLayout;
  chart_bar->addWidget(new QLabel(tr("Window")));
  m_window = new QComboBox;
  m_window->addItem(tr("1 min"), 60);
  m_window->addItem(tr("5 min"), 300);
  m_window->addItem(tr("15 min"), 900);
  // Longer windows draw the agent's per-minute history.
  m_window->addItem(tr("1 h"), 3600);
  m_window->addItem(tr("6 h"), 6 * 3600);
  m_window->addItem(tr("24 h"), 24 * 3600);
  m_window->addItem(tr("Whole release"), kWholeRelease);
  m_window->setCurrentIndex(1);
  m_window->setToolTip(
      tr("Up to 15 min: every second, live. 1 h and longer: one point per "
         "minute from the agent's history."));
  m_window->setAccessibleName(tr("Chart window"));
  m_pause = new QPushButton(QIcon(QStringLiteral(":/icons/pause.svg")), tr("Pa&use"));
  m_pause->setCheckable(true);
  m_pause->setToolTip(tr("Freeze the charts to inspect them; data keeps arriving"));
  m_history_note = new QLabel;
  m_history_note->setTextFormat(Qt::PlainText);
  m_history_note->setObjectName(QStringLiteral("HistoryNote"));
  m_charted_time = new QComboBox;
  m_charted_time->addItem(tr("Request latency"), static_cast<int>(ChartedTime::kRequest));
  m_charted_time->addItem(tr("Time to first token"), static_cast<int>(ChartedTime::kFirstToken));
  m_charted_time->addItem(tr("Inter-token latency"), static_cast<int>(ChartedTime::kBetweenTokens));
  m_charted_time->setToolTip(
      tr("What the first chart plots: whole-request latency, or for streamed answers the time to "
         "the first token and the time between tokens"));
  m_charted_time->setAccessibleName(tr("Charted time"));
  m_charted_time->hide();
  chart_bar->addWidget(m_window);
  chart_bar->addWidget(m_charted_time);
  chart_bar->addWidget(m_pause);
  chart_bar->addWidget(m_history_note, 1);
  layout->addLayout(chart_bar);

  m_latency = new TimeSeriesChart(tr("ms"));
  const QColor baseline_colour = RoleColour(ColourRole::kBaseline);
  const QColor candidate_colour = RoleColour(ColourRole::kCandidate);
  for (const auto& [colour, slot] :
       {std::pair{baseline_colour, tr("baseline")}, std::pair{candidate_colour, tr("candidate")}}) {
    m_latency->AddSeries(tr("%1 p99").arg(slot), colour, Qt::SolidLine, TimeSeriesChart::Axis::Left,
                         QStringLiteral("ms"));
    m_latency->AddSeries(tr("%1 p50").arg(slot), colour, Qt::DashLine, TimeSeriesChart::Axis::Left,
                         QStringLiteral("ms"));
  }
  m_traffic = new TimeSeriesChart(tr("requests/s"), tr("errors (%)"));
  for (const auto& [colour, slot] :
       {std::pair{baseline_colour, tr("baseline")}, std::pair{candidate_colour, tr("candidate")}}) {
    m_traffic->AddSeries(tr("%1 req/s").arg(slot), colour, Qt::SolidLine,
                         TimeSeriesChart::Axis::Left, QStringLiteral("req/s"));
    m_traffic->AddSeries(tr("%1 errors").arg(slot), colour, Qt::DotLine,
                         TimeSeriesChart::Axis::Right, QStringLiteral("%"));
  }
  m_latency->SetWindow(m_window_seconds);
  m_traffic->SetWindow(m_window_seconds);
  for (TimeSeriesChart* chart : {m_latency, m_traffic}) {
    connect(chart, &TimeSeriesChart::saveImageRequested, this,
            [this, chart](const QString& format) { SaveChart(chart, format); });
  }
  // Stacked where there is height; side by side on a short screen
  // (1280x720), where stacked charts would be too flat to read.
  m_charts = new QBoxLayout(QBoxLayout::TopToBottom);
  m_charts->addWidget(m_latency, 1);
  m_charts->addWidget(m_traffic, 1);
  // The verdicts beside the charts on a wide window, under them otherwise.
  m_verdicts = new VerdictPanel;
  m_charts_and_verdicts = new QBoxLayout(QBoxLayout::TopToBottom);
  m_charts_and_verdicts->addLayout(m_charts, 1);
  m_charts_and_verdicts->addWidget(m_verdicts, 0);
  layout->addLayout(m_charts_and_verdicts, 1);

  m_split = new TrafficSplitControl;
  layout->addWidget(m_split);

  m_recheck_timer.setInterval(1000);
  connect(&m_recheck_timer, &QTimer::timeout, this, [this] {
    if (!m_session || !m_outcome_unknown || m_refreshing) return;
    m_refreshing = true;
    m_session->Client().RefreshState();
  });
  m_redraw_timer.setSingleShot(true);
  connect(&m_redraw_timer, &QTimer::timeout, this, &ReleaseView::Redraw);
  connect(m_window, &QComboBox::currentIndexChanged, this,
          [this] { SetWindowSeconds(m_window->currentData().toInt()); });
  connect(m_charted_time, &QComboBox::currentIndexChanged, this, [this] {
    m_charted = static_cast<ChartedTime>(m_charted_time->currentData().toInt());
    m_drawn = {};
    RefreshCharts();
  });
  connect(m_pause, &QPushButton::toggled, this, &ReleaseView::SetPaused);
  connect(m_rollback, &QPushButton::clicked, this, &ReleaseView::RequestRollback);
  connect(m_promote, &QPushButton::clicked, this, &ReleaseView::RequestPromote);
  connect(m_split, &TrafficSplitControl::applyRequested, this, &ReleaseView::RequestApply);
  connect(m_retry, &QPushButton::clicked, this, [this] {
    if (m_session) m_session->Client().RetryNow();
  });
  connect(m_auto_dismiss, &QPushButton::clicked, this, [this] {
    if (!m_session) return;
    if (const auto rollback =
            AutomaticRollback(m_session->Client().State(), m_session->Audit().Records()))
      m_dismissed_rollback = rollback->audit_sequence;
    RefreshAnalysis();
  });
  connect(m_rollout, &RolloutBar::startRequested, this, &ReleaseView::RequestStartRollout);
  connect(m_rollout, &RolloutBar::pauseRequested, this,
          [this] { RequestRolloutControl(AuditAction::kPauseRollout); });
  connect(m_rollout, &RolloutBar::resumeRequested, this,
          [this] { RequestRolloutControl(AuditAction::kResumeRollout); });
  connect(m_rollout, &RolloutBar::abortRequested, this,
          [this] { RequestRolloutControl(AuditAction::kAbortRollout); });
  SetSession(nullptr);
}

void ReleaseView::SetSession(AgentSession* session) {
  if (m_session) m_session->Minutes().Cover(0);  // stop reading what no one shows
  m_asked_from = INT64_MAX;
  m_drawn = {};
  for (const auto& c : m_connections) disconnect(c);
  m_connections.clear();
  if (m_dialog) m_dialog->reject();
  m_session = session;
  m_unsent_reason.clear();
  m_in_flight.clear();
  m_sent.reset();
  m_outcome_unknown = false;
  m_refreshing = false;
  m_recheck_timer.stop();
  m_result->clear();
  m_result_html.clear();
  m_split->DiscardProposal();
  if (session) {
    m_connections << connect(session, &AgentSession::changed, this, [this] {
      RefreshHeader();
      RefreshControls();
      ScheduleRedraw();
    });
    m_connections << connect(session, &AgentSession::framesArrived, this,
                             &ReleaseView::ScheduleRedraw);
    m_connections << connect(&session->Client(), &AgentClient::mutationFinished, this,
                             &ReleaseView::OnMutationFinished);
    m_connections << connect(&session->Client(), &AgentClient::stateRefreshed, this,
                             &ReleaseView::OnStateRefreshed);
    m_connections << connect(&session->Audit(), &AuditTrailModel::chainChanged, this,
                             &ReleaseView::ScheduleRedraw);
    m_connections << connect(&session->Minutes(), &MinuteHistoryReader::updated, this,
                             &ReleaseView::ScheduleRedraw);
  }
  RefreshHeader();
  RefreshControls();
  Redraw();
}

QSize ReleaseView::minimumSizeHint() const {
  QSize size = QWidget::minimumSizeHint();
  if (m_charts->direction() == QBoxLayout::TopToBottom)
    size.rheight() -= m_traffic->minimumSizeHint().expandedTo(m_traffic->minimumSize()).height() +
                      m_charts->spacing();
  return size;
}

void ReleaseView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  const auto direction = height() < kSideBySideBelowHeight && width() >= kSideBySideFromWidth
                             ? QBoxLayout::LeftToRight
                             : QBoxLayout::TopToBottom;
  if (m_charts->direction() != direction) m_charts->setDirection(direction);
  const auto verdicts =
      width() >= kVerdictsBesideFromWidth ? QBoxLayout::LeftToRight : QBoxLayout::TopToBottom;
  if (m_charts_and_verdicts->direction() != verdicts) m_charts_and_verdicts->setDirection(verdicts);
}

void ReleaseView::ScheduleRedraw() {
  if (!m_redraw_timer.isActive()) m_redraw_timer.start(kRedrawDelayMs);
}

void ReleaseView::Redraw() {
  m_redraw_timer.stop();
  ++m_redraws;
  if (m_session && m_session->History().Generative() && m_charted_time->isHidden()) {
    m_charted_time->show();
  }
  RefreshHeader();  // "12 s ago" moves on
  RefreshCards();
  RefreshAnalysis();
  if (!m_paused) RefreshCharts();
}

void ReleaseView::RefreshAnalysis() {
  if (!m_session || m_session->Client().State().versions_size() < 2) {
    m_verdicts->Show(tr("Analysis"), RoleColour(ColourRole::kNeutral), {},
                     tr("Waiting for the agent's state…"));
    m_rollout->Show({});
    m_auto_banner->hide();
    m_auto_dismiss->hide();
    m_last_change->show();
    m_latency->SetThresholds({});
    return;
  }
  const v1::AgentState& s = m_session->Client().State();
  // The verdicts of the latest live second, per check.
  QList<VerdictRow> rows;
  const v1::AnalysisVerdict& verdict = m_session->Verdict();
  const bool judged = s.split().candidate_basis_points() > 0;
  for (const CheckWords& w : judged ? DescribeChecks(verdict) : std::vector<CheckWords>{}) {
    // On a compact panel (no figures) an inconclusive badge says how far
    // along it is: "14/50".
    const QString compact =
        w.tone == Tone::kNeutral && !w.sample.isEmpty() ? w.sample.section(u' ', 0, 0) : QString();
    rows.append({w.title,
                 w.verdict,
                 compact,
                 ToneColour(w.tone, true),
                 {w.value, w.threshold, w.interval, w.sample},
                 w.detail});
  }
  const QString headline =
      PolicyWords(s.policy()) +
      (verdict.failing_seconds() > 0
           ? tr(" · failing for %n s", nullptr, static_cast<int>(verdict.failing_seconds()))
           : QString());
  m_verdicts->Show(
      headline,
      s.policy().armed() ? RoleColour(ColourRole::kGood) : RoleColour(ColourRole::kWarning), rows,
      s.split().candidate_basis_points() == 0
          ? tr("Not judged: the candidate has no traffic (split 0 %).")
          : tr("No verdict yet: the first second is being judged."));

  // The rollout plan.
  const RolloutWords plan = DescribeRollout(s.rollout());
  RolloutBarData bar;
  for (const RolloutWords::Step& step : plan.steps)
    bar.steps.append({step.label, step.gate, step.done, step.baked});
  bar.current = plan.current;
  bar.status = Breakable(plan.status);
  bar.status_colour = plan.shown ? ToneColour(plan.tone, false) : QColor();
  bar.can_pause = plan.can_pause;
  bar.can_resume = plan.can_resume;
  bar.can_abort = plan.can_abort;
  bar.allowed = m_session->CanOperate();
  bar.why_not = tr("Rollouts need the operator role");
  m_rollout->Show(bar);

  // The policy's p99 levels on the latency chart.
  QList<ChartThreshold> levels;
  if (s.policy().p99_warning_ms() > 0) {
    levels.append({s.policy().p99_warning_ms(),
                   tr("p99 warning %1 ms").arg(s.policy().p99_warning_ms()),
                   RoleColour(ColourRole::kWarning)});
  }
  if (s.policy().p99_ceiling_ms() > 0) {
    levels.append({s.policy().p99_ceiling_ms(),
                   tr("p99 fails above %1 ms").arg(s.policy().p99_ceiling_ms()),
                   RoleColour(ColourRole::kBad)});
  }
  m_latency->SetThresholds(levels);

  // An automatic rollback, in words, until dismissed.
  const std::optional<RollbackWords> rollback = AutomaticRollback(s, m_session->Audit().Records());
  const bool show = rollback && rollback->audit_sequence != m_dismissed_rollback;
  if (show) {
    QString evidence = rollback->evidence;
    if (evidence.size() > kBannerEvidenceChars)
      evidence = evidence.left(kBannerEvidenceChars) + tr("… (the rest in the tooltip)");
    m_auto_banner->setText(Breakable(tr("⚠ %1 at %2 (%3): %4")
                                         .arg(rollback->headline, LocalTime(rollback->time_unix_ms),
                                              Ago(rollback->time_unix_ms), evidence)));
    m_auto_banner->setToolTip(rollback->full);
    SetStyle(m_auto_banner,
             QStringLiteral("background: %1; color: white; padding: 6px; font-weight: bold;")
                 .arg(RoleHex(ColourRole::kBadFill)));
  }
  m_auto_banner->setVisible(show);
  m_auto_dismiss->setVisible(show);
  // The banner says what the last-change line would (a rollback by the
  // analysis, when, why) and more: one of them is enough on a short screen.
  // (Kept while audit rows are pending: the line says so.)
  m_last_change->setVisible(!show || s.audit_rows_pending() > 0);
}

QString ReleaseView::AutoRollbackText() const {
  return m_auto_banner->isVisibleTo(this) ? m_auto_banner->text() : QString();
}

void ReleaseView::RequestStartRollout() {
  if (!m_session || !m_session->CanOperate()) return;
  const v1::AgentState& s = m_session->Client().State();
  if (s.versions_size() < 2) return;
  if (m_dialog) m_dialog->reject();
  if (m_plan_dialog) m_plan_dialog->reject();
  auto* dialog = new RolloutDialog(Q(s.versions(1).version()), m_session->Name(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  m_plan_dialog = dialog;
  connect(new RollbackKeys(dialog), &RollbackKeys::pressed, this, &ReleaseView::RequestRollback,
          Qt::QueuedConnection);
  connect(dialog, &QDialog::accepted, this, [this, dialog] {
    m_confirmed.start();
    m_plan_to_start = dialog->Plan();
    Send(ActionId(AuditAction::kStartRollout), dialog->Reason());
  });
  dialog->open();
}

void ReleaseView::RequestRolloutControl(AuditAction action) {
  if (!m_session || !m_session->CanOperate()) return;
  const v1::AgentState& s = m_session->Client().State();
  const QString where = s.rollout().plan().steps_size() > 0
                            ? Q(StepText(s.rollout().plan(), s.rollout().step()))
                            : tr("its step");
  if (action == AuditAction::kPauseRollout) {
    OpenReasonDialog(ActionId(action), tr("Pause the rollout?"),
                     tr("The plan stays at %1; the split does not move until Resume.")
                         .arg(where.toHtmlEscaped()),
                     tr("Pause"), tr("Pausing the rollout from the console"), false);
  } else if (action == AuditAction::kResumeRollout) {
    OpenReasonDialog(
        ActionId(action), tr("Resume the rollout?"),
        tr("The plan goes on from %1 (past a gate, to the next step).").arg(where.toHtmlEscaped()),
        tr("Resume"), {}, false);
  } else {
    OpenReasonDialog(ActionId(action), tr("Abort the rollout?"),
                     tr("Rolls the candidate back (all traffic to the baseline) and ends the "
                        "plan at %1.")
                         .arg(where.toHtmlEscaped()),
                     tr("Abort and roll back"), tr("Aborting the rollout from the console"), true);
  }
}

void ReleaseView::RequestDrill() {
  if (!m_session || !m_session->CanAdminister()) return;
  auto* dialog = new DrillDialog(m_session->Name(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QDialog::accepted, this, [this, dialog] {
    if (!m_session) return;
    const v1::InjectFaultRequest request = dialog->Request();
    m_in_flight = ActionId(AuditAction::kInjectFault);
    m_sent.reset();  // a drill changes no split: nothing to judge from a re-read
    ShowResult(request.duration_seconds() == 0 ? tr("Stopping the drill…")
                                               : tr("Starting the drill…"));
    m_session->Client().InjectFault(request);
  });
  dialog->open();
}

void ReleaseView::SetWindowSeconds(int seconds) {
  if (seconds != kWholeRelease) seconds = std::clamp(seconds, 60, 14 * 24 * 3600);
  m_window_seconds = seconds;
  const int index = m_window->findData(seconds);
  if (index >= 0 && index != m_window->currentIndex()) m_window->setCurrentIndex(index);
  m_asked_from = INT64_MAX;  // a new span: ask the reader for it
  m_drawn = {};
  if (!ShowsHistory() && m_session) m_session->Minutes().Cover(0);
  RefreshCharts();  // also while paused: the frozen data, in the new window
}

std::pair<int64_t, int64_t> ReleaseView::HistorySpanNow() const {
  constexpr int64_t kMinute = 60'000;
  const int64_t now = QDateTime::currentMSecsSinceEpoch();
  // The end of the minute in progress: x = 0 is where the newest point lands.
  const int64_t end = (now / kMinute + 1) * kMinute;
  if (m_window_seconds == kWholeRelease && m_session) {
    const std::vector<AuditRecord>& trail = m_session->Audit().Records();
    if (const std::optional<ReleaseBounds> bounds = FindRelease(trail, 0)) {
      const HistorySpan span = ReleaseHistorySpan(trail, *bounds);
      return {span.from_unix_ms, span.to_unix_ms ? span.to_unix_ms : end};
    }
    return {end - 3600 * 1000, end};  // no release in the trail (yet): the last hour
  }
  return {end - int64_t{m_window_seconds} * 1000, end};
}

QString ReleaseView::HistoryNote() const {
  return m_history_note->text();
}

void ReleaseView::SaveChart(TimeSeriesChart* chart, const QString& format) {
  const QString what = chart == m_latency ? QStringLiteral("latency") : QStringLiteral("traffic");
  const QString name =
      (m_session ? m_session->Name() : QStringLiteral("greylane")) +
      QStringLiteral("-%1-%2.%3")
          .arg(what, QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")),
               format);
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Save the %1 chart").arg(what), QDir::home().filePath(SafeFileName(name)),
      format == QLatin1String("svg") ? tr("SVG image (*.svg)") : tr("PNG image (*.png)"));
  if (path.isEmpty()) return;
  const QByteArray bytes = chart->Image(format);
  const absl::Status written = bytes.isEmpty()
                                   ? absl::InternalError("the chart could not be rendered")
                                   : WriteFileAtomically(path.toStdString(), bytes.toStdString());
  if (!written.ok()) {
    QMessageBox::warning(this, tr("Chart not saved"),
                         tr("Could not write %1: %2")
                             .arg(path, QString::fromStdString(std::string(written.message()))));
    return;
  }
  emit actionReported(tr("Saved the %1 chart to %2").arg(what, path));
}

void ReleaseView::SetPaused(bool paused) {
  m_paused = paused;
  if (m_pause->isChecked() != paused) m_pause->setChecked(paused);
  m_pause->setText(paused ? tr("Res&ume") : tr("Pa&use"));
  m_pause->setIcon(
      QIcon(paused ? QStringLiteral(":/icons/resume.svg") : QStringLiteral(":/icons/pause.svg")));
  if (!paused) Redraw();
}

void ReleaseView::SetDark(bool dark) {
  m_latency->SetDark(dark);
  m_traffic->SetDark(dark);
  m_drawn = {};  // markers take the palette's colours
  if (!m_result_html.isEmpty() && !m_result_faded) m_result->setText(m_result_html);
  Redraw();
}

void ReleaseView::RefreshHeader() {
  if (!m_session) {
    m_model->setText(tr("<b style='font-size:x-large'>No agent selected</b>"));
    m_phase->clear();
    m_split_text->clear();
    m_last_change->setText(tr("Connect to an agent with File → Connect… (Ctrl+N)."));
    m_link_banner->hide();
    m_retry->hide();
    return;
  }
  const v1::AgentState& s = m_session->Client().State();
  // Five agents on one node all serve "digits on vm": the banner below
  // names the agent (it wraps; this line must stay short on a small screen).
  const QString agent = s.node_name().empty() ? QString() : tr(" on %1").arg(Q(s.node_name()));
  m_model->setToolTip(tr("model %1 · agent %2 (id %3) on node %4 at %5")
                          .arg(Q(s.model_name()), m_session->Name(), Q(s.agent_id()),
                               Q(s.node_name()), m_session->Client().Endpoint().address)
                          .toHtmlEscaped());
  m_model->setText(QStringLiteral("<b style='font-size:x-large'>%1</b>%2")
                       .arg(s.model_name().empty() ? m_session->Name().toHtmlEscaped()
                                                   : Q(s.model_name()).toHtmlEscaped(),
                            agent.toHtmlEscaped()));
  if (s.phase() != v1::PHASE_UNSPECIFIED) {
    const QColor colour = PhaseColour(s.phase());
    m_phase->setText(PhaseTitle(s.phase()));
    QFont bold = m_phase->font();
    bold.setBold(true);
    m_phase->setMinimumWidth(QFontMetrics(bold).horizontalAdvance(m_phase->text()) + 28);
    SetStyle(m_phase, QStringLiteral("QLabel#PhaseBadge { background: %1; color: white; "
                                     "font-weight: bold; padding: 3px 10px; border-radius: 3px; }")
                          .arg(colour.name()));
    m_phase->show();
  } else {
    m_phase->hide();
  }
  if (s.versions_size() >= 2) {
    m_split_text->setText(
        tr("candidate <b>%1</b> · revision %2").arg(SplitText(s)).arg(s.split().revision()));
  } else {
    m_split_text->setText(tr("waiting for the agent's state…"));
  }
  const v1::StateChange& c = s.last_change();
  if (!c.action().empty()) {
    // A long reason is cut here (two lines at most); the trail has it whole.
    QString reason = Q(c.reason());
    if (reason.size() > kHeaderReasonChars)
      reason = reason.left(kHeaderReasonChars) + tr("… (whole in the audit trail)");
    QString text = tr("Last change: %1 by %2 at %3 (%4): “%5”")
                       .arg(Q(AuditActionTitle(c.action())), Q(c.actor()),
                            LocalTime(c.time_unix_ms()), Ago(c.time_unix_ms()), reason);
    if (s.audit_rows_pending() > 0) {
      // In force, but not yet in the audit database: say so until it is.
      text += tr("\n⚠ %n audit row(s) pending — in force, kept in the agent's reserved "
                 "journal, written to the trail as soon as it can be (%1)",
                 nullptr, static_cast<int>(s.audit_rows_pending()))
                  .arg(Q(s.audit_pending_detail()));
    }
    m_last_change->setText(Breakable(text));
    SetStyle(m_last_change, s.audit_rows_pending() > 0
                                ? QStringLiteral("color: %1").arg(RoleHex(ColourRole::kWarning))
                                : QString());
    m_last_change->setToolTip(tr("audit row #%1; in force %2 ms after the agent received it")
                                  .arg(c.audit_sequence())
                                  .arg(c.apply_micros() / 1000.0, 0, 'f', 2));
  } else {
    m_last_change->clear();
  }
  FadeStaleResult();
  const auto link = m_session->Client().CurrentLink();
  const QString you =
      m_session->Client().Identity().identity().empty()
          ? QString()
          : tr(" · you are %1 (%2)")
                .arg(Q(m_session->Client().Identity().identity()), m_session->RoleName());
  if (link == AgentClient::Link::Live) {
    m_link_banner->setText(tr("● live · agent %1%2").arg(AgentWords(), you));
    SetStyle(m_link_banner, QStringLiteral("color: %1").arg(RoleHex(ColourRole::kGood)));
    m_retry->hide();
  } else {
    const bool stale = link == AgentClient::Link::Stale;
    const bool connecting = link == AgentClient::Link::Connecting;
    m_link_banner->setText(
        (stale        ? tr("● STALE: %1 — the figures below stopped updating%2")
         : connecting ? tr("● connecting: %1%2")
                      : tr("● DISCONNECTED: %1 — the figures below are the last known%2"))
            .arg(AgentWords() + QStringLiteral(": ") + m_session->LinkDetail(), you));
    SetStyle(m_link_banner,
             QStringLiteral("background: %1; color: white; padding: 4px; font-weight: bold;")
                 .arg(RoleHex(stale        ? ColourRole::kWarningFill
                              : connecting ? ColourRole::kInfoFill
                                           : ColourRole::kBadFill)));
    m_retry->setVisible(!connecting);
  }
  m_link_banner->show();
}

QString ReleaseView::AgentWords() const {
  if (!m_session) return {};
  const v1::AgentState& s = m_session->Client().State();
  const QString address = m_session->Client().Endpoint().address;
  QString words = m_session->Name();
  if (!s.agent_id().empty() && Q(s.agent_id()) != words)
    words += tr(" (id %1)").arg(Q(s.agent_id()));
  if (address != m_session->Name()) words += tr(" at %1").arg(address);
  return words;
}

void ReleaseView::RefreshControls() {
  QString why;
  if (!m_session) {
    why = tr("No agent selected");
  } else if (m_session->Client().Identity().role() == v1::ROLE_UNSPECIFIED) {
    why = tr("Waiting for the agent to say who you are");
  } else if (!m_session->CanOperate()) {
    why = tr("You are signed in as %1 with the viewer role: changing the split, rolling back "
             "and promoting need the operator role.")
              .arg(Q(m_session->Client().Identity().identity()));
  }
  const bool can = why.isEmpty();
  const bool busy = !m_in_flight.isEmpty();
  m_rollback->setEnabled(can);
  m_rollback->setToolTip(can ? tr("Send all traffic back to the baseline (Ctrl+Shift+R)") : why);
  m_promote->setEnabled(can && !busy);
  m_promote->setToolTip(can ? tr("Make the candidate the baseline at 100 %") : why);
  m_split->SetEditable(can, why);
  if (m_session) {
    const v1::AgentState& s = m_session->Client().State();
    m_split->SetInForce(s.split().candidate_basis_points(), s.split().revision());
  }
  if (busy) m_split->ApplyButton()->setEnabled(false);
}

void ReleaseView::RefreshCards() {
  VersionCardData cards[2];
  cards[0].title = tr("Baseline");
  cards[1].title = tr("Candidate");
  if (m_session && m_session->Client().State().versions_size() >= 2) {
    const v1::AgentState& s = m_session->Client().State();
    const double candidate_percent = s.split().candidate_basis_points() / 100.0;
    WindowSummary summaries[2];
    for (int i = 0; i < 2; ++i) {
      const v1::VersionInfo& v = s.versions(i);
      VersionCardData& d = cards[i];
      d.known = true;
      d.version = Q(v.version());
      d.backend = QStringLiteral("%1 · %2").arg(Q(v.backend_kind()), Q(v.backend_target()));
      d.health = CardHealth(v.health());
      d.health_detail = Q(v.health_detail());
      d.weight_percent = i == 0 ? 100 - candidate_percent : candidate_percent;
      summaries[i] = m_session->History().Summarize(v.version(), kCardWindowSeconds);
      d.window_seconds = kCardWindowSeconds;
      d.has_traffic = summaries[i].requests > 0;
      d.requests_per_second = summaries[i].requests_per_second;
      d.error_rate = summaries[i].server_error_rate;
      d.p50_ms = summaries[i].p50_ms;
      d.p99_ms = summaries[i].p99_ms;
      d.requests = summaries[i].requests;
      d.successes = summaries[i].successes;
      d.generative = summaries[i].generative;
      d.ttft_p50_ms = summaries[i].ttft_p50_ms;
      d.ttft_p99_ms = summaries[i].ttft_p99_ms;
      d.itl_p50_ms = summaries[i].itl_p50_ms;
      d.itl_p99_ms = summaries[i].itl_p99_ms;
      d.tokens_per_second = summaries[i].tokens_per_second;
      d.integrity_problems = summaries[i].integrity_problems;
    }
    if (summaries[0].generative && summaries[1].generative &&
        summaries[0].output_tokens.Count() > 0 && summaries[1].output_tokens.Count() > 0) {
      cards[1].output_divergence =
          DistributionDistance(summaries[0].output_tokens, summaries[1].output_tokens);
    }
    const CandidateComparison comparison = CompareCandidate(summaries[0], summaries[1]);
    cards[1].p50_diff = comparison.p50_diff;
    cards[1].p99_diff = comparison.p99_diff;
    cards[1].worse = comparison.worse;
    cards[1].verdict = comparison.why;
  }
  m_baseline_card->Show(cards[0]);
  m_candidate_card->Show(cards[1]);
}

void ReleaseView::RefreshCharts() {
  if (ShowsHistory()) {
    m_history_note->setText(m_session ? m_session->Minutes().Note() : QString());
    const auto [from, to] = HistorySpanNow();
    if (m_session && from < m_asked_from) {
      m_asked_from = from;
      m_session->Minutes().Cover(from);
    }
    // Hours on the axis from 6 h on ("-24 h", not "-1440 min").
    const double per_x = to - from >= 6 * 3'600'000 ? 3600 : 60;
    const double window = static_cast<double>(to - from) / (per_x * 1000);
    if (!m_session || m_session->Client().State().versions_size() < 2) {
      ReleaseSeries empty;
      empty.seconds_per_x = per_x;
      DrawSeries(empty, window);
      return;
    }
    // Minutes change every few seconds at most: rebuild only then (or when
    // the trail, the span or the versions do).
    const v1::AgentState& s = m_session->Client().State();
    auto drawn =
        std::make_tuple(m_session->Minutes().Generation(), m_session->Audit().Records().size(),
                        from, to, s.versions(0).version() + '\n' + s.versions(1).version());
    if (drawn == m_drawn) return;
    m_drawn = std::move(drawn);
    DrawSeries(BuildMinuteSeries(m_session->Minutes().History(),
                                 {s.versions(0).version(), s.versions(1).version()},
                                 m_session->Audit().Records(), from, to, per_x, m_charted),
               window);
    return;
  }
  m_history_note->clear();
  ReleaseSeries series;
  if (m_session && m_session->Client().State().versions_size() >= 2) {
    const v1::AgentState& s = m_session->Client().State();
    series =
        BuildReleaseSeries(m_session->History(), {s.versions(0).version(), s.versions(1).version()},
                           m_session->Audit().Records(), m_window_seconds, m_charted);
  }
  DrawSeries(series, m_window_seconds);
}

void ReleaseView::DrawSeries(const ReleaseSeries& series, double window) {
  if (m_session && m_session->Client().State().versions_size() >= 2) {
    const v1::AgentState& s = m_session->Client().State();
    const QString per = series.point_seconds >= 60 ? tr("req/s, per minute") : tr("req/s");
    for (int i = 0; i < 2; ++i) {
      const std::string& version = s.versions(i).version();
      const QString slot = i == 0 ? tr("baseline") : tr("candidate");
      const QString what = m_charted == ChartedTime::kFirstToken      ? tr("TTFT ")
                           : m_charted == ChartedTime::kBetweenTokens ? tr("ITL ")
                                                                      : QString();
      m_latency->SetSeriesName(2 * i, tr("%1 %2p99 (%3)").arg(Q(version), what, slot));
      m_latency->SetSeriesName(2 * i + 1, tr("%1 %2p50 (%3)").arg(Q(version), what, slot));
      m_traffic->SetSeriesName(2 * i, tr("%1 %2").arg(Q(version), per));
      m_traffic->SetSeriesName(2 * i + 1, tr("%1 errors %").arg(Q(version)));
    }
  }
  QList<ChartMarker> markers;
  for (const ChangeMarker& m : series.markers) {
    QColor colour = RoleColour(ColourRole::kNeutral);
    if (m.kind == ChangeMarker::Kind::Rollback || m.kind == ChangeMarker::Kind::Unhealthy) {
      colour = RoleColour(ColourRole::kBad);
    } else if (m.kind == ChangeMarker::Kind::Promote || m.kind == ChangeMarker::Kind::Healthy) {
      colour = RoleColour(ColourRole::kGood);
    }
    markers.append({m.x, m.label, colour});
  }
  for (int i = 0; i < 2; ++i) {
    const VersionSeries& v = series.versions[static_cast<size_t>(i)];
    m_latency->SetPoints(2 * i, v.p99);
    m_latency->SetPoints(2 * i + 1, v.p50);
    m_traffic->SetPoints(2 * i, v.rate);
    m_traffic->SetPoints(2 * i + 1, v.errors);
  }
  for (TimeSeriesChart* chart : {m_latency, m_traffic}) {
    chart->SetTimeUnit(series.seconds_per_x, series.point_seconds);
    chart->SetMarkers(markers);
    chart->SetTimeOrigin(series.newest_unix_ms);
    chart->SetWindow(window);
  }
}

void ReleaseView::OpenReasonDialog(const QString& action, const QString& title,
                                   const QString& explanation, const QString& button,
                                   const QString& default_reason, bool destructive) {
  if (m_dialog) m_dialog->reject();  // rollback always wins over a half-typed apply
  const QString reason = m_unsent_reason.value(action, default_reason);
  auto* dialog = new ReasonDialog(title, explanation, button, reason, destructive, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  m_dialog = dialog;
  if (action != ActionId(AuditAction::kRollback)) {
    // The dialog is modal: without this, rollback would wait for it.
    connect(new RollbackKeys(dialog), &RollbackKeys::pressed, this, &ReleaseView::RequestRollback,
            Qt::QueuedConnection);
  }
  connect(dialog, &QDialog::accepted, this, [this, dialog, action, default_reason] {
    m_confirmed.start();
    // Fine at 3 a.m.; the review should see the reason was not typed.
    const QString typed = dialog->Reason();
    Send(action, typed == default_reason && !typed.isEmpty()
                     ? typed + QStringLiteral(" (default reason)")
                     : typed);
  });
  dialog->open();
  dialog->ReasonEdit()->setFocus();
}

void ReleaseView::RequestRollback() {
  if (!m_session || !m_session->CanOperate()) return;
  const v1::AgentState& s = m_session->Client().State();
  const QString candidate =
      s.versions_size() >= 2 ? Q(s.versions(1).version()) : tr("the candidate");
  const QString model = s.model_name().empty() ? tr("the model") : Q(s.model_name());
  OpenReasonDialog(
      ActionId(AuditAction::kRollback), tr("Roll back %1 on %2?").arg(model, m_session->Name()),
      tr("Agent <b>%3</b> (%4): all traffic for <b>%5</b> goes back to the baseline <b>%1</b>; "
         "the candidate <b>%2</b> keeps 0 %.<br>Press Enter to roll back now.")
          .arg(s.versions_size() ? Q(s.versions(0).version()).toHtmlEscaped() : tr("baseline"),
               candidate.toHtmlEscaped(), m_session->Name().toHtmlEscaped(),
               m_session->Client().Endpoint().address.toHtmlEscaped(), model.toHtmlEscaped()),
      tr("Roll back"), tr("Rolling back %1 from the console").arg(candidate), true);
}

void ReleaseView::RequestPromote() {
  if (!m_session || !m_session->CanOperate()) return;
  const v1::AgentState& s = m_session->Client().State();
  if (s.versions_size() < 2) return;
  OpenReasonDialog(ActionId(AuditAction::kPromote),
                   tr("Promote %1?").arg(Q(s.versions(1).version())),
                   tr("<b>%1</b> becomes the baseline at 100 %; <b>%2</b> stays loaded as the "
                      "candidate at 0 %.")
                       .arg(Q(s.versions(1).version()), Q(s.versions(0).version())),
                   tr("Promote"), {}, false);
}

void ReleaseView::RequestApply() {
  if (!m_session || !m_session->CanOperate() || !m_split->HasProposal()) return;
  OpenReasonDialog(ActionId(AuditAction::kSetSplit), tr("Change the split?"),
                   tr("Candidate share <b>%1</b> → <b>%2</b> (based on revision %3).")
                       .arg(TrafficSplitControl::Percent(m_split->InForce()),
                            TrafficSplitControl::Percent(m_split->Proposed()))
                       .arg(m_split->BasedOnRevision()),
                   tr("Apply"), {}, false);
}

void ReleaseView::Send(const QString& action, const QString& reason) {
  if (!m_session) return;
  m_unsent_reason.insert(action, reason);  // until the agent confirms
  m_in_flight = action;
  AgentClient& client = m_session->Client();
  m_sent = SentChange{action,
                      reason,
                      Q(client.Identity().identity()),
                      client.State().split().revision(),
                      client.State().last_change().audit_sequence(),
                      action == ActionId(AuditAction::kSetSplit) ? m_split->Proposed() : 0u};
  m_outcome_unknown = false;
  m_recheck_timer.stop();
  if (action == ActionId(AuditAction::kRollback)) {
    ShowResult(tr("Rolling back…"));
    client.Rollback(reason);
  } else if (action == ActionId(AuditAction::kPromote)) {
    ShowResult(tr("Promoting…"));
    client.Promote(client.State().split().revision(), reason);
  } else if (action == ActionId(AuditAction::kStartRollout)) {
    ShowResult(tr("Starting the rollout…"));
    client.StartRollout(m_plan_to_start, client.State().split().revision(), reason);
  } else if (const auto rollout = ParseAuditAction(action.toStdString());
             rollout == AuditAction::kPauseRollout || rollout == AuditAction::kResumeRollout ||
             rollout == AuditAction::kAbortRollout) {
    ShowResult(tr("%1…").arg(Q(AuditActionTitle(action.toStdString()))));
    client.ControlRollout(*rollout, reason);
  } else {
    m_in_flight_split = m_split->Proposed();
    ShowResult(tr("Applying %1…").arg(TrafficSplitControl::Percent(m_in_flight_split)));
    client.SetSplit(m_in_flight_split, m_split->BasedOnRevision(), reason);
  }
  RefreshControls();
}

void ReleaseView::OnMutationFinished(const QString& action, int code, const QString& message,
                                     const v1::AgentState& state, double elapsed_ms) {
  m_in_flight.clear();
  const double agent_ms = state.last_change().apply_micros() / 1000.0;
  if (code == grpc::StatusCode::OK) {
    m_unsent_reason.remove(action);
    RefreshHeader();
    RefreshControls();
    m_confirm_to_shown_ms = m_confirmed.isValid() ? m_confirmed.nsecsElapsed() / 1e6 : 0;
    const QString what =
        action == ActionId(AuditAction::kRollback)   ? tr("Rolled back: candidate at %1")
        : action == ActionId(AuditAction::kPromote)  ? tr("Promoted: baseline is now %1")
        : action == ActionId(AuditAction::kSetSplit) ? tr("Split applied: candidate at %1")
        : action == ActionId(AuditAction::kAbortRollout)
            ? tr("Rollout aborted: candidate at %1")
            : tr("%1: candidate at %2")
                  .arg(Q(AuditActionTitle(action.toStdString())), QStringLiteral("%1"));
    const QString value = action == ActionId(AuditAction::kPromote) && state.versions_size()
                              ? Q(state.versions(0).version())
                              : SplitText(state);
    const QString pending = state.audit_rows_pending() > 0
                                ? tr("; %1 (%2)")
                                      .arg(Bold(ColourRole::kWarning, tr("audit row pending")),
                                           Q(state.audit_pending_detail()).toHtmlEscaped())
                                : QString();
    ShowResult(
        tr("%1%6 (revision %2) · %3 ms from confirm to "
           "shown, RPC %4 ms, in force inside the agent after %5 ms")
            .arg(Bold(ColourRole::kGood, QStringLiteral("✔ ") + what.arg(value.toHtmlEscaped())))
            .arg(state.split().revision())
            .arg(m_confirm_to_shown_ms, 0, 'f', 1)
            .arg(elapsed_ms, 0, 'f', 1)
            .arg(agent_ms, 0, 'f', 2)
            .arg(pending));
    Redraw();
    return;
  }
  if (code == grpc::StatusCode::ABORTED) {
    const v1::StateChange& c = state.last_change();
    if (action == ActionId(AuditAction::kSetSplit)) m_split->Rebase();
    ShowResult(
        (Bold(ColourRole::kWarning, tr("Not applied: the state changed meanwhile.")) +
         tr(" %1 did "
            "%2 at %3 (“%4”); the split is now %5 at revision %6. Your proposal of %7 is "
            "kept: Apply… again to send it against revision %6. <small>(agent: %8)</small>"))
            .arg(Q(c.actor()).toHtmlEscaped(), Q(AuditActionTitle(c.action())).toHtmlEscaped(),
                 LocalTime(c.time_unix_ms()), Q(c.reason()).toHtmlEscaped(), SplitText(state))
            .arg(state.split().revision())
            .arg(TrafficSplitControl::Percent(m_split->Proposed()))
            .arg(message.toHtmlEscaped()));
    RefreshHeader();
    RefreshControls();
    return;
  }
  if (OutcomeUnknown(code, message, elapsed_ms) && m_sent && m_sent->action == action) {
    // Sent, and no answer: the agent may well have applied it.
    m_outcome_unknown = true;
    ShowResult((Bold(ColourRole::kWarning, tr("⏳ %1: outcome unknown.")) +
                tr(" No answer from %2 after "
                   "%3 s (%4). Re-reading the state until the agent answers; this line will say "
                   "whether it was applied."))
                   .arg(Q(AuditActionTitle(action.toStdString())).toHtmlEscaped(),
                        m_session ? m_session->Name().toHtmlEscaped() : QString())
                   .arg(elapsed_ms / 1000.0, 0, 'f', 1)
                   .arg(message.toHtmlEscaped()));
    m_recheck_timer.start();
    if (m_session && !m_refreshing) {
      m_refreshing = true;
      m_session->Client().RefreshState();
    }
    RefreshControls();
    return;
  }
  ShowResult(
      (Bold(ColourRole::kBad, tr("✖ %1 refused by %2:")) + tr(" %3 <i>(your reason is kept)</i>"))
          .arg(Q(AuditActionTitle(action.toStdString())).toHtmlEscaped(),
               m_session ? m_session->Name().toHtmlEscaped() : QString(), message.toHtmlEscaped()));
  RefreshControls();
}

void ReleaseView::OnStateRefreshed(int code, const QString& message) {
  m_refreshing = false;
  if (!m_outcome_unknown || !m_sent || !m_session) return;
  if (code != grpc::StatusCode::OK) {
    ShowResult((Bold(ColourRole::kWarning, tr("⏳ %1: outcome unknown.")) +
                tr(" The agent still does not "
                   "answer (%2); asking again every second."))
                   .arg(Q(AuditActionTitle(m_sent->action.toStdString())).toHtmlEscaped(),
                        message.toHtmlEscaped()));
    return;
  }
  m_outcome_unknown = false;
  m_recheck_timer.stop();
  const ChangeVerdict verdict = JudgeFromFreshState(*m_sent, m_session->Client().State());
  if (verdict.applied) m_unsent_reason.remove(m_sent->action);
  ShowResult(verdict.applied
                 ? Bold(ColourRole::kGood, QStringLiteral("✔ ") + verdict.text.toHtmlEscaped())
                 : Bold(ColourRole::kBad, QStringLiteral("✖ ") + verdict.text.toHtmlEscaped()) +
                       tr(" <i>(your reason is kept)</i>"));
  RefreshHeader();
  RefreshControls();
}

void ReleaseView::ShowResult(const QString& html) {
  m_result->setText(html);
  m_result_html = html;
  m_result_faded = false;
  m_result_revision = m_session ? m_session->Client().State().split().revision() : 0;
  emit actionReported(Plain(html));
}

void ReleaseView::FadeStaleResult() {
  if (m_result_html.isEmpty() || m_result_faded || m_outcome_unknown || !m_in_flight.isEmpty() ||
      !m_session) {
    return;
  }
  const uint64_t revision = m_session->Client().State().split().revision();
  if (revision == m_result_revision) return;
  m_result_faded = true;
  m_result->setText(tr("<span style='color:palette(mid)'>Earlier, at revision %1 (the state has "
                       "moved on since): %2</span>")
                        .arg(m_result_revision)
                        .arg(Plain(m_result_html).toHtmlEscaped()));
}

QString ReleaseView::HeaderText() const {
  return Plain(QStringList{m_model->text(), m_phase->text(), m_split_text->text(),
                           m_last_change->text(), m_link_banner->text()}
                   .join(u'\n'));
}

QString ReleaseView::ResultText() const {
  return Plain(m_result->text());
}

QString ReleaseView::CardsText() const {
  return m_baseline_card->Text() + u'\n' + m_candidate_card->Text();
}

void ReleaseView::SetChartedTime(ChartedTime charted) {
  m_charted_time->setCurrentIndex(m_charted_time->findData(static_cast<int>(charted)));
}

}  // namespace greylane
