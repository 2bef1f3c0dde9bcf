// Reading the request fields that /v1/completions and /v1/chat/completions
// share: the model name, sampling settings (OpenAI's and vLLM's extras),
// streaming options, fields we refuse, and fitting max_tokens to the
// context. Everything is checked here; nothing reaches the engine unchecked.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "generation_job.h"
#include "json_fields.h"
#include "tessera/server/backend.h"

namespace tessera::server {

struct StreamFields {
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
};

// 404 unless `model` is absent or one of `served_names`.
void check_model(JsonFields& fields, const std::vector<std::string>& served_names);

StreamFields read_stream_fields(JsonFields& fields);
// The reply settings both OpenAI routes take from the request.
JobSettings job_settings(const StreamFields& stream, const SamplingOptions& sampling);

// temperature, top_p, top_k, min_p, penalties, logit_bias, seed, stop,
// stop_token_ids, n, best_of, beam search, min_tokens, ignore_eos,
// skip_special_tokens, include_stop_str_in_output... (not max_tokens).
void read_sampling_fields(JsonFields& fields, SamplingOptions& sampling,
                          const ServingBackend& backend, int max_n);

// 400 for fields we know but do not implement yet (tools, response_format
// with a schema, guided decoding, ...); reads the harmless ones (user,
// metadata, store, ...) so that they are not reported as unknown.
void reject_unsupported_fields(JsonFields& fields);

// Sets sampling.max_tokens: `requested` when given (checked against the
// context), else `default_max` clipped to what the context leaves (-1: all
// of it). 400 naming both lengths when the prompt does not fit.
void fit_max_tokens(SamplingOptions& sampling, std::optional<int64_t> requested, int default_max,
                    int prompt_tokens, int max_model_len, const char* prompt_word);

// `truncate_prompt_tokens`: keep the last k prompt tokens.
void truncate_prompt(std::vector<int32_t>& ids, std::optional<int64_t> keep_last);

}  // namespace tessera::server
