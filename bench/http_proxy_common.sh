# Sourced by the HTTP proxy benchmarks: their work folder, the upstream's
# answer, nginx, the agent's files and wrk's script, the same for every one
# of them so their figures compare.

# proxy_workdir NAME: a temporary folder in TMP; it and every process in
# PIDS go when the script exits.
proxy_workdir() {
  TMP=$(mktemp -d -t "$1.XXXXXX")
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
}

# proxy_tools TOOL...: AGENT (GREYLANE_AGENT, else the build's) and NGINX
# set, and each of them and every TOOL present, or the script stops.
proxy_tools() {
  AGENT=${GREYLANE_AGENT:-$ROOT/build/agent/greylane-agent}
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  local tool path
  for tool in "$AGENT" "$NGINX" "$@"; do
    path=$(command -v "$tool" || echo "$tool")
    [ -x "$path" ] || { echo "missing: $tool (./dev.sh bench installs it)" >&2; exit 1; }
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# What the upstreams answer: a fixed, non-streamed chat completion.
PROXY_ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'

# nginx_conf NAME WORKERS BODY [MAIN]: starts an nginx (NGINX) in TMP/NAME
# with BODY inside its http block and MAIN in its main context.
nginx_conf() {
  mkdir -p "$TMP/$1"
  cat > "$TMP/$1/nginx.conf" <<CONF
worker_processes $2;
${4:-}
pid $TMP/$1/nginx.pid;
error_log $TMP/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/$1/body;
  proxy_temp_path $TMP/$1/proxy;
  fastcgi_temp_path $TMP/$1/fastcgi;
  uwsgi_temp_path $TMP/$1/uwsgi;
  scgi_temp_path $TMP/$1/scgi;
  keepalive_requests 1000000;
  $3
}
CONF
  "$NGINX" -c "$TMP/$1/nginx.conf" -p "$TMP/$1" -g 'daemon off;' 2>"$TMP/$1/stderr" &
  PIDS+=($!)
}

# proxy_agent_files DIR AGENT_ID V1_URL V2_URL [EXTRA_YAML]: a token file
# and an agent config with two openai-http versions, 5 % to v2, in DIR.
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
${5:-}
YAML
}

# proxy_start_agent [DIR [BIN]]: the agent BIN (AGENT) on DIR's config
# (TMP/agent), in PIDS; AGENT_PID and AGENT_HTTP (its HTTP plane's
# host:port) set once it is ready, or the script stops with its log.
proxy_start_agent() {
  local dir=${1:-$TMP/agent} bin=${2:-$AGENT}
  "$bin" --config "$dir/agent.yaml" --ready-file "$dir/ready" >"$dir/log" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
  for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
  [ -s "$dir/ready" ] || { cat "$dir/log" >&2; exit 1; }
  AGENT_HTTP=$(sed -n 's/^http=//p' "$dir/ready")
}

# proxy_wait_nginx PORT: until the nginx proxy on PORT answers (5 s at most).
proxy_wait_nginx() {
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$1/v1/models" 2>/dev/null && return 0
    sleep 0.1
  done
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
