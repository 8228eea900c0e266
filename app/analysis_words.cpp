#include "app/analysis_words.h"

#include <QCoreApplication>
#include <QObject>

#include <cmath>

#include "common/rollout_plan.h"

namespace greylane {
namespace {

QString Q(const std::string& s) {
  return QString::fromStdString(s);
}

enum class Unit { kRatio, kPoints, kShare };

Unit UnitOf(const std::string& check) {
  if (check == "latency" || check == "tail" || check == "ttft" || check == "itl")
    return Unit::kRatio;
  if (check == "errors" || check == "accuracy") return Unit::kPoints;
  return Unit::kShare;
}

QString Figure(double v, Unit unit, bool sign = false) {
  if (std::isinf(v) || (unit == Unit::kRatio && v >= 1000)) return QStringLiteral("∞");
  if (!std::isfinite(v)) return QStringLiteral("–");
  switch (unit) {
    case Unit::kRatio:
      return QStringLiteral("%1×").arg(v, 0, 'f', 2);
    case Unit::kPoints:
      return (sign && v >= 0 ? QStringLiteral("+") : QString()) +
             QStringLiteral("%1 pts").arg(v * 100, 0, 'f', 2);
    case Unit::kShare:
      return QStringLiteral("%1 %").arg(v * 100, 0, 'f', 2);
  }
  return {};
}

QString Title(const std::string& check) {
  if (check == "latency") return QObject::tr("Latency shift");
  if (check == "tail") return QObject::tr("Slow requests (tail)");
  if (check == "errors") return QObject::tr("Server errors");
  if (check == "accuracy") return QObject::tr("Accuracy drop");
  if (check == "predictions") return QObject::tr("Class mix");
  if (check == "class_share") return QObject::tr("One class's share");
  if (check == "ttft") return QObject::tr("Time to first token");
  if (check == "itl") return QObject::tr("Inter-token latency");
  return Q(check);
}

}  // namespace

QString Count(uint64_t n) {
  QString digits = QString::number(n);
  // A narrow no-break space: "10 810" never wraps inside.
  for (auto at = digits.size() - 3; at > 0; at -= 3) digits.insert(at, QChar(0x202F));
  return digits;
}

std::vector<CheckWords> DescribeChecks(const v1::AnalysisVerdict& verdict) {
  std::vector<CheckWords> out;
  for (const v1::CheckResult& c : verdict.checks()) {
    CheckWords w;
    w.check = Q(c.check());
    w.title = Title(c.check());
    w.detail = Q(c.detail());
    const Unit unit = UnitOf(c.check());
    switch (c.verdict()) {
      case v1::CHECK_PASS:
        w.verdict = QObject::tr("PASS");
        w.tone = Tone::kGood;
        break;
      case v1::CHECK_WARN:
        w.verdict = QObject::tr("WARN");
        w.tone = Tone::kWarning;
        break;
      case v1::CHECK_FAIL:
        w.verdict = QObject::tr("FAIL");
        w.tone = Tone::kBad;
        break;
      default:
        w.verdict = QObject::tr("INCONCLUSIVE");
        w.tone = Tone::kNeutral;
        break;
    }
    w.threshold = QObject::tr("fails ≥ %1").arg(Figure(c.threshold(), unit));
    if (c.verdict() == v1::CHECK_INCONCLUSIVE) {
      const bool candidate_short = c.candidate_n() < c.needed();
      const QString what = c.check() == "accuracy" ? QObject::tr("labels")
                           : c.check() == "predictions" || c.check() == "class_share"
                               ? QObject::tr("predictions")
                           : c.check() == "ttft" ? QObject::tr("streams")
                           : c.check() == "itl"  ? QObject::tr("token gaps")
                                                 : QObject::tr("requests");
      w.sample =
          QObject::tr("%1/%2 %3 %4")
              .arg(Count(candidate_short ? c.candidate_n() : c.baseline_n()))
              .arg(Count(c.needed()))
              .arg(candidate_short ? QObject::tr("candidate") : QObject::tr("baseline"), what);
      w.value = QStringLiteral("–");
      w.interval = QStringLiteral("–");
    } else {
      w.value = Figure(c.value(), unit, unit == Unit::kPoints);
      w.interval = QStringLiteral("%1 – %2").arg(Figure(c.lower(), unit, unit == Unit::kPoints),
                                                 Figure(c.upper(), unit, unit == Unit::kPoints));
      w.sample = QObject::tr("%1 vs %2 in %3\u00a0s")
                     .arg(Count(c.candidate_n()), Count(c.baseline_n()))
                     .arg(c.window_seconds());
    }
    out.push_back(std::move(w));
  }
  return out;
}

QString PolicyWords(const v1::AnalysisPolicy& p) {
  QString text = p.armed() ? QObject::tr("ARMED: a failed check rolls the candidate back")
                           : QObject::tr("NOT ARMED: checks report, nothing rolls back");
  text += QObject::tr(" · windows up to %1 s at %2 % confidence · at least %3 per version")
              .arg(p.window_seconds())
              .arg(p.confidence() * 100, 0, 'f', 1)
              .arg(Count(p.min_requests()));
  if (p.p99_warning_ms() > 0 || p.p99_ceiling_ms() > 0) {
    text += QObject::tr(" · p99 warns above %1 ms, fails above %2 ms")
                .arg(p.p99_warning_ms())
                .arg(p.p99_ceiling_ms());
  }
  return text;
}

RolloutWords DescribeRollout(const v1::RolloutProgress& r) {
  RolloutWords w;
  if (r.phase() == v1::ROLLOUT_NONE || r.plan().steps_size() == 0) return w;
  w.shown = true;
  const int steps = r.plan().steps_size();
  w.current = std::min<int>(static_cast<int>(r.step()), steps - 1);
  for (int i = 0; i < steps; ++i) {
    const v1::RolloutStep& s = r.plan().steps(i);
    RolloutWords::Step step;
    step.label = Q(PercentText(s.candidate_basis_points()));
    step.gate = s.gate();
    step.done = i < w.current || r.phase() == v1::ROLLOUT_DONE ||
                (i == w.current && r.phase() == v1::ROLLOUT_AT_GATE);
    if (i == w.current && s.bake_seconds() > 0)
      step.baked = std::min(1.0, static_cast<double>(r.baked_seconds()) / s.bake_seconds());
    w.steps.push_back(step);
  }
  const v1::RolloutStep& now = r.plan().steps(w.current);
  const QString where = Q(StepText(r.plan(), static_cast<uint32_t>(w.current)));
  const QString detail = Q(r.detail());
  switch (r.phase()) {
    case v1::ROLLOUT_BAKING: {
      const uint32_t left =
          now.bake_seconds() > r.baked_seconds() ? now.bake_seconds() - r.baked_seconds() : 0;
      w.status = QObject::tr("Baking %1: %2 of %3 s passed, %4 to go")
                     .arg(where)
                     .arg(r.baked_seconds())
                     .arg(now.bake_seconds())
                     .arg(Q(DurationText(left)));
      if (r.extended_seconds() > 0)
        w.status += QObject::tr(" (only passing seconds count: %1 s so far did not)")
                        .arg(r.extended_seconds());
      w.tone = Tone::kGood;
      w.can_pause = w.can_abort = true;
      break;
    }
    case v1::ROLLOUT_AT_GATE:
      w.status = QObject::tr("AT THE GATE after %1: Resume to go on").arg(where);
      w.tone = Tone::kWarning;
      w.can_resume = w.can_abort = true;
      break;
    case v1::ROLLOUT_PAUSED:
      w.status = QObject::tr("PAUSED");
      w.tone = Tone::kWarning;
      w.can_resume = w.can_abort = true;
      break;
    case v1::ROLLOUT_DONE:
      w.status = QObject::tr("DONE");
      w.tone = Tone::kGood;
      break;
    case v1::ROLLOUT_ABORTED:
      w.status = QObject::tr("ENDED");
      w.tone = Tone::kBad;
      break;
    default:
      break;
  }
  // While baking (and at a gate) the words above say it all; otherwise the
  // agent says where and why.
  if (!detail.isEmpty() && r.phase() != v1::ROLLOUT_BAKING && r.phase() != v1::ROLLOUT_AT_GATE) {
    // The agent's words may start with the phase again ("ended: rolled back …").
    const QString again = w.status.toLower() + u':';
    w.status += QStringLiteral(" — ") +
                (detail.startsWith(again) ? detail.mid(again.size()).trimmed() : detail);
  } else if (detail.isEmpty() && r.phase() != v1::ROLLOUT_BAKING &&
             r.phase() != v1::ROLLOUT_AT_GATE)
    w.status += QStringLiteral(" at ") + where;
  return w;
}

std::optional<RollbackWords> AutomaticRollback(const v1::AgentState& state,
                                               const std::vector<AuditRecord>& trail) {
  const v1::StateChange& c = state.last_change();
  if (c.action() != "rollback" || c.actor() != "analysis") return std::nullopt;
  RollbackWords w;
  w.time_unix_ms = c.time_unix_ms();
  w.audit_sequence = c.audit_sequence();
  std::string evidence;
  for (auto row = trail.rbegin(); row != trail.rend(); ++row) {
    if (row->sequence == c.audit_sequence()) {
      evidence = row->evidence;
      break;
    }
    if (row->sequence < c.audit_sequence()) break;
  }
  // "analysis: candidate 'v2' failed: [latency] ... [tail] ...": one entry per check.
  QStringList failed, details;
  const QString text = Q(evidence);
  qsizetype at = text.indexOf(QStringLiteral(" ["));
  while (at >= 0) {
    const qsizetype close = text.indexOf(u']', at);
    if (close < 0) break;
    const qsizetype next = text.indexOf(QStringLiteral(" ["), close);
    failed << text.mid(at + 2, close - at - 2);
    details << text.mid(close + 2, next < 0 ? -1 : next - close - 2).trimmed();
    at = next;
  }
  const QString candidate =
      state.versions_size() >= 2 ? Q(state.versions(1).version()) : QObject::tr("the candidate");
  w.headline = failed.isEmpty()
                   ? QObject::tr("Automatic rollback of '%1' by the analysis").arg(candidate)
                   : QObject::tr("Automatic rollback of '%1': %2 failed")
                         .arg(candidate, failed.join(QStringLiteral(", ")));
  w.evidence = details.isEmpty() ? Q(c.reason()) : details.front();
  w.full = evidence.empty() ? Q(c.reason()) : text;
  return w;
}

}  // namespace greylane
