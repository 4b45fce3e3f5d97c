#!/usr/bin/env bash
# 自愈监控 / Self-healing monitor for the broker container, run from cron, with SMTP mail alerts.
#
#   bash scripts/monitor.sh [--config monitor-config.env]
#
# crontab (crontab -e), every 5 minutes; either line works:
#   */5 * * * * /bin/bash /opt/wechat-token-broker/scripts/monitor.sh --config /opt/wechat-token-broker/scripts/monitor-config.env >> /var/log/wechat-token-broker-monitor.cron.log 2>&1
#   */5 * * * * . /opt/wechat-token-broker/scripts/monitor-config.env && /bin/bash /opt/wechat-token-broker/scripts/monitor.sh >> /var/log/wechat-token-broker-monitor.cron.log 2>&1
# (cron runs /bin/sh: use `.` rather than `source` there, and `export` the variables in the config file.)
#
# Each run checks that the container is running, that Docker does not report it unhealthy, and that the broker
# answers GET $BROKER_URL/api/health/ready with 200. After FAILURE_THRESHOLD failed runs in a row it restarts
# the container (docker restart) and mails ONE alert for the incident; when the container is healthy again
# it mails a recovery notice. A new incident within ALERT_COOLDOWN_MINUTES of the last alert gets no mail.
# A broker that is alive but not ready (its Redis is down) is alerted on, not restarted: a restart cannot fix
# Redis (set RESTART_ON_NOT_READY=true to restart anyway; watch Redis with a second cron line instead). One that
# answers 200 "serving_cached" (Redis down, tokens still served from memory) is alerted on and never restarted:
# a restart would throw away the tokens it is serving.
# Each run prints exactly one log line: time, container, status, failures, failing check, action.
#
# Settings (environment or the --config file; see monitor-config.env.example):
#   CONTAINER_NAME (wechat-token-broker)  BROKER_URL (from the published port, else http://127.0.0.1:8084;
#   "none" skips the HTTP check)  FAILURE_THRESHOLD (3)  ALERT_COOLDOWN_MINUTES (60)  AUTO_RESTART (true)
#   RESTART_ON_NOT_READY (false)
#   STATE_DIR (/var/tmp/wechat-token-broker-monitor)  DOCKER (docker)
#   ALERT_EMAIL_ENABLED (false)  SMTP_SERVER  SMTP_PORT  SMTP_USER  SMTP_PASS  ALERT_EMAIL_TO (a,b)
#   ALERT_EMAIL_FROM (SMTP_USER)  SMTP_TLS (none|starttls|tls; default tls on port 465, else starttls)
#   SMTP_INSECURE (false; true skips certificate verification)
# A file $STATE_DIR/<container>.maintenance pauses the monitor for that container (touch it before planned work).
# The SMTP password is handed to curl through a config on a file descriptor: it is never on a command line
# (ps), in the log or in the state files.
set -euo pipefail
umask 077

