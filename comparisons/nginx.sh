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
