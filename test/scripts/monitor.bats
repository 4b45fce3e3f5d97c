#!/usr/bin/env bats
# scripts/monitor.sh: recorded containers (fake docker), a stub broker over real HTTP, and a real SMTP server
# with AUTH on loopback (test/scripts/smtp-server.mjs) that receives the alert and recovery mails.

load helpers

SMTP_TEST_USER_NAME="alerts@example.com"
# quotes, a backslash and a colon: the password must survive curl's config syntax
SMTP_TEST_PASSWORD='Pw-"7q\x:Zk93-monitor'

setup() {
  common_setup
  MONITOR="$REPO_ROOT/scripts/monitor.sh"
  export STATE_DIR="$TMP/state"
  export BROKER_URL=none
  export ALERT_COOLDOWN_MINUTES=60
  use_containers unhealthy
  : >"$TMP/cron.log"
}

teardown() {
  common_teardown
}

mail_env() { # <mode>
  export ALERT_EMAIL_ENABLED=true SMTP_SERVER=127.0.0.1 SMTP_PORT=$SMTP_TEST_PORT SMTP_TLS=$1 SMTP_INSECURE=true
  export SMTP_USER=$SMTP_TEST_USER_NAME SMTP_PASS=$SMTP_TEST_PASSWORD ALERT_EMAIL_FROM=$SMTP_TEST_USER_NAME
  export ALERT_EMAIL_TO="ops@example.com, oncall@example.com"
}

# one cron run: appends to the cron log like `>> monitor.cron.log 2>&1`, and checks it printed exactly one line
monitor_run() {
  run bash "$MONITOR" "$@"
  printf '%s\n' "$output" >>"$TMP/cron.log"
  echo "$output"
  [ "${#lines[@]}" -eq 1 ]
  [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4}\ container=wechat-token-broker\ status= ]]
}

restarts() { grep -c '^docker restart' "$FAKE_DOCKER_DIR/calls.log" || true; }

@test "an unhealthy container is restarted after FAILURE_THRESHOLD failed runs, not before" {
  export FAILURE_THRESHOLD=3
  monitor_run
  assert_contains "$output" 'status=unhealthy failures=1/3 check="docker healthcheck: unhealthy (unhealthy: HTTP 503'
  assert_contains "$output" 'action="none (failure 1 of 3 before a restart)"'
  [ "$(restarts)" -eq 0 ]
  monitor_run
  assert_contains "$output" "failures=2/3"
  [ "$(restarts)" -eq 0 ]
  monitor_run
  assert_contains "$output" "failures=3/3"
  assert_contains "$output" 'action="restarted; no alert mail (ALERT_EMAIL_ENABLED is not true)"'
  [ "$(restarts)" -eq 1 ]
  grep -qx 'docker restart -t 30 wechat-token-broker' "$FAKE_DOCKER_DIR/calls.log"
  # the count starts again: the next restart needs three more failures
  monitor_run
  assert_contains "$output" "failures=1/3"
  monitor_run
  [ "$(restarts)" -eq 1 ]
  monitor_run
  [ "$(restarts)" -eq 2 ]
}

@test "a healthy run resets the count: failures must be consecutive" {
  export FAILURE_THRESHOLD=2
  monitor_run
  set_container healthy wechat-token-broker
  monitor_run
  assert_contains "$output" 'status=running failures=0/2 check="none"'
  set_container unhealthy wechat-token-broker
  monitor_run
  assert_contains "$output" "failures=1/2"
  [ "$(restarts)" -eq 0 ]
}