# ---- the one log line ------------------------------------------------------------------------------------
LOGGED=0
STATUS="unknown"
CHECK=""
ACTION="none"
FAILURES=0
FAILURE_THRESHOLD=${FAILURE_THRESHOLD:-3}
CONTAINER_NAME=${CONTAINER_NAME:-wechat-token-broker}
SMTP_PASS=${SMTP_PASS:-}
TMP_DIR=""
stamp() { date '+%Y-%m-%dT%H:%M:%S%z'; }
log_line() {
  ((LOGGED == 0)) || return 0
  LOGGED=1
  local check=${CHECK//\"/\'} action=${ACTION//\"/\'}
  # nothing secret may reach the log, whatever a tool printed
  if [[ -n $SMTP_PASS ]]; then
    check=${check//"$SMTP_PASS"/***}
    action=${action//"$SMTP_PASS"/***}
  fi
  printf '%s container=%s status=%s failures=%s/%s check="%s" action="%s"\n' \
    "$(stamp)" "$CONTAINER_NAME" "$STATUS" "$FAILURES" "$FAILURE_THRESHOLD" "${check:-none}" "$action"
}
# shellcheck disable=SC2317 # called by the trap
on_exit() {
  local rc=$?
  [[ -z $TMP_DIR ]] || rm -rf "$TMP_DIR"
  if ((LOGGED == 0)); then
    STATUS="error"
    ACTION="none (monitor.sh stopped unexpectedly, exit status $rc)"
    log_line
  fi
}
trap on_exit EXIT
config_error() {
  STATUS="config-error"
  CHECK=$1
  log_line
  exit 2
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  LOGGED=1
  # the comment block at the top of this file
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
  exit 0
fi
if [[ ${1:-} == --config ]]; then
  [[ -r ${2:-} ]] || config_error "cannot read config file '${2:-}'"
  # shellcheck source=/dev/null
  . "$2"
  shift 2
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONTAINER_NAME=${CONTAINER_NAME:-wechat-token-broker}
BROKER_URL=${BROKER_URL:-}
FAILURE_THRESHOLD=${FAILURE_THRESHOLD:-3}
ALERT_COOLDOWN_MINUTES=${ALERT_COOLDOWN_MINUTES:-60}
AUTO_RESTART=${AUTO_RESTART:-true}
RESTART_ON_NOT_READY=${RESTART_ON_NOT_READY:-false}
STATE_DIR=${STATE_DIR:-/var/tmp/wechat-token-broker-monitor}
DOCKER=${DOCKER:-docker}
DOCKER_TIMEOUT=${DOCKER_TIMEOUT:-30}
ALERT_EMAIL_ENABLED=${ALERT_EMAIL_ENABLED:-false}
SMTP_SERVER=${SMTP_SERVER:-}
SMTP_USER=${SMTP_USER:-}
SMTP_PASS=${SMTP_PASS:-}
ALERT_EMAIL_TO=${ALERT_EMAIL_TO:-}
ALERT_EMAIL_FROM=${ALERT_EMAIL_FROM:-${SMTP_USER:-}}
SMTP_INSECURE=${SMTP_INSECURE:-false}
if [[ -z ${SMTP_TLS:-} ]]; then
  if [[ ${SMTP_PORT:-} == 465 ]]; then SMTP_TLS=tls; else SMTP_TLS=starttls; fi
fi
case $SMTP_TLS in
  tls) SMTP_PORT=${SMTP_PORT:-465} ;;
  starttls) SMTP_PORT=${SMTP_PORT:-587} ;;
  none) SMTP_PORT=${SMTP_PORT:-25} ;;
  *) config_error "SMTP_TLS must be none, starttls or tls (got '$SMTP_TLS')" ;;
esac
HOST_NAME=$(hostname 2>/dev/null || uname -n)

for n in FAILURE_THRESHOLD ALERT_COOLDOWN_MINUTES DOCKER_TIMEOUT; do
  [[ ${!n} =~ ^[0-9]+$ ]] || config_error "$n must be a whole number (got '${!n}')"
done
((FAILURE_THRESHOLD >= 1)) || FAILURE_THRESHOLD=1

have() { command -v "$1" >/dev/null 2>&1; }
now() { date '+%s'; }
human_time() { date -d "@$1" '+%Y-%m-%d %H:%M:%S %z' 2>/dev/null || echo "$1"; }

