# Shared set-up of the bats tests of scripts/*.sh (load with `load helpers`).
# shellcheck shell=bash

REPO_ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
FIXTURES="$BATS_TEST_DIRNAME/fixtures"
REAL_CURL="$(command -v curl)"
export REPO_ROOT FIXTURES REAL_CURL

common_setup() {
  # Nothing from the machine's environment may steer the scripts under test.
  unset CONTAINER_NAME BROKER_URL REDIS_CONTAINER DOCKER STATE_DIR FAILURE_THRESHOLD ALERT_COOLDOWN_MINUTES AUTO_RESTART
  unset ALERT_EMAIL_ENABLED SMTP_SERVER SMTP_PORT SMTP_USER SMTP_PASS ALERT_EMAIL_TO ALERT_EMAIL_FROM SMTP_TLS SMTP_INSECURE
  TMP="$BATS_TEST_TMPDIR"
  export FAKE_DOCKER_DIR="$TMP/docker"
  export FAKE_DOCKER_MOUNT_ROOT="$TMP/mnt"
  mkdir -p "$FAKE_DOCKER_DIR" "$FAKE_DOCKER_MOUNT_ROOT" "$TMP/bin"
  : >"$FAKE_DOCKER_DIR/calls.log"
  : >"$TMP/pids"
  export PATH="$TMP/bin:$FIXTURES/bin:$PATH"
}

common_teardown() {
  local pid
  if [[ -f $TMP/pids ]]; then
    while read -r pid; do
      if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
    done <"$TMP/pids"
  fi
}

# Copies the recorded containers of a scenario (test/scripts/fixtures/containers/<scenario>) into the fake daemon.
use_containers() {
  cp "$FIXTURES/containers/$1"/* "$FAKE_DOCKER_DIR/"
}

# Replaces one container's recorded state, as if it had changed between two runs.
set_container() { # <scenario> <name>
  cp "$FIXTURES/containers/$1/$2.inspect.json" "$FAKE_DOCKER_DIR/$2.inspect.json"
}

wait_for_file() { # <file> [seconds]
  local i
  for ((i = 0; i < ${2:-10} * 20; i++)); do
    [[ -s $1 ]] && return 0
    sleep 0.05
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# Starts test/scripts/http-stub.mjs; sets STUB_URL. Routes: stub_route <path> <status> <body>.
start_http_stub() {
  mkdir -p "$TMP/stub/routes"
  node "$BATS_TEST_DIRNAME/http-stub.mjs" "$TMP/stub" 3>&- >"$TMP/stub.log" 2>&1 &
  echo $! >>"$TMP/pids"
  wait_for_file "$TMP/stub/port"
  STUB_URL="http://127.0.0.1:$(cat "$TMP/stub/port")"
  export STUB_URL
}
stub_route() {
  printf '%s\n%s\n' "$2" "$3" >"$TMP/stub/routes/$(printf '%s' "$1" | sed 's/[^A-Za-z0-9]/_/g')"
}

# A self-signed certificate for the SMTP server, made with openssl at test time.
make_cert() {
  command -v openssl >/dev/null || skip "openssl is not installed"
  [[ -f $TMP/cert.pem ]] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
}

# Starts test/scripts/smtp-server.mjs in mode none|starttls|tls with AUTH user/password; sets SMTP_TEST_PORT.
start_smtp() { # <mode> <user> <password>
  local mode=$1
  mkdir -p "$TMP/mail"
  [[ $mode == none ]] || make_cert
  SMTP_TEST_USER=$2 SMTP_TEST_PASS=$3 node "$BATS_TEST_DIRNAME/smtp-server.mjs" "$TMP/mail" "$mode" "$TMP/key.pem" "$TMP/cert.pem" \
    3>&- >"$TMP/smtp.log" 2>&1 &
  echo $! >>"$TMP/pids"
  wait_for_file "$TMP/mail/port"
  SMTP_TEST_PORT=$(cat "$TMP/mail/port")
  export SMTP_TEST_PORT
}

mail_count() { find "$TMP/mail" -maxdepth 1 -name 'mail-*.json' 2>/dev/null | wc -l | tr -d ' '; }

# A field of a received mail: mail_field <n> <subject|body|user|secure|mailFrom|rcptTo>
mail_field() {
  node -e 'const m = require(process.argv[1]); const v = m[process.argv[2]]; process.stdout.write(Array.isArray(v) ? v.join(",") : String(v));' \
    "$TMP/mail/mail-$1.json" "$2"
}

# Wraps curl so that every command line it is started with is recorded in $TMP/curl-argv.log (what `ps` shows).
record_curl_argv() {
  cat >"$TMP/bin/curl" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$CURL_ARGV_LOG"
exec "$REAL_CURL" "$@"
EOF
  chmod +x "$TMP/bin/curl"
  export CURL_ARGV_LOG="$TMP/curl-argv.log"
  : >"$CURL_ARGV_LOG"
}

# Fails when grep finds something (a bare `! grep` would not fail a bats test: set -e ignores negation).
refute_grep() { # <grep args...>
  if grep "$@"; then
    echo "grep $* matched, it must not" >&2
    return 1
  fi
}

# Fails with the haystack shown when needle occurs in it.
refute_contains() { # <haystack> <needle>
  if [[ $1 == *"$2"* ]]; then
    printf 'unexpected "%s" in:\n%s\n' "$2" "$1" >&2
    return 1
  fi
}
assert_contains() { # <haystack> <needle>
  if [[ $1 != *"$2"* ]]; then
    printf 'expected "%s" in:\n%s\n' "$2" "$1" >&2
    return 1
  fi
}