@test "one alert mail per incident over STARTTLS with AUTH, then one recovery mail" {
  start_smtp starttls "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env starttls
  export FAILURE_THRESHOLD=2
  monitor_run
  [ "$(mail_count)" -eq 0 ]
  monitor_run
  assert_contains "$output" 'action="restarted; alert mail sent"'
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_count)" -eq 1 ]

  # the mail, as the server received it
  [ "$(mail_field 1 user)" = "$SMTP_TEST_USER_NAME" ]
  [ "$(mail_field 1 secure)" = true ]
  [ "$(mail_field 1 mailFrom)" = "$SMTP_TEST_USER_NAME" ]
  [ "$(mail_field 1 rcptTo)" = "ops@example.com,oncall@example.com" ]
  local subject body
  subject=$(mail_field 1 subject)
  [ "$subject" = "[wechat-token-broker] 告警 ALERT: container wechat-token-broker unhealthy on $(hostname)" ]
  body=$(mail_field 1 body)
  echo "$body"
  assert_contains "$body" "容器 Container:          wechat-token-broker"
  assert_contains "$body" "状态 State:              status=running health=unhealthy"
  assert_contains "$body" "失败的检查 Failing check: docker healthcheck: unhealthy (unhealthy: HTTP 503 from http://127.0.0.1:8084/api/health/live in 11 ms)"
  assert_contains "$body" "连续失败 Failures:       2 次检查 checks in a row (阈值 threshold 2)"
  assert_contains "$body" "已采取的措施 Action:     已重启 restarted: docker restart wechat-token-broker"
  assert_contains "$body" "bash $REPO_ROOT/scripts/diagnose.sh wechat-token-broker"
  assert_contains "$body" "diagnose.sh wechat-token-broker --bundle"

  # still failing: more restarts, no more mail
  monitor_run
  monitor_run
  assert_contains "$output" 'action="restarted"'
  [ "$(restarts)" -eq 2 ]
  monitor_run
  sleep 0.3
  [ "$(mail_count)" -eq 1 ]

  # healthy again: one recovery mail, with what happened
  set_container healthy wechat-token-broker
  monitor_run
  assert_contains "$output" 'status=running failures=0/2 check="none" action="recovered, recovery mail sent"'
  wait_for_file "$TMP/mail/mail-2.json"
  subject=$(mail_field 2 subject)
  [ "$subject" = "[wechat-token-broker] 恢复 RECOVERED: container wechat-token-broker healthy again on $(hostname)" ]
  body=$(mail_field 2 body)
  echo "$body"
  assert_contains "$body" "状态 State:              status=running health=healthy"
  assert_contains "$body" "期间自动重启 Restarts by the monitor: 2"
  assert_contains "$body" "docker logs --since"
  # and nothing more while it stays healthy
  monitor_run
  assert_contains "$output" 'action="none"'
  sleep 0.3
  [ "$(mail_count)" -eq 2 ]
  # every AUTH succeeded, with the configured user
  [ "$(sort -u "$TMP/mail/auth.log")" = "ok $SMTP_TEST_USER_NAME" ]
}

@test "a new incident inside the cool-down sends no alert (and so no recovery mail)" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env none
  export FAILURE_THRESHOLD=1
  monitor_run
  assert_contains "$output" "alert mail sent"
  set_container healthy wechat-token-broker
  monitor_run
  assert_contains "$output" "recovery mail sent"
  set_container unhealthy wechat-token-broker
  monitor_run
  assert_contains "$output" 'alert suppressed (cool-down: last alert 0m ago < 60m)'
  set_container healthy wechat-token-broker
  monitor_run
  assert_contains "$output" "recovered (no alert had been sent)"
  sleep 0.3
  [ "$(mail_count)" -eq 2 ]
  # over plain SMTP (SMTP_TLS=none) AUTH still happened
  [ "$(mail_field 1 secure)" = false ]
  [ "$(mail_field 1 user)" = "$SMTP_TEST_USER_NAME" ]
  # with no cool-down the next incident is mailed again
  export ALERT_COOLDOWN_MINUTES=0
  set_container unhealthy wechat-token-broker
  monitor_run
  assert_contains "$output" "alert mail sent"
  wait_for_file "$TMP/mail/mail-3.json"
}

@test "implicit TLS (smtps, SMTP_TLS=tls) delivers the alert" {
  start_smtp tls "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env tls
  export FAILURE_THRESHOLD=1
  monitor_run
  assert_contains "$output" "alert mail sent"
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_field 1 secure)" = true ]
  assert_contains "$(mail_field 1 subject)" "告警 ALERT: container wechat-token-broker unhealthy"
}

@test "the SMTP password is never in the output, the cron log, the state files, or curl's command line" {
  start_smtp starttls "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env starttls
  record_curl_argv
  export FAILURE_THRESHOLD=1
  monitor_run
  assert_contains "$output" "alert mail sent"
  set_container healthy wechat-token-broker
  monitor_run
  assert_contains "$output" "recovery mail sent"
  # a wrong password: the failure is reported, neither password is shown
  export SMTP_PASS='Wr0ng-"secret\pw'
  export ALERT_COOLDOWN_MINUTES=0
  set_container unhealthy wechat-token-broker
  monitor_run
  assert_contains "$output" "alert mail not sent: curl exit 67: login denied: check SMTP_USER and SMTP_PASS"
  grep -q "^fail $SMTP_TEST_USER_NAME" "$TMP/mail/auth.log"
  wait_for_file "$TMP/mail/mail-2.json"
  [ "$(mail_count)" -eq 2 ]

  # curl really ran for each mail, and its command lines (what `ps` shows) carry no password
  [ "$(grep -c -- '--mail-from' "$CURL_ARGV_LOG")" -eq 3 ]
  grep -q -- '-K /dev/fd/' "$CURL_ARGV_LOG"
  local p
  for p in "$SMTP_TEST_PASSWORD" 'Wr0ng-"secret\pw' '7q\x:Zk93' 'secret\pw'; do
    refute_grep -rqF -- "$p" "$TMP/cron.log" "$STATE_DIR" "$CURL_ARGV_LOG" "$FAKE_DOCKER_DIR/calls.log"
  done
  # no temporary file is left behind in the state directory
  [ -z "$(find "$STATE_DIR" -name '.run.*')" ]
  # the state file is private
  [ "$(stat -c %a "$STATE_DIR")" = 700 ]
}