# ---- state -----------------------------------------------------------------------------------------------
mkdir -p "$STATE_DIR" || config_error "cannot create STATE_DIR $STATE_DIR"
chmod 700 "$STATE_DIR" 2>/dev/null || true
SAFE_NAME=${CONTAINER_NAME//[^A-Za-z0-9_.-]/_}
STATE_FILE="$STATE_DIR/$SAFE_NAME.state"
TMP_DIR=$(mktemp -d "$STATE_DIR/.run.XXXXXX")

declare -A S=([failures]=0 [incident]=0 [since]=0 [escalated]=0 [alerted]=0 [restarts]=0 [last_alert]=0 [last_check]="")
if [[ -f $STATE_FILE ]]; then
  while IFS='=' read -r k v; do
    [[ $k =~ ^[a-z_]+$ ]] && S[$k]=$v
  done <"$STATE_FILE"
fi
for k in failures incident since escalated alerted restarts last_alert; do
  [[ ${S[$k]} =~ ^[0-9]+$ ]] || S[$k]=0
done
save_state() {
  local k
  for k in "${!S[@]}"; do printf '%s=%s\n' "$k" "${S[$k]//$'\n'/ }"; done | sort >"$STATE_FILE.tmp"
  mv -f "$STATE_FILE.tmp" "$STATE_FILE"
}

# one run at a time per container
if have flock; then
  exec 9>"$STATE_DIR/$SAFE_NAME.lock"
  if ! flock -n 9; then
    STATUS="skipped"
    ACTION="none (another monitor run is still going)"
    FAILURES=${S[failures]}
    log_line
    exit 0
  fi
fi

if [[ -e $STATE_DIR/$SAFE_NAME.maintenance ]]; then
  STATUS="maintenance"
  ACTION="none (remove $STATE_DIR/$SAFE_NAME.maintenance to resume)"
  FAILURES=${S[failures]}
  log_line
  exit 0
fi

dk() {
  if have timeout; then timeout "$DOCKER_TIMEOUT" "$DOCKER" "$@"; else "$DOCKER" "$@"; fi
}
unjson() {
  sed -e 's/^"//' -e 's/"$//' -e 's/\\n/ /g' -e 's/\\t/ /g' -e 's/\\"/"/g' \
    -e 's/\\u003c/</g' -e 's/\\u003e/>/g' -e 's/\\u0026/\&/g' -e 's/\\\\/\\/g' -e 's/[[:space:]]*$//'
}

# ---- checks ----------------------------------------------------------------------------------------------
RESULT="ok" # ok | failing | pending
EXISTS=1
STATE_TEXT=""
POLICY=""
LAST_HEALTH_OUTPUT=""
fail() {
  RESULT="failing"
  CHECK="${CHECK:+$CHECK; }$*"
}

check_container() {
  local facts err status health restarts oom code ports
  if ! facts=$(dk inspect --type container -f '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.RestartCount}}|{{.State.OOMKilled}}|{{.State.ExitCode}}|{{.HostConfig.RestartPolicy.Name}}|{{json .HostConfig.PortBindings}}' "$CONTAINER_NAME" 2>"$TMP_DIR/err"); then
    err=$(head -n1 "$TMP_DIR/err")
    if grep -qiE 'No such (object|container)' "$TMP_DIR/err"; then
      EXISTS=0
      STATUS="missing"
      fail "container $CONTAINER_NAME does not exist"
    else
      STATUS="docker-error"
      fail "docker inspect failed: ${err:-timeout after ${DOCKER_TIMEOUT}s}"
    fi
    return 0
  fi
  IFS='|' read -r status health restarts oom code POLICY ports <<<"$facts"
  STATE_TEXT="status=$status health=$health restarts=$restarts oomkilled=$oom exitcode=$code restartpolicy=$POLICY"
  PORT_BINDINGS=$ports
  if dk inspect --type container -f '{{range .Config.Env}}{{println .}}{{end}}' "$CONTAINER_NAME" 2>/dev/null |
    grep -qE '^(TLS_PFX_FILE|TLS_CERT_FILE)=.+'; then
    BROKER_SCHEME=https
  fi
  if [[ $health != none ]]; then
    LAST_HEALTH_OUTPUT=$(dk inspect --type container -f '{{if .State.Health}}{{range .State.Health.Log}}{{json .Output}}{{println}}{{end}}{{end}}' "$CONTAINER_NAME" 2>/dev/null |
      grep -v '^$' | tail -n1 | unjson | cut -c1-300) || LAST_HEALTH_OUTPUT=""
  fi
  if [[ $status != running ]]; then
    STATUS=$status
    local why="exit code $code"
    [[ $oom == true ]] && why="$why, OOMKilled"
    fail "container is $status ($why)"
    return 0
  fi
  case $health in
    unhealthy)
      STATUS="unhealthy"
      fail "docker healthcheck: unhealthy${LAST_HEALTH_OUTPUT:+ ($LAST_HEALTH_OUTPUT)}"
      ;;
    starting) STATUS="starting" ;;
    *) STATUS="running" ;;
  esac
}

