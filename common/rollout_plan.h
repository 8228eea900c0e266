#pragma once
// Rollout plans: what makes one valid, how it reads to a person, the
// presets the console and greylane-ctl offer, and what one judged second
// does to a plan that is baking. Shared by the agent (which walks plans)
// and the console (which edits and shows them), so both say the same.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "greylane/v1/agent.pb.h"

namespace greylane {

inline constexpr uint32_t kMaxRolloutSteps = 100;
inline constexpr uint32_t kMaxBakeSeconds = 7 * 24 * 3600;
inline constexpr uint32_t kDefaultMaxExtendSeconds = 300;
inline constexpr size_t kMaxPlanNameBytes = 200;

// Empty when the plan can be walked, else what to fix (naming the step).
std::string RolloutPlanProblem(const v1::RolloutPlan& plan);
uint32_t MaxExtendSeconds(const v1::RolloutPlan& plan);  // 0 means the default
bool RolloutActive(v1::RolloutPhase phase);              // baking, at a gate or paused

// "10 %" (or "0.5 %") for basis points.
std::string PercentText(uint32_t basis_points);
// "1 % for 2 min → 5 % for 2 min → ... → 100 % for 2 min, then promote"
std::string DescribePlan(const v1::RolloutPlan& plan);
// "step 3 of 6 (10 %)"
std::string StepText(const v1::RolloutPlan& plan, uint32_t step);
// "1 h 30 min", "2 min", "45 s"
std::string DurationText(uint64_t seconds);

// "10" or "0.5" (percent, in 0.01 steps) as basis points; false if not one.
bool ParsePercentText(std::string_view text, uint32_t* basis_points);
// Steps from percentages separated by commas ("1,5,25,100"), each baking
// `bake_seconds`, appended to `plan`. Empty on success, else what to fix.
std::string AddStepsFromText(std::string_view percents, uint32_t bake_seconds,
                             v1::RolloutPlan* plan);
// Marks the steps with these weights ("50,100") as gates; else what to fix.
std::string MarkGatesFromText(std::string_view percents, v1::RolloutPlan* plan);

struct RolloutPreset {
  std::string key;  // for command lines: "canary", "hourly"
  v1::RolloutPlan plan;
};
// 1 → 5 → 10 → 25 → 50 → 100 %, 2 minutes each; and +10 % per hour.
std::vector<RolloutPreset> RolloutPresets();

enum class RolloutMove {
  kStay,      // keep baking (the counts in the progress moved)
  kNextStep,  // the step baked: on to the next weight
  kGate,      // the step baked and has a gate: wait for ResumeRollout
  kFinish,    // the last step baked (and its gate, if any, was opened)
  kPause,     // stop here and say why
};
struct RolloutTick {
  RolloutMove move = RolloutMove::kStay;
  std::string why;  // for kPause, and the evidence of a move
};

// One judged second for a rollout that is baking: a second whose checks
// all pass counts toward the bake; an inconclusive or warning one
// extends it, up to the plan's limit, then the rollout pauses; a failure
// pauses it when the analysis is not armed (armed, the analysis rolls back
// and that ends the rollout). At 100 % there is no baseline traffic to
// compare with, so a second counts when no check fails. Updates
// `progress`'s counts and detail.
RolloutTick JudgeRolloutSecond(v1::RolloutProgress* progress, const v1::AnalysisVerdict& verdict);

}  // namespace greylane