@test "alive but not ready (503 from /api/health/ready, Redis down): alerted, not restarted" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env none
  start_http_stub
  set_container healthy wechat-token-broker
  stub_route /api/health/ready 503 '{"status":"not_ready","store":{"mode":"redis","ok":false,"error":"not connected"}}'
  export BROKER_URL=$STUB_URL FAILURE_THRESHOLD=2
  monitor_run
  assert_contains "$output" "status=not-ready failures=1/2 check=\"GET $STUB_URL/api/health/ready → HTTP 503 {'status':'not_ready','store':{'mode':'redis','ok':false,'error':'not connected'}}"
  monitor_run
  assert_contains "$output" 'action="no restart (alive but not ready: check Redis); alert mail sent"'
  [ "$(restarts)" -eq 0 ]
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_field 1 subject)" = "[wechat-token-broker] 告警 ALERT: container wechat-token-broker not ready on $(hostname)" ]
  assert_contains "$(mail_field 1 body)" "a restart would not help"
  stub_route /api/health/ready 200 '{"status":"ready"}'
  monitor_run
  assert_contains "$output" 'status=running failures=0/2 check="none" action="recovered, recovery mail sent"'
  [ "$(grep -c '^GET /api/health/ready$' "$TMP/stub/requests.log")" -eq 3 ]
}

@test "ready 200 but serving_cached (Redis down, tokens served from memory): alerted, never restarted, not even with RESTART_ON_NOT_READY=true" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env none
  start_http_stub
  set_container healthy wechat-token-broker
  stub_route /api/health/ready 200 '{"status":"serving_cached","store":{"mode":"redis","ok":false,"error":"not connected"},"cached":{"accounts":2,"of":3}}'
  export BROKER_URL=$STUB_URL FAILURE_THRESHOLD=2 RESTART_ON_NOT_READY=true
  monitor_run
  assert_contains "$output" "status=serving-cached failures=1/2 check=\"GET $STUB_URL/api/health/ready → 200 serving_cached (Redis unreachable, tokens served from memory) {'status':'serving_cached'"
  monitor_run
  assert_contains "$output" 'action="no restart (serving cached tokens: check Redis); alert mail sent"'
  [ "$(restarts)" -eq 0 ]
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_field 1 subject)" = "[wechat-token-broker] 告警 ALERT: container wechat-token-broker serving cached tokens (Redis unreachable) on $(hostname)" ]
  assert_contains "$(mail_field 1 body)" "a restart would throw them away"
  assert_contains "$(mail_field 1 body)" '"cached":{"accounts":2,"of":3}'
  stub_route /api/health/ready 200 '{"status":"ready"}'
  monitor_run
  assert_contains "$output" 'status=running failures=0/2 check="none" action="recovered, recovery mail sent"'
}

@test "RESTART_ON_NOT_READY=true restarts a broker that is not ready; no answer at all restarts it anyway" {
  start_http_stub
  set_container healthy wechat-token-broker
  stub_route /api/health/ready 503 '{"status":"not_ready"}'
  export BROKER_URL=$STUB_URL FAILURE_THRESHOLD=1 RESTART_ON_NOT_READY=true
  monitor_run
  assert_contains "$output" 'action="restarted'
  [ "$(restarts)" -eq 1 ]
  # nothing listening: the process does not answer, a restart may help
  export BROKER_URL=http://127.0.0.1:1 RESTART_ON_NOT_READY=false
  monitor_run
  assert_contains "$output" "status=unreachable"
  [ "$(restarts)" -eq 2 ]
}

@test "without BROKER_URL the ready URL comes from the published port" {
  set_container healthy wechat-token-broker
  unset BROKER_URL
  export FAILURE_THRESHOLD=5
  monitor_run
  # the fixture publishes 127.0.0.1:8084, where nothing listens in the test
  assert_contains "$output" "GET http://127.0.0.1:8084/api/health/ready"
  # a broker serving TLS is asked over https
  sed -i 's|"PORT=8084",|"PORT=8084", "TLS_PFX_FILE=/run/config/tls.pfx",|' "$FAKE_DOCKER_DIR/wechat-token-broker.inspect.json"
  monitor_run
  assert_contains "$output" "GET https://127.0.0.1:8084/api/health/ready"
}

