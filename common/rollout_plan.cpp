#include "common/rollout_plan.h"

#include <algorithm>

#include <cstdlib>

#include <cmath>

#include <cstdio>

#include "common/text.h"

namespace greylane {

std::string RolloutPlanProblem(const v1::RolloutPlan& plan) {
  if (plan.steps_size() == 0) return "a rollout plan needs at least one step";
  if (static_cast<uint32_t>(plan.steps_size()) > kMaxRolloutSteps)
    return "a rollout plan has at most " + std::to_string(kMaxRolloutSteps) + " steps (it has " +
           std::to_string(plan.steps_size()) + ")";
  uint32_t before = 0;
  for (int i = 0; i < plan.steps_size(); ++i) {
    const v1::RolloutStep& s = plan.steps(i);
    const std::string which = "step " + std::to_string(i + 1);
    if (s.candidate_basis_points() < 1 || s.candidate_basis_points() > 10000)
      return which + ": candidate_basis_points must be 1 to 10000 (0.01 % to 100 %), got " +
             std::to_string(s.candidate_basis_points());
    if (s.candidate_basis_points() < before)
      return which + ": " + PercentText(s.candidate_basis_points()) +
             " is below the step before (" + PercentText(before) +
             "); a plan only moves traffic toward the candidate";
    if (s.bake_seconds() > kMaxBakeSeconds)
      return which + ": bake_seconds must be at most " + std::to_string(kMaxBakeSeconds) +
             " (7 days)";
    before = s.candidate_basis_points();
  }
  if (plan.max_extend_seconds() > kMaxBakeSeconds)
    return "max_extend_seconds must be at most " + std::to_string(kMaxBakeSeconds);
  if (plan.auto_promote() && before != 10000)
    return "auto_promote needs a last step of 100 % (it is " + PercentText(before) + ")";
  if (std::string p =
          TextProblem("the plan's name", plan.name(), kMaxPlanNameBytes, TextKind::kName);
      !p.empty())
    return p;
  return "";
}

uint32_t MaxExtendSeconds(const v1::RolloutPlan& plan) {
  return plan.max_extend_seconds() == 0 ? kDefaultMaxExtendSeconds : plan.max_extend_seconds();
}

bool RolloutActive(v1::RolloutPhase phase) {
  return phase == v1::ROLLOUT_BAKING || phase == v1::ROLLOUT_AT_GATE || phase == v1::ROLLOUT_PAUSED;
}

std::string PercentText(uint32_t bp) {
  char text[32];
  if (bp % 100 == 0) {
    std::snprintf(text, sizeof(text), "%u %%", bp / 100);
  } else {
    std::snprintf(text, sizeof(text), "%g %%", bp / 100.0);
  }
  return text;
}

std::string DurationText(uint64_t s) {
  if (s == 0) return "0 s";
  std::string text;
  auto add = [&](uint64_t n, const char* unit) {
    if (n == 0) return;
    text += (text.empty() ? "" : " ") + std::to_string(n) + " " + unit;
  };
  add(s / 86400, "d");
  add(s % 86400 / 3600, "h");
  add(s % 3600 / 60, "min");
  add(s % 60, "s");
  return text;
}

std::string DescribePlan(const v1::RolloutPlan& plan) {
  std::string text;
  for (const v1::RolloutStep& s : plan.steps()) {
    if (!text.empty()) text += " → ";
    text += PercentText(s.candidate_basis_points()) + " for " + DurationText(s.bake_seconds());
    if (s.gate()) text += ", then a gate";
  }
  if (plan.auto_promote()) text += ", then promote";
  return text;
}

std::string StepText(const v1::RolloutPlan& plan, uint32_t step) {
  const uint32_t bp = static_cast<int>(step) < plan.steps_size()
                          ? plan.steps(static_cast<int>(step)).candidate_basis_points()
                          : 0;
  return "step " + std::to_string(step + 1) + " of " + std::to_string(plan.steps_size()) + " (" +
         PercentText(bp) + ")";
}

bool ParsePercentText(std::string_view text, uint32_t* bp) {
  const std::string copy(text);
  char* end = nullptr;
  const double percent = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() || *end != '\0' || !(percent >= 0 && percent <= 100)) return false;
  const double basis_points = percent * 100;
  // 0.001 once became 0 bp, a change nobody asked for: only 0.01 steps.
  if (std::fabs(basis_points - std::round(basis_points)) > 1e-6) return false;
  *bp = static_cast<uint32_t>(std::lround(basis_points));
  return true;
}

namespace {
bool Percents(std::string_view text, std::vector<uint32_t>* out) {
  size_t from = 0;
  while (from <= text.size()) {
    const size_t comma = std::min(text.find(',', from), text.size());
    std::string_view part = text.substr(from, comma - from);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    uint32_t bp = 0;
    if (!ParsePercentText(part, &bp)) return false;
    out->push_back(bp);
    from = comma + 1;
  }
  return !out->empty();
}
}  // namespace

std::string AddStepsFromText(std::string_view percents, uint32_t bake_seconds,
                             v1::RolloutPlan* plan) {
  std::vector<uint32_t> weights;
  if (!Percents(percents, &weights))
    return "steps are percentages 0.01..100 separated by commas, e.g. 1,5,25,100";
  for (uint32_t bp : weights) {
    v1::RolloutStep* s = plan->add_steps();
    s->set_candidate_basis_points(bp);
    s->set_bake_seconds(bake_seconds);
  }
  return "";
}

