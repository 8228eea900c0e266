# Sourced by the HTTP proxy benchmarks: the agent's files and wrk's script,
# the same for every one of them so their figures compare.

# proxy_agent_files DIR AGENT_ID V1_URL V2_URL: a token file and an agent
# config with two openai-http versions, 5 % to v2, in DIR.
proxy_agent_files() {
  mkdir -p "$1"
  printf '%s bench viewer\n' "$(printf %s bench-token | sha256sum | cut -c1-64)" > "$1/tokens"
  chmod 600 "$1/tokens"
  cat > "$1/agent.yaml" <<YAML
agent_id: $2
model: m
control_listen: 127.0.0.1:0
data_listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
state_dir: $1/state
tokens_file: $1/tokens
initial_candidate_basis_points: 500
baseline: {version: v1, backend: openai-http, address: "$3", connections: 64}
candidate: {version: v2, backend: openai-http, address: "$4", connections: 64}
analysis: {armed: false}
YAML
}

# proxy_chat_lua FILE: non-streamed chat requests from 5000 users
# (x-user-id), as a gateway sees them.
proxy_chat_lua() {
  cat > "$1" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"m","messages":[{"role":"user","content":"Say hello"}],"max_tokens":8}'
local n = 0
request = function()
  n = n + 1
  wrk.headers["x-user-id"] = "user-" .. (n % 5000)
  return wrk.format(nil, "/v1/chat/completions")
end
LUA
}