@test "a container that exited with restart policy 'no': restarted, and the alert says how to fix the policy" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env none
  use_containers restart-no
  export CONTAINER_NAME=wechat-api FAILURE_THRESHOLD=1
  run bash "$MONITOR"
  echo "$output"
  [ "${#lines[@]}" -eq 1 ]
  assert_contains "$output" 'container=wechat-api status=exited failures=1/1 check="container is exited (exit code 139)" action="restarted; alert mail sent"'
  grep -qx 'docker restart -t 30 wechat-api' "$FAKE_DOCKER_DIR/calls.log"
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_field 1 subject)" = "[wechat-token-broker] 告警 ALERT: container wechat-api exited on $(hostname)" ]
  assert_contains "$(mail_field 1 body)" "docker update --restart unless-stopped wechat-api"
}

@test "a missing container is not restarted; the alert says it is missing" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  mail_env none
  export CONTAINER_NAME=wechat-token-broker FAILURE_THRESHOLD=1
  rm "$FAKE_DOCKER_DIR/wechat-token-broker.inspect.json"
  monitor_run
  assert_contains "$output" 'status=missing failures=1/1 check="container wechat-token-broker does not exist" action="cannot restart (no such container); alert mail sent"'
  [ "$(restarts)" -eq 0 ]
  wait_for_file "$TMP/mail/mail-1.json"
  assert_contains "$(mail_field 1 subject)" "container wechat-token-broker missing on"
}

@test "Docker unreachable counts as a failure but nothing is restarted" {
  export FAILURE_THRESHOLD=1
  touch "$FAKE_DOCKER_DIR/fail-inspect"
  monitor_run
  assert_contains "$output" 'status=docker-error failures=1/1 check="docker inspect failed: Cannot connect to the Docker daemon'
  assert_contains "$output" "cannot restart (docker error)"
  [ "$(restarts)" -eq 0 ]
}

@test "a maintenance file pauses the monitor" {
  export FAILURE_THRESHOLD=1
  mkdir -p "$STATE_DIR"
  touch "$STATE_DIR/wechat-token-broker.maintenance"
  monitor_run
  assert_contains "$output" "status=maintenance"
  [ "$(restarts)" -eq 0 ]
}

@test "AUTO_RESTART=false only alerts" {
  export FAILURE_THRESHOLD=1 AUTO_RESTART=false
  monitor_run
  assert_contains "$output" "no restart (AUTO_RESTART=false)"
  [ "$(restarts)" -eq 0 ]
}

@test "--config reads a file of plain assignments (no export needed)" {
  start_smtp none "$SMTP_TEST_USER_NAME" "$SMTP_TEST_PASSWORD"
  cat >"$TMP/monitor-config.env" <<EOF
ALERT_EMAIL_ENABLED=true
SMTP_SERVER=127.0.0.1
SMTP_PORT=$SMTP_TEST_PORT
SMTP_TLS=none
SMTP_USER=$SMTP_TEST_USER_NAME
SMTP_PASS='$(printf '%s' "$SMTP_TEST_PASSWORD" | sed "s/'/'\\\\''/g")'
ALERT_EMAIL_TO=ops@example.com
FAILURE_THRESHOLD=1
EOF
  monitor_run --config "$TMP/monitor-config.env"
  assert_contains "$output" "alert mail sent"
  wait_for_file "$TMP/mail/mail-1.json"
  [ "$(mail_field 1 rcptTo)" = "ops@example.com" ]
}

@test "the example config, sourced by cron's sh, exports what monitor.sh needs" {
  # cron runs `. monitor-config.env && bash monitor.sh`: only exported variables reach the script
  run sh -c ". '$REPO_ROOT/scripts/monitor-config.env.example' && bash -c 'echo \$SMTP_SERVER \$ALERT_EMAIL_TO \$FAILURE_THRESHOLD \$CONTAINER_NAME'"
  [ "$output" = "smtp.139.com ops@example.com,oncall@example.com 3 wechat-token-broker" ]
}

@test "bad settings: one log line with status=config-error and exit 2" {
  export FAILURE_THRESHOLD=three
  run bash "$MONITOR"
  [ "$status" -eq 2 ]
  [ "${#lines[@]}" -eq 1 ]
  assert_contains "$output" 'status=config-error'
  assert_contains "$output" "FAILURE_THRESHOLD must be a whole number (got 'three')"
  export FAILURE_THRESHOLD=3 SMTP_TLS=ssl
  run bash "$MONITOR"
  [ "$status" -eq 2 ]
  assert_contains "$output" "SMTP_TLS must be none, starttls or tls"
}
