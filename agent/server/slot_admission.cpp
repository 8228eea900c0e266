#include "agent/server/slot_admission.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/text.h"

namespace greylane {
namespace {

std::string UtcTime(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[40];
  std::strftime(text, sizeof(text), "at %H:%M:%S UTC", &utc);
  return text;
}

std::string RateLimitText(const CanaryPair& pair, ReleaseRole role, const std::string& version) {
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%g", pair.LimitOf(role).PerSecond());
  return std::string("the ") + ReleaseRoleName(role) + " " + Quote(version) +
         " is at its rate limit of " + rate + " requests/s (" + ReleaseRoleName(role) +
         "_rate_limit in the analysis policy); retry with backoff";
}

SlotAdmission Refused(ReleaseRole role, grpc::StatusCode code, std::string why) {
  SlotAdmission a;
  a.role = role;
  a.refusal_code = code;
  a.refusal = std::move(why);
  return a;
}

// A supervised model server that is not answering its health URL yet.
bool Starting(const SlotVersion& version) {
  return version.process && !version.process->Ready();
}

std::string StartingText(const SlotVersion& version) {
  const ProcessStatus p = version.process->Status();
  return "the model server of version " + Quote(version.version) + " is not ready (" +
         ProcessStateName(p.state) + ": " + p.detail + "); retry shortly";
}

}  // namespace

int64_t SteadyNanos() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

SlotAdmission AdmitRequest(CanaryPair& pair, const SplitValue& split, ReleaseRole routed,
                           bool pinned) {
  const int64_t now = SteadyNanos();
  SlotAdmission a;
  a.role = routed;
  if (routed == ReleaseRole::kCandidate) {
    const SlotIndex slot = CanaryPair::SlotOf(ReleaseRole::kCandidate, split);
    if (Starting(pair.VersionAt(slot))) {
      // Nothing goes to a server that is not up: the baseline serves it.
      if (pinned)
        return Refused(routed, grpc::StatusCode::UNAVAILABLE, StartingText(pair.VersionAt(slot)));
      pair.RecorderAt(slot).RecordBreakerDiverted();
      routed = ReleaseRole::kBaseline;
    }
  }
  a.role = routed;
  if (routed == ReleaseRole::kCandidate) {
    const SlotIndex slot = CanaryPair::SlotOf(ReleaseRole::kCandidate, split);
    CircuitBreaker& breaker = pair.BreakerAt(slot);
    const BreakerAdmit admit = breaker.Admit(now, true);
    if (admit == BreakerAdmit::kRefused) {
      breaker.CountDiverted();
      pair.RecorderAt(slot).RecordBreakerDiverted();
      if (pinned) {
        const BreakerSnapshot b = breaker.Snapshot();
        // On the steady clock: a wall clock set back or forward meanwhile
        // must not tell clients to wait an hour, or not at all.
        const int64_t wait_ms = (b.retry_steady_ns - now) / 1'000'000;
        SlotAdmission refused = Refused(
            routed, grpc::StatusCode::UNAVAILABLE,
            "the candidate " + Quote(pair.VersionAt(slot).version) +
                " has its circuit breaker open after " + std::to_string(b.failures_to_open) +
                " consecutive server errors; trial requests start " + UtcTime(b.retry_unix_ms) +
                ". Unpinned requests are served by the baseline");
        refused.retry_after_s =
            static_cast<int>(std::clamp<int64_t>((wait_ms + 999) / 1000, 1, 3600));
        return refused;
      }
      a.role = ReleaseRole::kBaseline;
    } else if (!pair.LimitOf(ReleaseRole::kCandidate).TryTake(now)) {
      breaker.OnNeutral(admit == BreakerAdmit::kTrial);
      if (pinned) {
        pair.RecorderAt(slot).RecordRateLimited();
        return Refused(routed, grpc::StatusCode::RESOURCE_EXHAUSTED,
                       RateLimitText(pair, ReleaseRole::kCandidate, pair.VersionAt(slot).version));
      }
      pair.RecorderAt(slot).RecordSpilled();
      a.role = ReleaseRole::kBaseline;
    } else {
      a.trial = admit == BreakerAdmit::kTrial;
      a.admitted = true;
      return a;
    }
  }
  const SlotIndex slot = CanaryPair::SlotOf(ReleaseRole::kBaseline, split);
  if (Starting(pair.VersionAt(slot))) {
    return Refused(ReleaseRole::kBaseline, grpc::StatusCode::UNAVAILABLE,
                   StartingText(pair.VersionAt(slot)));
  }
  if (!pair.LimitOf(ReleaseRole::kBaseline).TryTake(now)) {
    pair.RecorderAt(slot).RecordRateLimited();
    return Refused(ReleaseRole::kBaseline, grpc::StatusCode::RESOURCE_EXHAUSTED,
                   RateLimitText(pair, ReleaseRole::kBaseline, pair.VersionAt(slot).version));
  }
  // The baseline's breaker reports and never sends production elsewhere.
  a.trial = pair.BreakerAt(slot).Admit(now, false) == BreakerAdmit::kTrial;
  a.admitted = true;
  return a;
}

void SettleBreaker(CanaryPair& pair, SlotIndex slot, const SlotVersion* served, bool trial,
                   ServedAs how, const std::string& error) {
  if (served != &pair.VersionAt(slot)) return;
  CircuitBreaker& breaker = pair.BreakerAt(slot);
  switch (how) {
    case ServedAs::kOk:
      breaker.OnSuccess(trial);
      break;
    case ServedAs::kClientError:
      breaker.OnNeutral(trial);
      break;
    case ServedAs::kServerError:
      breaker.OnFailure(trial, SteadyNanos(), error);
      break;
  }
}

}  // namespace greylane
