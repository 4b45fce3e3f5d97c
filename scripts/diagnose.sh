#!/usr/bin/env bash
# 容器一键诊断 / One-shot diagnosis of a container on this Docker host.
#
#   bash scripts/diagnose.sh [container] [--bundle [dir]]
#
# container  defaults to $DIAGNOSE_CONTAINER, else wechat-token-broker. Works for any container (e.g. wechat-api).
#            (A CONTAINER_NAME in the shell is ignored: it is often set for something else.)
# --bundle   also writes a support archive (tar.gz) into dir (default: the current directory) with the
#            report, `docker inspect`, logs and the broker's diagnosis. Every environment value whose name
#            looks secret (…SECRET…, …PASS…, …KEY…, …TOKEN…, …AUTH…, …PFX…) is replaced by *** in every file,
#            and so are passwords inside URLs. Check the archive before you send it anyway.
#
# Each line is marked ✓ (fine), ! (worth a look) or ✗ (broken); the fix is printed under anything wrong.
# Exit status: 0 nothing broken, 1 something marked ✗, 2 usage error or Docker unreachable.
#
# Environment: DIAGNOSE_CONTAINER, BROKER_URL (e.g. http://127.0.0.1:8084; default: from the published port),
# BROKER_API_KEY or BROKER_API_KEY_FILE (admin API key, if the diagnosis requires one), REDIS_CONTAINER
# (default: the compose project's redis service), DOCKER (docker binary, default docker), LOG_LINES (200).
# Needs bash 4+, docker, and the usual tools (awk, sed, grep, tar, stat); curl and ss/netstat optional.
# No jq, node or python required.
set -euo pipefail
umask 077

DOCKER=${DOCKER:-docker}
LOG_LINES=${LOG_LINES:-200}
CONTAINER=""
BUNDLE=0
BUNDLE_DIR="."
# Names of environment variables whose values never leave this host unmasked (matched case-insensitively).
SECRET_NAME_RE='SECRET|PASS|KEY|TOKEN|CREDENTIAL|AUTH|PFX|PRIVATE|CERT|SALT|SIGNATURE|COOKIE|SESSION'