PORT_BINDINGS=""
BROKER_SCHEME=http
READY_TEXT=""
ready_url() {
  if [[ -n $BROKER_URL ]]; then
    printf '%s\n' "${BROKER_URL%/}"
    return
  fi
  # the host side of 8084/tcp
  local b ip port
  b=$(printf '%s' "$PORT_BINDINGS" | grep -oE '"8084/tcp":\[[^]]*\]' | grep -o '{[^}]*}' | head -n1) || b=""
  ip=$(printf '%s' "$b" | sed -n 's/.*"HostIp":"\([^"]*\)".*/\1/p')
  port=$(printf '%s' "$b" | sed -n 's/.*"HostPort":"\([^"]*\)".*/\1/p')
  case $ip in "" | 0.0.0.0 | "::") ip=127.0.0.1 ;; esac
  printf '%s://%s:%s\n' "$BROKER_SCHEME" "$ip" "${port:-8084}"
}

check_ready() {
  [[ $BROKER_URL != none ]] || return 0
  [[ $EXISTS == 1 && $RESULT != failing ]] || return 0
  local url code rc=0 k=()
  url=$(ready_url)
  [[ $url == https://* ]] && k=(-k)
  if ! have curl; then
    fail "curl is not installed: cannot check $url/api/health/ready"
    return 0
  fi
  code=$(curl -sS "${k[@]}" -m 5 -o "$TMP_DIR/ready" -w '%{http_code}' "$url/api/health/ready" 2>"$TMP_DIR/curl.err") || rc=$?
  if ((rc != 0)); then
    [[ $STATUS == starting ]] && return 0
    STATUS="unreachable"
    fail "GET $url/api/health/ready: $(head -n1 "$TMP_DIR/curl.err" | sed 's/^curl: //')"
  elif [[ $code != 200 ]]; then
    [[ $STATUS == starting ]] && return 0
    STATUS="not-ready"
    fail "GET $url/api/health/ready → HTTP $code $(tr -s '\r\n\t' '   ' <"$TMP_DIR/ready" | cut -c1-200)"
  elif grep -qE '"status" *: *"serving_cached"' "$TMP_DIR/ready"; then
    STATUS="serving-cached"
    fail "GET $url/api/health/ready → 200 serving_cached (Redis unreachable, tokens served from memory) $(tr -s '\r\n\t' '   ' <"$TMP_DIR/ready" | cut -c1-200)"
  else
    READY_TEXT=", ready (GET $url/api/health/ready → 200)"
    [[ $STATUS != starting ]] || STATUS="running"
  fi
}

check_container
check_ready
[[ $RESULT == failing || $STATUS != starting ]] || RESULT="pending"

# ---- mail ------------------------------------------------------------------------------------------------
MAIL_ERROR=""

# RFC 2047: UTF-8 base64 encoded-words of at most ~45 bytes each, split between words.
encode_subject() {
  local LC_ALL=C subject=$1 word chunk="" out="" first=1
  local -a words
  read -r -a words <<<"$subject"
  for word in "${words[@]}"; do
    if [[ -n $chunk ]] && ((${#chunk} + 1 + ${#word} > 45)); then
      out+="${out:+$'\n' }=?UTF-8?B?$(printf '%s' "$chunk" | base64 | tr -d '\n')?="
      chunk=" $word"
    elif ((first)); then
      chunk=$word
    else
      chunk+=" $word"
    fi
    first=0
  done
  out+="${out:+$'\n' }=?UTF-8?B?$(printf '%s' "$chunk" | base64 | tr -d '\n')?="
  printf '%s' "$out"
}

# curl config line for the credentials: a quoted string with \ and " escaped
curl_user_config() {
  local bs=$'\\' q='"' v="$SMTP_USER:$SMTP_PASS"
  v=${v//"$bs"/"$bs$bs"}
  v=${v//"$q"/"$bs$q"}
  printf 'user = "%s"\n' "$v"
}

send_mail() {
  local subject=$1 body=$2 msg="$TMP_DIR/mail.eml" url rc=0 r
  local -a rcpts=() args=()
  MAIL_ERROR=""
  if [[ $ALERT_EMAIL_ENABLED != true ]]; then
    MAIL_ERROR="mail disabled (ALERT_EMAIL_ENABLED is not true)"
    return 1
  fi
  IFS=',' read -r -a rcpts <<<"$ALERT_EMAIL_TO"
  local clean=()
  for r in "${rcpts[@]}"; do
    r=${r//[[:space:]]/}
    [[ -n $r ]] && clean+=("$r")
  done
  if [[ -z $SMTP_SERVER || ${#clean[@]} -eq 0 || -z $ALERT_EMAIL_FROM ]]; then
    MAIL_ERROR="mail not configured (SMTP_SERVER, ALERT_EMAIL_TO and ALERT_EMAIL_FROM or SMTP_USER are required)"
    return 1
  fi
  if ! have curl; then
    MAIL_ERROR="curl is not installed"
    return 1
  fi
  {
    printf 'From: wechat-token-broker monitor <%s>\n' "$ALERT_EMAIL_FROM"
    printf 'To: %s\n' "$(
      IFS=,
      echo "${clean[*]}"
    )"
    printf 'Subject: %s\n' "$(encode_subject "$subject")"
    printf 'Date: %s\n' "$(LC_ALL=C date -R)"
    printf 'Message-ID: <%s.%s.monitor@%s>\n' "$(date '+%s')" "$$" "$HOST_NAME"
    printf 'MIME-Version: 1.0\n'
    printf 'Content-Type: text/plain; charset=UTF-8\n'
    printf 'Content-Transfer-Encoding: base64\n'
    printf 'X-Mailer: wechat-token-broker scripts/monitor.sh\n'
    printf '\n'
    printf '%s\n' "$body" | base64
  } >"$msg"

  case $SMTP_TLS in
    tls) url="smtps://$SMTP_SERVER:$SMTP_PORT" ;;
    *) url="smtp://$SMTP_SERVER:$SMTP_PORT" ;;
  esac
  args=(--silent --show-error --max-time 60 --connect-timeout 15 --url "$url" --mail-from "$ALERT_EMAIL_FROM" --upload-file "$msg" --crlf)
  for r in "${clean[@]}"; do args+=(--mail-rcpt "$r"); done
  [[ $SMTP_TLS == starttls ]] && args+=(--ssl-reqd)
  [[ $SMTP_INSECURE == true ]] && args+=(--insecure)
  if [[ -n $SMTP_USER ]]; then
    # The credentials reach curl through a pipe (/dev/fd/N), never through its arguments.
    curl "${args[@]}" -K <(curl_user_config) >"$TMP_DIR/mail.out" 2>"$TMP_DIR/mail.err" || rc=$?
  else
    curl "${args[@]}" >"$TMP_DIR/mail.out" 2>"$TMP_DIR/mail.err" || rc=$?
  fi
  ((rc == 0)) && return 0
  local hint=""
  case $rc in
    6) hint="SMTP_SERVER not found" ;;
    7) hint="cannot connect to $SMTP_SERVER:$SMTP_PORT (firewall/security group?)" ;;
    28) hint="timeout talking to $SMTP_SERVER:$SMTP_PORT" ;;
    35) hint="TLS handshake failed: is SMTP_TLS right for port $SMTP_PORT?" ;;
    60) hint="certificate not trusted (SMTP_INSECURE=true only for a self-signed test server)" ;;
    64) hint="the server does not offer STARTTLS: set SMTP_TLS=tls (port 465) or, on a trusted network only, none" ;;
    67) hint="login denied: check SMTP_USER and SMTP_PASS (139/QQ/163 mail need the authorization code)" ;;
    55 | 56) hint="the server closed the connection" ;;
  esac
  MAIL_ERROR="curl exit $rc${hint:+: $hint}"
  return 1
}

