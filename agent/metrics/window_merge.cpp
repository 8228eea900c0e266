#include "agent/metrics/window_merge.h"

#include <algorithm>

namespace greylane {
namespace {
constexpr uint64_t GenerationTotals::*kGenerationCounters[] = {
    &GenerationTotals::answers,          &GenerationTotals::streams,
    &GenerationTotals::prompt_tokens,    &GenerationTotals::generation_tokens,
    &GenerationTotals::finish_stop,      &GenerationTotals::finish_length,
    &GenerationTotals::finish_other,     &GenerationTotals::missing_done,
    &GenerationTotals::missing_usage,    &GenerationTotals::truncated,
    &GenerationTotals::unexpected_finish};
constexpr LatencySketch GenerationTotals::*kGenerationSketches[] = {
    &GenerationTotals::ttft, &GenerationTotals::itl, &GenerationTotals::output_tokens};
}  // namespace

GenerationTotals GenerationDifference(const GenerationTotals& later,
                                      const GenerationTotals& earlier) {
  GenerationTotals d;
  for (const auto counter : kGenerationCounters) d.*counter = later.*counter - earlier.*counter;
  for (const auto sketch : kGenerationSketches) {
    d.*sketch = LatencySketch::Difference(later.*sketch, earlier.*sketch);
  }
  return d;
}

void AddGeneration(const v1::GenerationWindow& w, GenerationTotals* into) {
  const uint64_t counts[] = {w.answers(),           w.streams(),          w.prompt_tokens(),
                             w.generation_tokens(), w.finish_stop(),      w.finish_length(),
                             w.finish_other(),      w.missing_done(),     w.missing_usage(),
                             w.truncated(),         w.unexpected_finish()};
  static_assert(std::size(counts) == std::size(kGenerationCounters));
  for (size_t i = 0; i < std::size(counts); ++i) into->*kGenerationCounters[i] += counts[i];
  const v1::LatencySketch* sketches[] = {&w.ttft(), &w.itl(), &w.output_tokens()};
  for (size_t i = 0; i < std::size(sketches); ++i) {
    LatencySketch second;
    if (LatencySketch::FromProto(*sketches[i], &second))
      (into->*kGenerationSketches[i]).Merge(second);
  }
}

void ToGenerationWindow(const GenerationTotals& t, bool with_sketch, v1::VersionWindow* out) {
  if (t.answers == 0 && t.itl.Count() == 0 && t.ttft.Count() == 0 && t.missing_done == 0 &&
      t.truncated == 0) {
    out->clear_generation();
    return;
  }
  v1::GenerationWindow* g = out->mutable_generation();
  g->set_answers(t.answers);
  g->set_streams(t.streams);
  g->set_prompt_tokens(t.prompt_tokens);
  g->set_generation_tokens(t.generation_tokens);
  g->set_finish_stop(t.finish_stop);
  g->set_finish_length(t.finish_length);
  g->set_finish_other(t.finish_other);
  g->set_missing_done(t.missing_done);
  g->set_missing_usage(t.missing_usage);
  g->set_truncated(t.truncated);
  g->set_unexpected_finish(t.unexpected_finish);
  g->set_ttft_p50_ms(t.ttft.QuantileMillis(0.50));
  g->set_ttft_p90_ms(t.ttft.QuantileMillis(0.90));
  g->set_ttft_p99_ms(t.ttft.QuantileMillis(0.99));
  g->set_itl_p50_ms(t.itl.QuantileMillis(0.50));
  g->set_itl_p90_ms(t.itl.QuantileMillis(0.90));
  g->set_itl_p99_ms(t.itl.QuantileMillis(0.99));
  if (with_sketch) {
    t.ttft.ToProto(g->mutable_ttft());
    t.itl.ToProto(g->mutable_itl());
    t.output_tokens.ToProto(g->mutable_output_tokens());
  }
}

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
    if (w.has_generation()) AddGeneration(w.generation(), &it->generation);
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
  ToGenerationWindow(m.generation, with_sketch, v);
}

}  // namespace greylane