usage() {
  # the comment block at the top of this file
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

while (($# > 0)); do
  case $1 in
    -h | --help)
      usage
      exit 0
      ;;
    --bundle)
      BUNDLE=1
      if (($# > 1)) && [[ $2 != -* ]]; then
        BUNDLE_DIR=$2
        shift
      fi
      ;;
    --bundle=*)
      BUNDLE=1
      BUNDLE_DIR=${1#--bundle=}
      ;;
    -*)
      echo "diagnose.sh: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *)
      if [[ -n $CONTAINER ]]; then
        echo "diagnose.sh: one container at a time ($CONTAINER, $1)" >&2
        exit 2
      fi
      CONTAINER=$1
      ;;
  esac
  shift
done
CONTAINER=${CONTAINER:-${DIAGNOSE_CONTAINER:-wechat-token-broker}}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wtb-diagnose.XXXXXX")
# shellcheck disable=SC2317 # called by the trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
SECRETS_FILE="$WORK/secret-values" # masked values, one a line (mode 600, removed on exit)
: >"$SECRETS_FILE"

have() { command -v "$1" >/dev/null 2>&1; }

# ---- output ----------------------------------------------------------------------------------------------
FAILS=0
WARNS=0
ok() { printf '✓ %s\n' "$*"; }
warn() {
  printf '! %s\n' "$*"
  WARNS=$((WARNS + 1))
}
bad() {
  printf '✗ %s\n' "$*"
  FAILS=$((FAILS + 1))
}
fix() { printf '    fix: %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
section() { printf '\n== %s ==\n' "$*"; }

# ---- masking ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2016 # awk program, not shell
MASK_AWK='
BEGIN {
  n = 0
  while ((getline v < secrets) > 0) if (v != "") s[++n] = v
  close(secrets)
}
function envmask(line,    pre, name) {
  # an entry of a JSON array:   "NAME=value",
  if (match(line, /^[ \t]*"[A-Za-z_][A-Za-z0-9_.]*=/)) {
    pre = substr(line, 1, RSTART + RLENGTH - 1)
    name = pre; sub(/^[ \t]*"/, "", name); sub(/=$/, "", name)
    if (toupper(name) ~ pat) return pre "***" (line ~ /",[ \t]*$/ ? "\"," : "\"")
  }
  # a plain NAME=value line
  if (match(line, /^[A-Za-z_][A-Za-z0-9_.]*=/)) {
    name = substr(line, 1, RLENGTH - 1)
    if (toupper(name) ~ pat) return substr(line, 1, RLENGTH) "***"
  }
  return line
}
{
  line = envmask($0)
  for (i = 1; i <= n; i++) {
    out = ""; rest = line
    while ((p = index(rest, s[i])) > 0) { out = out substr(rest, 1, p - 1) "***"; rest = substr(rest, p + length(s[i])) }
    line = out rest
  }
  # credentials inside URLs: scheme://user:password@host
  out = ""; rest = line
  while (match(rest, /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\/@ \t"]+@/)) {
    seg = substr(rest, RSTART, RLENGTH)
    out = out substr(rest, 1, RSTART - 1) substr(seg, 1, index(seg, "://") + 2) "***@"
    rest = substr(rest, RSTART + RLENGTH)
  }
  print out rest
}'

mask() { awk -v secrets="$SECRETS_FILE" -v pat="$SECRET_NAME_RE" "$MASK_AWK"; }

is_secret_name() {
  local upper=${1^^}
  [[ $upper =~ $SECRET_NAME_RE ]]
}

# Remembers the secret values among NAME=VALUE lines on stdin, raw and as Go's JSON encoder writes them.
collect_secrets() {
  local line name value userinfo
  while IFS= read -r line; do
    [[ $line == *=* ]] || continue
    name=${line%%=*}
    value=${line#*=}
    # a password inside a URL, whatever the variable's name
    if [[ $value =~ ://([^/@[:space:]]+)@ ]]; then
      userinfo=${BASH_REMATCH[1]}
      [[ $userinfo == *:* ]] && add_secret "${userinfo#*:}"
    fi
    is_secret_name "$name" || continue
    # Paths and the key prefix are masked where the variable is listed, but not searched for everywhere.
    [[ ${name^^} == *_FILE || ${name^^} == KEY_PREFIX ]] && continue
    add_secret "$value"
  done
}

add_secret() {
  local v=$1
  # Too short or a plain word: masking it everywhere would garble the logs; it is still masked by name.
  ((${#v} >= 4)) || return 0
  case ${v,,} in true | false | yes | no | none | null) return 0 ;; esac
  {
    printf '%s\n' "$v"
    # as a JSON string (JavaScript loggers such as pino), and as Go's encoder writes it (docker inspect)
    printf '%s' "$v" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
    printf '\n'
    printf '%s' "$v" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/</\\u003c/g' -e 's/>/\\u003e/g' -e 's/&/\\u0026/g'
    printf '\n'
  } >>"$SECRETS_FILE"
}

# ---- docker helpers --------------------------------------------------------------------------------------
dk() { "$DOCKER" "$@"; }
inspect_f() { dk inspect --type container -f "$1" "$2"; }

# json string (as printed by {{json}}) → one readable line
unjson() {
  sed -e 's/^"//' -e 's/"$//' -e 's/\\n/ /g' -e 's/\\t/ /g' -e 's/\\"/"/g' \
    -e 's/\\u003c/</g' -e 's/\\u003e/>/g' -e 's/\\u0026/\&/g' -e 's/\\\\/\\/g' -e 's/[[:space:]]*$//'
}

# "HOSTIP HOSTPORT CPORT" lines from {{json .HostConfig.PortBindings}}
port_bindings() {
  local json=$1 entry cport bind ip hport
  while IFS= read -r entry; do
    [[ -n $entry ]] || continue
    cport=$(printf '%s' "$entry" | sed -n 's/^"\([^"]*\)".*/\1/p')
    while IFS= read -r bind; do
      [[ -n $bind ]] || continue
      ip=$(printf '%s' "$bind" | sed -n 's/.*"HostIp":"\([^"]*\)".*/\1/p')
      hport=$(printf '%s' "$bind" | sed -n 's/.*"HostPort":"\([^"]*\)".*/\1/p')
      printf '%s %s %s\n' "${ip:-0.0.0.0}" "${hport:-?}" "$cport"
    done < <(printf '%s' "$entry" | grep -o '{[^}]*}' || true)
  done < <(printf '%s' "$json" | grep -oE '"[0-9]+(-[0-9]+)?/[a-z]+":(null|\[[^]]*\])' || true)
}

# Writes the TCP ports something listens on, on this host, to $WORK/listening; sets LISTEN_TOOL.
# Returns 1 when neither ss nor netstat can tell.
LISTEN_TOOL=""
listening_ports() {
  if have ss && ss -ltn >"$WORK/listen" 2>/dev/null; then
    LISTEN_TOOL="ss -ltn"
  elif have netstat && netstat -ltn >"$WORK/listen" 2>/dev/null; then
    LISTEN_TOOL="netstat -ltn"
  else
    return 1
  fi
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /:[0-9]+$/) { n = split($i, a, ":"); print a[n]; break } }' "$WORK/listen" |
    sort -u >"$WORK/listening"
}

exit_meaning() {
  case $1 in
    0) echo "clean exit" ;;
    1) echo "the program failed: read the logs below" ;;
    2) echo "misuse / bad arguments or configuration" ;;
    78) echo "configuration error" ;;
    125) echo "docker could not run the container" ;;
    126) echo "command not executable" ;;
    127) echo "command not found in the image" ;;
    134) echo "aborted (SIGABRT)" ;;
    137) echo "killed with SIGKILL: out of memory, docker kill, or did not stop within the grace period" ;;
    139) echo "segmentation fault (SIGSEGV)" ;;
    143) echo "stopped with SIGTERM (docker stop / host shutdown)" ;;
    *) echo "see the logs below" ;;
  esac
}

