# Sourced by the comparison scripts: a free port, and a throwaway nginx under a folder.
#
#   free_port                              a free TCP port on 127.0.0.1
#   start_nginx DIR SERVER [HTTP] [MAIN]   writes DIR/nginx.conf (2 workers, no access log,
#                                          long keep-alive, temporary files under DIR/tmp),
#                                          with SERVER as the server block's body, HTTP as
#                                          more http-level lines and MAIN as lines before
#                                          everything (load_module), and starts nginx;
#                                          stop it with: kill "$(cat DIR/nginx.pid)"
#   wait_for URL                           waits (at most 5 s) until URL answers
#   need_tools CMD:PKG...                  installs (as root) the Debian package PKG of each
#                                          command CMD that is missing, or names them and exits
#   need_packages PKG...                   the same for packages known to be missing
#   scratch_dir NAME                       makes $work, a temporary folder removed on exit
#                                          with the nginx started in it

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_nginx() {
  local dir=$1 server=$2 http=${3:-} main=${4:-}
  mkdir -p "$dir/tmp"
  {
    [ -n "$main" ] && printf '%s\n' "$main"
    printf 'worker_processes 2;\npid %s/nginx.pid;\nerror_log %s/error.log;\n' "$dir" "$dir"
    printf 'events { worker_connections 16384; }\nhttp {\n'
    printf '  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 60;\n'
    for kind in client_body proxy fastcgi uwsgi scgi; do
      printf '  %s_temp_path %s/tmp/%s;\n' "$kind" "$dir" "${kind%_body}"
    done
    [ -n "$http" ] && printf '  %s\n' "$http"
    printf '  server { %s }\n}\n' "$server"
  } > "$dir/nginx.conf"
  nginx -c "$dir/nginx.conf" -p "$dir"
}

wait_for() {
  for _ in $(seq 50); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nginx did not answer $1" >&2
  return 1
}

need_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  need_packages "${missing[@]}"
}

need_packages() {
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing tools: sudo apt-get install $*" >&2
    exit 1
  fi
}

scratch_dir() {
  work=$(mktemp -d "/tmp/fetchpool-$1.XXXXXX")
  chmod 755 "$work"
  trap remove_scratch EXIT INT TERM
}

remove_scratch() {
  if [ -f "$work/nginx.pid" ]; then
    kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    sleep 0.2
  fi
  rm -rf "$work"
}