diagnose_hint() {
  printf '  bash %s/diagnose.sh %s\n' "$SCRIPT_DIR" "$CONTAINER_NAME"
  if [[ $BROKER_URL != none ]]; then
    printf "  curl '%s/quick_diagnosis.php?format=text'\n" "$(ready_url)"
  fi
  printf '  bash %s/diagnose.sh %s --bundle      # 支持包 support archive\n' "$SCRIPT_DIR" "$CONTAINER_NAME"
}

alert_body() {
  local action=$1
  cat <<EOF
[wechat-token-broker] 告警 ALERT

主机 Host:               $HOST_NAME
容器 Container:          $CONTAINER_NAME
时间 Time:               $(date '+%Y-%m-%d %H:%M:%S %z')
故障开始 Since:          $(human_time "${S[since]}")
状态 State:              ${STATE_TEXT:-$STATUS}
失败的检查 Failing check: $CHECK
连续失败 Failures:       $FAILURES 次检查 checks in a row (阈值 threshold $FAILURE_THRESHOLD)
已采取的措施 Action:     $action
EOF
  if [[ -n $LAST_HEALTH_OUTPUT ]]; then
    printf '最近一次健康检查输出 Last healthcheck output:\n  %s\n' "$LAST_HEALTH_OUTPUT"
  fi
  if [[ $POLICY == no ]]; then
    printf '\n注意 Note: RestartPolicy=no, the container will not come back by itself. Fix:\n  docker update --restart unless-stopped %s\n' "$CONTAINER_NAME"
  fi
  cat <<EOF

请在服务器上运行以下命令排查 / Run on the host to find the cause:
$(diagnose_hint)

本次故障不会再发送告警；恢复后会发送恢复通知。
No further alert is sent for this incident; a recovery mail follows when the container is healthy again.
-- scripts/monitor.sh on $HOST_NAME
EOF
}