# Can uid:gid read (r) or write (w) path? Uses the host's owner/mode; root may do anything.
can_access() {
  local uid=$1 gid=$2 want=$3 path=$4 owner group mode bits need
  read -r owner group mode < <(stat -c '%u %g %a' -- "$path")
  [[ $uid == 0 ]] && return 0
  mode=${mode: -3}
  if [[ $owner == "$uid" ]]; then
    bits=${mode:0:1}
  elif [[ $group == "$gid" ]]; then
    bits=${mode:1:1}
  else
    bits=${mode:2:1}
  fi
  if [[ $want == w ]]; then need=2; else need=4; fi
  (((bits & need) != 0)) || return 1
  # a directory must also be searchable
  if [[ -d $path ]]; then (((bits & 1) != 0)) || return 1; fi
  return 0
}

# ---- the report ------------------------------------------------------------------------------------------
FACTS_TEMPLATE='status={{.State.Status}}
running={{.State.Running}}
oom={{.State.OOMKilled}}
exitcode={{.State.ExitCode}}
error={{json .State.Error}}
started={{.State.StartedAt}}
finished={{.State.FinishedAt}}
restarts={{.RestartCount}}
policy={{.HostConfig.RestartPolicy.Name}}
maxretry={{.HostConfig.RestartPolicy.MaximumRetryCount}}
memory={{.HostConfig.Memory}}
health={{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}
streak={{if .State.Health}}{{.State.Health.FailingStreak}}{{end}}
user={{.Config.User}}
image={{.Config.Image}}
project={{index .Config.Labels "com.docker.compose.project"}}
service={{index .Config.Labels "com.docker.compose.service"}}
workdir={{index .Config.Labels "com.docker.compose.project.working_dir"}}
ports={{json .HostConfig.PortBindings}}'

declare -A F=()
declare -A ENVV=()
IS_BROKER=0
REDIS_NAME=""
DIAG_URL=""

load_facts() {
  local line
  while IFS= read -r line; do
    [[ $line == *=* ]] && F[${line%%=*}]=${line#*=}
  done <"$WORK/facts"
  F[error]=$(printf '%s' "${F[error]:-\"\"}" | unjson)
  inspect_f '{{range .Config.Env}}{{println .}}{{end}}' "$CONTAINER" >"$WORK/env" 2>/dev/null || : >"$WORK/env"
  while IFS= read -r line; do
    [[ $line == *=* ]] && ENVV[${line%%=*}]=${line#*=}
  done <"$WORK/env"
  collect_secrets <"$WORK/env"
  if [[ ${F[image]:-} == *wechat-token-broker* || -n ${ENVV[ACCOUNTS_FILE]:-} || -n ${ENVV[ACCOUNTS]:-} ]]; then
    IS_BROKER=1
  fi
}

report_container() {
  local name=$CONTAINER status=${F[status]:-unknown} code=${F[exitcode]:-0}
  section "容器 Container: $name"
  note "image ${F[image]:-?}${F[project]:+, compose project ${F[project]} service ${F[service]:-?}}${F[workdir]:+ in ${F[workdir]}}"
  case $status in
    running) ok "running since ${F[started]:-?}" ;;
    restarting)
      bad "restarting: it keeps crashing (last exit code $code: $(exit_meaning "$code"))"
      fix "read the logs below; docker logs --since 1h $name"
      ;;
    exited)
      bad "exited with code $code at ${F[finished]:-?} ($(exit_meaning "$code"))"
      fix "docker start $name    (then: docker logs --tail 50 $name)"
      ;;
    paused)
      bad "paused"
      fix "docker unpause $name"
      ;;
    created)
      bad "created but never started"
      fix "docker start $name"
      ;;
    dead)
      bad "dead (Docker could not stop or remove it cleanly)"
      fix "docker rm -f $name, then recreate it: ${F[workdir]:+cd ${F[workdir]} && }docker compose up -d"
      ;;
    *) warn "state: $status" ;;
  esac
  if [[ -n ${F[error]:-} ]]; then
    bad "Docker reported an error: ${F[error]}"
    if [[ ${F[error]} == *"address already in use"* || ${F[error]} == *"port is already allocated"* ]]; then
      fix "another process holds the port: ss -ltnp | grep <port>, stop it or change the published port"
    else
      fix "docker start $name, and read the error above"
    fi
  fi
  local restarts=${F[restarts]:-0}
  if [[ $restarts =~ ^[0-9]+$ ]] && ((restarts > 0)); then
    warn "restarted $restarts time(s) since it was created"
    fix "find why in the logs: docker logs --since 24h $name | tail -n 100"
  else
    ok "restart count 0"
  fi
  if [[ ${F[oom]:-false} == true ]]; then
    local mem=${F[memory]:-0}
    if [[ $mem =~ ^[0-9]+$ ]] && ((mem > 0)); then
      bad "OOMKilled: the kernel killed it at its memory limit ($((mem / 1024 / 1024)) MiB)"
      fix "docker update --memory 512m --memory-swap 512m $name    (compose: mem_limit: 512m), then docker start $name"
    else
      bad "OOMKilled: the host ran out of memory (no limit on the container)"
      fix "free -m; dmesg | grep -i oom    (find what uses the memory; set mem_limit on the culprit)"
    fi
  else
    ok "not OOM-killed"
  fi
  local policy=${F[policy]:-no}
  case $policy in
    unless-stopped | always) ok "RestartPolicy=$policy" ;;
    on-failure)
      warn "RestartPolicy=on-failure${F[maxretry]:+ (max ${F[maxretry]} retries)}: gives up after the retries and stays down after a clean exit"
      fix "docker update --restart unless-stopped $name"
      ;;
    "" | no)
      bad "RestartPolicy=no: the container will not come back after it exits or the host reboots (重启策略为 no，退出后不会自动拉起)"
      fix "docker update --restart unless-stopped $name"
      note "(and in docker-compose.yml: restart: unless-stopped)"
      ;;
    *) warn "RestartPolicy=$policy" ;;
  esac
}

