#include "agent/metrics/window_merge.h"

#include <algorithm>

namespace greylane {

void MergeFrame(std::vector<MergedWindow>* into, const v1::MetricsFrame& frame) {
  for (const v1::VersionWindow& w : frame.versions()) {
    auto it = std::find_if(into->begin(), into->end(), [&](const MergedWindow& m) {
      return m.slot == w.slot() && m.version == w.version();
    });
    if (it == into->end()) {
      into->push_back({});
      it = into->end() - 1;
      it->slot = w.slot();
      it->version = w.version();
    }
    it->requests += w.requests();
    it->server_errors += w.server_errors();
    it->client_errors += w.client_errors();
    it->rate_limited += w.rate_limited();
    it->spilled += w.spilled();
    it->breaker_diverted += w.breaker_diverted();
    it->outcomes += w.outcomes();
    it->incorrect += w.incorrect();
    AddPredictions(w, &it->predictions);
    it->max_ms = std::max(it->max_ms, w.latency_max_ms());
    it->in_flight = w.in_flight();
    LatencySketch second;
    if (LatencySketch::FromProto(w.latency(), &second)) it->latency.Merge(second);
  }
}

void AddPredictions(const v1::VersionWindow& window, std::vector<uint64_t>* into) {
  const size_t classes =
      std::min<size_t>(static_cast<size_t>(window.predictions_size()), kPredictionClasses);
  if (into->size() < classes) into->resize(classes, 0);
  for (int c = 0; c < window.predictions_size(); ++c) {
    (*into)[std::min(static_cast<size_t>(c), classes - 1)] += window.predictions(c);
  }
}

void SetPredictions(std::span<const uint64_t> counts, v1::VersionWindow* out) {
  size_t used = counts.size();
  while (used > 0 && counts[used - 1] == 0) --used;
  out->clear_predictions();
  for (size_t c = 0; c < used; ++c) out->add_predictions(counts[c]);
}

void ToVersionWindow(const MergedWindow& m, bool with_sketch, v1::VersionWindow* v) {
  v->set_slot(m.slot);
  v->set_version(m.version);
  v->set_requests(m.requests);
  v->set_server_errors(m.server_errors);
  v->set_client_errors(m.client_errors);
  v->set_rate_limited(m.rate_limited);
  v->set_spilled(m.spilled);
  v->set_breaker_diverted(m.breaker_diverted);
  v->set_outcomes(m.outcomes);
  v->set_incorrect(m.incorrect);
  SetPredictions(m.predictions, v);
  v->set_latency_p50_ms(m.latency.QuantileMillis(0.50));
  v->set_latency_p90_ms(m.latency.QuantileMillis(0.90));
  v->set_latency_p99_ms(m.latency.QuantileMillis(0.99));
  v->set_latency_p999_ms(m.latency.QuantileMillis(0.999));
  v->set_latency_max_ms(m.latency.Count() ? m.max_ms : 0.0);
  v->set_in_flight(m.in_flight);
  if (with_sketch) m.latency.ToProto(v->mutable_latency());
}

}  // namespace greylane