recovery_body() {
  local minutes=$(((S_NOW - S[since]) / 60))
  cat <<EOF
[wechat-token-broker] 恢复 RECOVERED

主机 Host:               $HOST_NAME
容器 Container:          $CONTAINER_NAME
时间 Time:               $(date '+%Y-%m-%d %H:%M:%S %z')
故障开始 Since:          $(human_time "${S[since]}") (约 about $minutes 分钟 minutes)
状态 State:              ${STATE_TEXT:-$STATUS}${READY_TEXT}
期间自动重启 Restarts by the monitor: ${S[restarts]}

容器已恢复健康。建议查看故障原因 / It is healthy again. To find what happened:
  docker logs --since $((minutes + 5))m $CONTAINER_NAME
$(diagnose_hint)
-- scripts/monitor.sh on $HOST_NAME
EOF
}

# ---- decide ----------------------------------------------------------------------------------------------
S_NOW=$(now)
S[last_check]=$(stamp)
actions=()

case $RESULT in
  ok)
    S[failures]=0
    if ((S[incident] == 1)); then
      if ((S[alerted] == 1)); then
        if send_mail "[wechat-token-broker] 恢复 RECOVERED: container $CONTAINER_NAME healthy again on $HOST_NAME" "$(recovery_body)"; then
          actions+=("recovered, recovery mail sent")
        else
          actions+=("recovered, recovery mail failed: $MAIL_ERROR")
        fi
      else
        actions+=("recovered (no alert had been sent)")
      fi
      S[incident]=0 S[since]=0 S[escalated]=0 S[alerted]=0 S[restarts]=0
    fi
    ;;
  pending)
    actions+=("wait (container starting)")
    ;;
  failing)
    S[failures]=$((S[failures] + 1))
    if ((S[incident] == 0)); then
      S[incident]=1 S[since]=$S_NOW S[escalated]=0 S[alerted]=0 S[restarts]=0
    fi
    FAILURES=${S[failures]}
    restart_text=""
    if ((S[failures] >= FAILURE_THRESHOLD)); then
      S[escalated]=1
      if ((EXISTS == 0)); then
        restart_text="未重启 not restarted: the container does not exist (docker compose up -d)"
        actions+=("cannot restart (no such container)")
      elif [[ $STATUS == docker-error ]]; then
        restart_text="未重启 not restarted: Docker does not answer"
        actions+=("cannot restart (docker error)")
      elif [[ $AUTO_RESTART != true ]]; then
        restart_text="未重启 not restarted: AUTO_RESTART=$AUTO_RESTART"
        actions+=("no restart (AUTO_RESTART=$AUTO_RESTART)")
      elif [[ $STATUS == serving-cached ]]; then
        restart_text="未重启 not restarted: Redis 不可达，broker 正用内存中的令牌应答，重启会丢掉它们 / the broker serves the tokens it holds while Redis is unreachable; a restart would throw them away. Check Redis: docker ps --filter name=redis"
        actions+=("no restart (serving cached tokens: check Redis)")
      elif [[ $STATUS == not-ready && $RESTART_ON_NOT_READY != true ]]; then
        restart_text="未重启 not restarted: the process is alive but not ready (usually Redis); a restart would not help. Check Redis: docker ps --filter name=redis"
        actions+=("no restart (alive but not ready: check Redis)")
      elif dk restart -t 30 "$CONTAINER_NAME" >"$TMP_DIR/restart.out" 2>&1; then
        S[restarts]=$((S[restarts] + 1))
        restart_text="已重启 restarted: docker restart $CONTAINER_NAME (第 ${S[restarts]} 次 restart #${S[restarts]} in this incident)"
        actions+=("restarted")
      else
        restart_text="重启失败 restart failed: $(head -n1 "$TMP_DIR/restart.out")"
        actions+=("restart failed: $(head -n1 "$TMP_DIR/restart.out")")
      fi
      # count again from zero: the next restart needs another FAILURE_THRESHOLD failed runs
      S[failures]=0
    else
      actions+=("none (failure ${S[failures]} of $FAILURE_THRESHOLD before a restart)")
    fi
    if ((S[escalated] == 1 && S[alerted] == 0)); then
      since_last=$(((S_NOW - S[last_alert]) / 60))
      if [[ $ALERT_EMAIL_ENABLED != true ]]; then
        # say it once, in the run that reached the threshold
        [[ -z $restart_text ]] || actions+=("no alert mail (ALERT_EMAIL_ENABLED is not true)")
      elif ((S[last_alert] > 0 && since_last < ALERT_COOLDOWN_MINUTES)); then
        actions+=("alert suppressed (cool-down: last alert ${since_last}m ago < ${ALERT_COOLDOWN_MINUTES}m)")
      else
        problem="unhealthy"
        case $STATUS in
          missing) problem="missing" ;;
          exited | dead | created | paused | restarting) problem="$STATUS" ;;
          not-ready) problem="not ready" ;;
          serving-cached) problem="serving cached tokens (Redis unreachable)" ;;
          unreachable) problem="not answering" ;;
          docker-error) problem="unreachable (docker error)" ;;
        esac
        subject="[wechat-token-broker] 告警 ALERT: container $CONTAINER_NAME $problem on $HOST_NAME"
        body=$(alert_body "${restart_text:-none}")
        if send_mail "$subject" "$body"; then
          S[alerted]=1
          S[last_alert]=$S_NOW
          actions+=("alert mail sent")
        else
          actions+=("alert mail not sent: $MAIL_ERROR")
        fi
      fi
    fi
    ;;
esac

save_state
[[ $RESULT == failing ]] || FAILURES=${S[failures]}
if ((${#actions[@]} == 0)); then
  ACTION="none"
else
  ACTION=$(
    IFS=';'
    echo "${actions[*]}"
  )
  ACTION=${ACTION//;/; }
fi
log_line
exit 0