report_health() {
  local name=$CONTAINER health=${F[health]:-none}
  section "健康检查 Health"
  case $health in
    healthy) ok "healthy" ;;
    starting) warn "starting: the first checks have not passed yet (wait for the start period)" ;;
    unhealthy)
      if [[ ${F[status]} == running ]]; then
        bad "unhealthy (${F[streak]:-?} failed checks in a row)"
        fix "read the check output below and the logs; once the cause is fixed: docker restart $name"
      else
        warn "last health status: unhealthy (the container is not running)"
      fi
      ;;
    none)
      warn "no healthcheck configured: Docker cannot tell a hung process from a working one"
      if ((IS_BROKER)); then
        fix "use the image's HEALTHCHECK (node bin/wechat-token-broker.js healthcheck) or the one in docker-compose.yml"
      else
        fix "add a healthcheck: (compose) or HEALTHCHECK (Dockerfile)"
      fi
      ;;
    *) warn "health: $health" ;;
  esac
  if [[ $health != none ]]; then
    local line end code output count=0
    inspect_f '{{if .State.Health}}{{range .State.Health.Log}}{{json .End}} {{.ExitCode}} {{json .Output}}{{println}}{{end}}{{end}}' "$name" >"$WORK/healthlog" 2>/dev/null || true
    while IFS= read -r line; do
      [[ -n $line ]] || continue
      count=$((count + 1))
      end=$(printf '%s' "${line%% *}" | unjson)
      line=${line#* }
      code=${line%% *}
      output=$(printf '%s' "${line#* }" | unjson | mask | cut -c1-240)
      note "check at ${end%%.*} exit=$code ${output:-(no output)}"
    done <"$WORK/healthlog"
    ((count > 0)) || note "(no check has run yet)"
  fi
}

report_ports() {
  local name=$CONTAINER bindings ip hport cport listening=""
  section "端口 Ports"
  bindings=$(port_bindings "${F[ports]:-{\}}")
  if [[ -z $bindings ]]; then
    warn "no port is published on the host"
    if ((IS_BROKER)); then
      fix "publish it: ports: [\"127.0.0.1:8084:8084\"] in docker-compose.yml (docker run: -p 127.0.0.1:8084:8084)"
    fi
    return 0
  fi
  local listen_ok=1
  listening_ports || listen_ok=0
  ((listen_ok == 0)) || listening=$(cat "$WORK/listening")
  while read -r ip hport cport; do
    local where="$ip:$hport → $cport"
    if ((IS_BROKER)) && [[ $ip == 0.0.0.0 || $ip == "::" ]]; then
      warn "$where is published on every interface of the host"
      fix "publish on 127.0.0.1 only (BROKER_BIND_ADDRESS in .env) or firewall the port"
    fi
    if ((listen_ok == 0)); then
      warn "$where: cannot tell whether the host listens (neither ss nor netstat works)"
    elif grep -qx -- "$hport" <<<"$listening"; then
      ok "$where: the host listens on port $hport"
    elif [[ ${F[status]} != running ]]; then
      bad "$where: nothing listens on port $hport (the container is not running)"
      fix "docker start $name"
    else
      warn "$where: $LISTEN_TOOL shows nothing on port $hport (normal when Docker's userland-proxy is off; the HTTP check below tells)"
      fix "test it: curl -sS http://127.0.0.1:$hport/ ; firewall: allow $hport/tcp"
    fi
  done <<<"$bindings"
}

