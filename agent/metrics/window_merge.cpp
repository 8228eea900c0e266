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
    it->max_ms = std::max(it->max_ms, w.latency_max_ms());
    it->in_flight = w.in_flight();
    LatencySketch second;
    if (LatencySketch::FromProto(w.latency(), &second)) it->latency.Merge(second);
  }
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
  v->set_latency_p50_ms(m.latency.QuantileMillis(0.50));
  v->set_latency_p90_ms(m.latency.QuantileMillis(0.90));
  v->set_latency_p99_ms(m.latency.QuantileMillis(0.99));
  v->set_latency_p999_ms(m.latency.QuantileMillis(0.999));
  v->set_latency_max_ms(m.latency.Count() ? m.max_ms : 0.0);
  v->set_in_flight(m.in_flight);
  if (with_sketch) m.latency.ToProto(v->mutable_latency());
}

}  // namespace greylane