std::string MarkGatesFromText(std::string_view percents, v1::RolloutPlan* plan) {
  std::vector<uint32_t> gates;
  if (!Percents(percents, &gates)) return "gates are percentages of steps, e.g. 50,100";
  for (uint32_t bp : gates) {
    bool matched = false;
    for (v1::RolloutStep& s : *plan->mutable_steps()) {
      if (s.candidate_basis_points() == bp) {
        s.set_gate(true);
        matched = true;
      }
    }
    if (!matched) return "gate " + PercentText(bp) + ": no step has that weight";
  }
  return "";
}

std::vector<RolloutPreset> RolloutPresets() {
  std::vector<RolloutPreset> presets(2);
  presets[0].key = "canary";
  presets[0].plan.set_name("1 → 5 → 10 → 25 → 50 → 100 %, 2 min each");
  for (uint32_t bp : {100u, 500u, 1000u, 2500u, 5000u, 10000u}) {
    v1::RolloutStep* s = presets[0].plan.add_steps();
    s->set_candidate_basis_points(bp);
    s->set_bake_seconds(120);
  }
  presets[1].key = "hourly";
  presets[1].plan.set_name("+10 % per hour");
  for (uint32_t bp = 1000; bp <= 10000; bp += 1000) {
    v1::RolloutStep* s = presets[1].plan.add_steps();
    s->set_candidate_basis_points(bp);
    s->set_bake_seconds(3600);
  }
  return presets;
}

RolloutTick JudgeRolloutSecond(v1::RolloutProgress* progress, const v1::AnalysisVerdict& verdict) {
  RolloutTick tick;
  const v1::RolloutPlan& plan = progress->plan();
  if (progress->phase() != v1::ROLLOUT_BAKING ||
      static_cast<int>(progress->step()) >= plan.steps_size())
    return tick;
  const v1::RolloutStep& step = plan.steps(static_cast<int>(progress->step()));
  const std::string where = StepText(plan, progress->step());

  std::string failed, inconclusive;
  for (const v1::CheckResult& c : verdict.checks()) {
    if (c.verdict() == v1::CHECK_FAIL) failed += (failed.empty() ? "" : "; ") + c.detail();
    // A warning is no pass: it extends the bake like an inconclusive second.
    if (c.verdict() == v1::CHECK_INCONCLUSIVE || c.verdict() == v1::CHECK_WARN)
      inconclusive += (inconclusive.empty() ? "" : "; ") + c.check() + ": " + c.detail();
  }
  if (verdict.checks_size() == 0) inconclusive = "no verdict from the analysis yet";

  if (!failed.empty()) {
    // Armed, the analysis rolls back (once the failure is sustained) and
    // that ends the rollout; the second counts for nothing meanwhile.
    if (verdict.armed()) return tick;
    tick.move = RolloutMove::kPause;
    tick.why = where + ": the analysis failed the candidate (" + failed +
               "); it is not armed, so the rollout paused instead of rolling back";
    progress->set_detail("paused: " + tick.why);
    return tick;
  }
  // At 100 % the baseline has no traffic to compare with: once the
  // window's older seconds age out the checks can only be inconclusive,
  // so the step bakes on the candidate failing nothing (ceilings included).
  if (step.candidate_basis_points() == 10000) {
    inconclusive.clear();
    for (const v1::CheckResult& c : verdict.checks())
      if (c.verdict() == v1::CHECK_WARN)
        inconclusive += (inconclusive.empty() ? "" : "; ") + c.detail();
  }
  if (inconclusive.empty()) {
    progress->set_baked_seconds(progress->baked_seconds() + 1);
  } else {
    progress->set_extended_seconds(progress->extended_seconds() + 1);
    if (progress->extended_seconds() > MaxExtendSeconds(plan)) {
      tick.move = RolloutMove::kPause;
      tick.why = where + " stayed inconclusive or warned for " +
                 std::to_string(progress->extended_seconds()) +
                 " s, which do not count toward its bake (the plan allows " +
                 DurationText(MaxExtendSeconds(plan)) + "): " + inconclusive +
                 ". Resuming (rollout resume) gives it as long again; more traffic decides sooner";
      progress->set_detail("paused: " + tick.why);
      return tick;
    }
  }
  const uint32_t left = step.bake_seconds() > progress->baked_seconds()
                            ? step.bake_seconds() - progress->baked_seconds()
                            : 0;
  if (left > 0) {
    progress->set_detail(
        "baking at " + where + ": " + DurationText(left) + " of passing analysis to go" +
        (progress->extended_seconds() > 0
             ? " (" + std::to_string(progress->extended_seconds()) + " s inconclusive so far)"
             : std::string()));
    return tick;
  }
  char figures[96];
  std::snprintf(figures, sizeof(figures), "%u passing seconds, %u inconclusive",
                progress->baked_seconds(), progress->extended_seconds());
  tick.why = where + " baked: " + figures;
  const bool last = static_cast<int>(progress->step()) + 1 >= plan.steps_size();
  if (step.gate() && !progress->gate_opened()) {
    tick.move = RolloutMove::kGate;
  } else {
    tick.move = last ? RolloutMove::kFinish : RolloutMove::kNextStep;
  }
  return tick;
}

}  // namespace greylane