container_ids() {
  # uid and gid the container runs as
  local user=${F[user]:-} uid gid
  if [[ -z $user ]]; then
    echo "0 0 root (no USER)"
    return
  fi
  uid=${user%%:*}
  gid=${user#*:}
  [[ $user == *:* ]] || gid=$uid
  if [[ ! $uid =~ ^[0-9]+$ ]]; then
    if [[ ${F[status]} == running ]] && uid=$(dk exec "$CONTAINER" id -u 2>/dev/null) && [[ $uid =~ ^[0-9]+$ ]]; then
      gid=$(dk exec "$CONTAINER" id -g 2>/dev/null || echo "$uid")
    else
      uid=1001
      gid=1001
    fi
  fi
  [[ $gid =~ ^[0-9]+$ ]] || gid=$uid
  echo "$uid $gid $user"
}

report_mounts() {
  local type rw src dst uid gid user owner mode
  section "挂载与权限 Mounts and permissions"
  inspect_f '{{range .Mounts}}{{.Type}}|{{.RW}}|{{.Source}}|{{.Destination}}|{{if eq .Type "volume"}}{{.Name}}{{end}}{{println}}{{end}}' "$CONTAINER" >"$WORK/mounts" 2>/dev/null || : >"$WORK/mounts"
  if ! grep -q . "$WORK/mounts"; then
    ok "no volumes or bind mounts"
    return 0
  fi
  read -r uid gid user < <(container_ids)
  note "the container runs as UID $uid GID $gid (User \"$user\")"
  while IFS='|' read -r type rw src dst vname; do
    [[ -n $type ]] || continue
    if [[ $type != bind ]]; then
      ok "$type ${vname:-$src} → $dst ($([[ $rw == true ]] && echo rw || echo ro))"
      continue
    fi
    if [[ ! -e $src ]]; then
      warn "bind $src → $dst: $src does not exist on this host (or is not visible from this shell)"
      fix "mkdir -p $src && chown $uid:$gid $src"
      continue
    fi
    read -r owner mode < <(stat -c '%u:%g %a' -- "$src")
    if [[ $rw == true ]]; then
      if can_access "$uid" "$gid" w "$src"; then
        ok "bind $src → $dst (rw): owner $owner mode $mode, writable by UID $uid"
      else
        bad "bind $src → $dst (rw): owner $owner mode $mode, NOT writable by the container's UID $uid (写入会报 permission denied)"
        fix "chown -R $uid:$gid $src"
        if [[ -d $src ]]; then fix "chmod 755 $src"; else fix "chmod 644 $src"; fi
      fi
    else
      if ! can_access "$uid" "$gid" r "$src"; then
        bad "bind $src → $dst (ro): owner $owner mode $mode, NOT readable by the container's UID $uid"
        if [[ -d $src ]]; then
          fix "chown -R $uid:$gid $src && chmod -R u+rX,go-rwx $src"
        else
          fix "chown $uid:$gid $src && chmod 400 $src"
        fi
        continue
      fi
      # a configuration directory: every file in it must be readable too (accounts, API keys, secrets)
      local unreadable=() f
      if [[ -d $src ]]; then
        while IFS= read -r f; do
          can_access "$uid" "$gid" r "$f" || unreadable+=("$f")
        done < <(find "$src" -maxdepth 3 \( -type f -o -type d \) 2>/dev/null | head -n 200)
      fi
      if ((${#unreadable[@]} == 0)); then
        ok "bind $src → $dst (ro): owner $owner mode $mode, readable by UID $uid"
      else
        bad "bind $src → $dst (ro): ${#unreadable[@]} file(s) in it NOT readable by the container's UID $uid: ${unreadable[*]:0:5}"
        fix "chown -R $uid:$gid $src && chmod -R u+rX,go-rwx $src"
      fi
    fi
  done <"$WORK/mounts"
}

broker_url() {
  if [[ -n ${BROKER_URL:-} ]]; then
    printf '%s\n' "${BROKER_URL%/}"
    return 0
  fi
  ((IS_BROKER)) || return 1
  local scheme=http cport=${ENVV[PORT]:-8084} ip hport p
  [[ -n ${ENVV[TLS_PFX_FILE]:-}${ENVV[TLS_CERT_FILE]:-} ]] && scheme=https
  while read -r ip hport p; do
    if [[ $p == "$cport/tcp" ]]; then
      case $ip in 0.0.0.0 | "::" | "") ip=127.0.0.1 ;; esac
      [[ $ip == *:* ]] && ip="[$ip]"
      printf '%s://%s:%s\n' "$scheme" "$ip" "$hport"
      return 0
    fi
  done < <(port_bindings "${F[ports]:-{\}}")
  return 1
}

report_broker() {
  section "Broker 诊断 quick diagnosis"
  local url code rc
  if ! url=$(broker_url); then
    if ((IS_BROKER)); then
      warn "the broker's port is not published on this host: cannot query it"
      fix "publish it (see Ports) or run with BROKER_URL=http://<address>:8084"
    else
      note "skipped: $CONTAINER is not the broker (set BROKER_URL=http://127.0.0.1:8084 to include the broker)"
    fi
    return 0
  fi
  DIAG_URL=$url
  if ! have curl; then
    warn "curl is not installed: cannot query $url"
    fix "apt-get install -y curl (or yum install -y curl)"
    return 0
  fi
  local k=()
  [[ $url == https://* ]] && k=(-k)
  # An API key (admin) for the diagnosis, when the broker requires one: passed in a curl config file, so it
  # never appears on a command line.
  local key=${BROKER_API_KEY:-}
  if [[ -z $key && -n ${BROKER_API_KEY_FILE:-} && -r ${BROKER_API_KEY_FILE} ]]; then
    key=$(head -n1 "$BROKER_API_KEY_FILE" | tr -d '\r\n')
  fi
  if [[ -n $key ]]; then
    add_secret "$key"
    printf 'header = "Authorization: Bearer %s"\n' "$key" >"$WORK/curl-auth"
    k+=(-K "$WORK/curl-auth")
  fi
  rc=0
  code=$(curl -sS "${k[@]}" -m 10 -o "$WORK/ready.txt" -w '%{http_code}' "$url/api/health/ready" 2>"$WORK/curl.err") || rc=$?
  if ((rc != 0)); then
    bad "broker not reachable at $url: $(head -n1 "$WORK/curl.err")"
    fix "check the container state and the published port above; curl -v $url/api/health/live"
    return 0
  fi
  case $code in
    200)
      if grep -qE '"status" *: *"serving_cached"' "$WORK/ready.txt"; then
        bad "Redis unreachable: serving cached tokens only (GET $url/api/health/ready → 200 serving_cached)"
        note "$(mask <"$WORK/ready.txt" | head -c 400)"
        fix "callers still get the tokens the broker holds until they expire; bring Redis back (Redis section below)"
      else
        ok "ready: GET $url/api/health/ready → 200"
      fi
      ;;
    401 | 403) warn "GET $url/api/health/ready → $code (needs an API key?)" ;;
    *)
      bad "not ready: GET $url/api/health/ready → $code"
      note "$(mask <"$WORK/ready.txt" | head -c 400)"
      fix "the quick diagnosis below names the failing check"
      ;;
  esac
  rc=0
  code=$(curl -sS "${k[@]}" -m 20 -o "$WORK/diagnosis.txt" -w '%{http_code}' "$url/quick_diagnosis.php?format=text" 2>"$WORK/curl.err") || rc=$?
  if ((rc != 0)); then
    bad "quick diagnosis failed: $(head -n1 "$WORK/curl.err")"
    return 0
  fi
  case $code in
    200) ok "quick diagnosis: every check passed (HTTP 200)" ;;
    503)
      bad "quick diagnosis: a check fails (HTTP 503); its report below says what to do"
      fix "follow the fix printed in the report (docs/troubleshooting.md explains 40164, 40001/42001, 45009, locks)"
      ;;
    401 | 403)
      warn "quick diagnosis → HTTP $code: the broker wants an admin API key"
      fix "BROKER_API_KEY_FILE=<file holding an admin key> bash scripts/diagnose.sh $CONTAINER"
      ;;
    *) bad "quick diagnosis → HTTP $code" ;;
  esac
  printf '\n'
  mask <"$WORK/diagnosis.txt" | sed 's/^/    | /'
  printf '\n'
}

find_redis() {
  if [[ -n ${REDIS_CONTAINER:-} ]]; then
    printf '%s\n' "$REDIS_CONTAINER"
    return 0
  fi
  [[ ${F[service]:-} == redis ]] && {
    printf '%s\n' "$CONTAINER"
    return 0
  }
  [[ -n ${F[project]:-} ]] || return 1
  local found
  found=$(dk ps -a --filter "label=com.docker.compose.project=${F[project]}" --filter "label=com.docker.compose.service=redis" --format '{{.Names}}' 2>/dev/null | head -n1) || true
  if [[ -z $found ]]; then
    found=$(dk ps -a --filter "label=com.docker.compose.project=${F[project]}" --format '{{.Names}}|{{.Image}}' 2>/dev/null | awk -F'|' '$2 ~ /redis/ { print $1; exit }') || true
  fi
  [[ -n $found ]] || return 1
  printf '%s\n' "$found"
}

report_redis() {
  section "Redis"
  local name state pong
  if ! name=$(find_redis); then
    if ((IS_BROKER)); then
      if [[ -z ${ENVV[REDIS_URL]:-} && -z ${ENVV[REDIS_SENTINELS]:-} ]]; then
        note "the broker runs without REDIS_URL (embedded store, one replica only)"
      else
        warn "no Redis container found next to $CONTAINER"
        fix "REDIS_CONTAINER=<name> bash scripts/diagnose.sh $CONTAINER"
      fi
    else
      note "skipped (no Redis container in this compose project; set REDIS_CONTAINER to check one)"
    fi
    return 0
  fi
  REDIS_NAME=$name
  if ! state=$(inspect_f '{{.State.Status}}' "$name" 2>/dev/null); then
    bad "Redis container $name not found"
    fix "docker compose up -d redis"
    return 0
  fi
  inspect_f '{{range .Config.Env}}{{println .}}{{end}}' "$name" 2>/dev/null | collect_secrets || true
  if [[ $state != running ]]; then
    bad "Redis container $name is $state"
    fix "docker start $name    (then: docker logs --tail 50 $name)"
    return 0
  fi
  # The password stays inside the container: REDISCLI_AUTH is set there, never on this host's command line.
  # shellcheck disable=SC2016 # expanded by the container's shell
  pong=$(dk exec "$name" sh -c 'if [ -n "${REDIS_PASSWORD:-}" ]; then export REDISCLI_AUTH="$REDIS_PASSWORD"; fi; redis-cli ping' 2>&1 | mask | tr -d '\r' | head -n 3) || true
  if [[ $pong == PONG* ]]; then
    ok "redis-cli ping in $name → PONG"
  elif [[ $pong == *NOAUTH* || $pong == *WRONGPASS* || $pong == *"invalid password"* ]]; then
    bad "redis-cli ping in $name → $pong"
    fix "REDIS_PASSWORD must be the same for redis and the brokers (.env), then: docker compose up -d"
  else
    bad "redis-cli ping in $name → ${pong:-(no answer)}"
    fix "docker logs --tail 50 $name; docker restart $name"
  fi
}

# log_hint LEVEL GREP-FLAGS REGEX MESSAGE FIX: one known pattern in the logs gives one line and its fix. Counts into
# the caller's `hints`.
log_hint() {
  grep "$2" "$3" "$WORK/logs" || return 0
  "$1" "$4"
  fix "$5"
  hints=$((hints + 1))
}

report_logs() {
  local name=$CONTAINER ip
  dk logs --tail "$LOG_LINES" "$name" >"$WORK/logs" 2>&1 || true
  section "日志提示 Hints from the logs"
  local hints=0
  if ip=$(grep -oE 'invalid ip [0-9a-fA-F.:]+' "$WORK/logs" | tail -n1 | awk '{print $3}') && [[ -n $ip ]]; then
    bad "WeChat 40164: this server's IP $ip is not in the account's IP whitelist"
    fix "微信公众平台 → 设置与开发 → 基本配置 → IP白名单: add $ip, wait a few minutes (docs/troubleshooting.md)"
    hints=$((hints + 1))
  fi
  log_hint bad -qE '\b45009\b|reach max api daily quota|api freq out of limit' \
    "WeChat 45009: the daily quota of the token API is used up" \
    "find who else fetches tokens for this AppID; wait for the daily reset (docs/troubleshooting.md, 45009)"
  log_hint warn -qE '\b(40001|42001)\b' \
    "40001/42001 seen: a token was invalidated, often because another program fetches tokens for the same AppID" \
    "make every service ask the broker; see docs/troubleshooting.md (40001/42001)"
  log_hint warn -qiE 'EACCES|permission denied|UnauthorizedAccessException' \
    "permission errors in the logs" "see Mounts and permissions above (chown 1001:1001 <host dir>)"
  log_hint warn -qiE 'heap out of memory|OutOfMemory' \
    "out-of-memory errors in the logs" "raise the memory limit (mem_limit) or find the leak"
  log_hint warn -qE 'EADDRINUSE|address already in use' \
    "the port was already in use inside the container" "check PORT and that only one server listens on it"
  if grep -qiE 'ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|connection refused' "$WORK/logs"; then
    warn "connection errors in the logs (Redis, WeChat, the broker or DNS)"
    if ((IS_BROKER)); then
      fix "see the Redis section above and the quick diagnosis"
    else
      fix "if it is the broker: bash scripts/diagnose.sh wechat-token-broker"
    fi
    hints=$((hints + 1))
  fi
  ((hints > 0)) || ok "no known error pattern in the last $LOG_LINES log lines"

  section "最近日志 Last $LOG_LINES log lines: docker logs --tail $LOG_LINES $name"
  mask <"$WORK/logs"
}

report() {
  printf 'wechat-token-broker diagnose · container %s · host %s · %s\n' "$CONTAINER" "$(hostname 2>/dev/null || uname -n)" "$(date '+%Y-%m-%d %H:%M:%S %z')"
  if ! have "$DOCKER"; then
    bad "the docker command ($DOCKER) is not installed or not in PATH"
    return 2
  fi
  if ! inspect_f "$FACTS_TEMPLATE" "$CONTAINER" >"$WORK/facts" 2>"$WORK/inspect.err"; then
    if grep -qiE 'No such (object|container)' "$WORK/inspect.err"; then
      bad "container $CONTAINER does not exist"
      note "containers on this host:"
      dk ps -a --format '{{.Names}}  ({{.Status}})' 2>/dev/null | sed 's/^/      /' || true
      fix "name another one: bash scripts/diagnose.sh <container>  (or DIAGNOSE_CONTAINER=<name>)"
      fix "or create it: docker compose up -d   (in the directory of docker-compose.yml)"
      return 1
    fi
    bad "cannot talk to Docker: $(head -n1 "$WORK/inspect.err")"
    fix "systemctl status docker; run as root or as a member of the docker group (sudo bash scripts/diagnose.sh)"
    return 2
  fi
  load_facts
  report_container
  report_health
  report_ports
  report_mounts
  report_broker
  report_redis
  report_logs
  section "总结 Summary"
  if ((FAILS > 0)); then
    printf '✗ %d problem(s), %d warning(s). Fix the ✗ lines first; docs/troubleshooting.md has the details.\n' "$FAILS" "$WARNS"
  elif ((WARNS > 0)); then
    printf '! no problem, %d warning(s)\n' "$WARNS"
  else
    printf '✓ no problem found\n'
  fi
  # hand what the bundle needs to the parent shell (this function may run in a pipeline)
  printf '%s\n%s\n' "$REDIS_NAME" "$DIAG_URL" >"$WORK/context"
  ((FAILS == 0)) || return 1
  return 0
}

# ---- support bundle --------------------------------------------------------------------------------------
write_bundle() {
  local stamp host base stage archive redis diag_url v
  stamp=$(date -u '+%Y%m%dT%H%M%SZ')
  host=$(hostname 2>/dev/null || uname -n)
  base="diagnose-${CONTAINER}-${host}-${stamp}"
  stage="$WORK/bundle/$base"
  mkdir -p "$stage" "$BUNDLE_DIR"
  redis=$(sed -n 1p "$WORK/context" 2>/dev/null || true)
  diag_url=$(sed -n 2p "$WORK/context" 2>/dev/null || true)
  # re-read the secrets: the report may have run in a subshell
  : >"$SECRETS_FILE"
  dk inspect --type container -f '{{range .Config.Env}}{{println .}}{{end}}' "$CONTAINER" 2>/dev/null | collect_secrets || true
  [[ -n $redis ]] && { dk inspect --type container -f '{{range .Config.Env}}{{println .}}{{end}}' "$redis" 2>/dev/null | collect_secrets || true; }

  cp "$WORK/report.raw" "$stage/report.txt.raw"
  dk inspect "$CONTAINER" >"$stage/inspect.json.raw" 2>&1 || true
  dk logs --timestamps --tail 5000 "$CONTAINER" >"$stage/logs.txt.raw" 2>&1 || true
  if [[ -n $redis ]]; then
    dk inspect "$redis" >"$stage/redis-inspect.json.raw" 2>&1 || true
    dk logs --timestamps --tail 1000 "$redis" >"$stage/redis-logs.txt.raw" 2>&1 || true
  fi
  if [[ -n $diag_url ]]; then
    {
      printf 'GET %s/quick_diagnosis.php?format=text\n\n' "$diag_url"
      cat "$WORK/diagnosis.txt" 2>/dev/null || echo "(no answer)"
      printf '\n\nGET %s/api/health/ready\n\n' "$diag_url"
      cat "$WORK/ready.txt" 2>/dev/null || echo "(no answer)"
    } >"$stage/diagnosis.txt.raw"
  fi
  {
    echo "# date";       date '+%Y-%m-%d %H:%M:%S %z'
    echo "# uname -a";   uname -a
    echo "# docker version"; dk version 2>&1 || true
    echo "# docker ps -a"; dk ps -a 2>&1 || true
    echo "# listening TCP ports"; { ss -ltn 2>/dev/null || netstat -ltn 2>/dev/null || echo "(ss/netstat unavailable)"; }
    echo "# df -h";      df -h 2>&1 || true
    echo "# free -m";    free -m 2>&1 || true
  } >"$stage/host.txt.raw"

  for f in "$stage"/*.raw; do
    mask <"$f" >"${f%.raw}"
    rm -f "$f"
  done
  # Fail closed: no secret value may survive in any file.
  while IFS= read -r v; do
    [[ -n $v ]] || continue
    if grep -rqF -- "$v" "$stage"; then
      echo "diagnose.sh: a secret value is still present in the bundle; not writing it" >&2
      return 1
    fi
  done <"$SECRETS_FILE"
  archive="$BUNDLE_DIR/$base.tar.gz"
  tar -czf "$archive" -C "$WORK/bundle" "$base"
  chmod 600 "$archive"
  printf '\n支持包 Support bundle: %s\n' "$archive"
  printf '(environment values with secret-looking names and URL passwords are masked as ***)\n'
}

rc=0
if ((BUNDLE)); then
  report 2>&1 | tee "$WORK/report.raw" || rc=$?
  if ((rc < 2)) && [[ -f $WORK/facts && -s $WORK/facts ]]; then
    write_bundle || rc=2
  fi
else
  report || rc=$?
fi
exit "$rc"
