#!/usr/bin/env bats
# scripts/diagnose.sh against recorded containers (fake docker), a stub broker over real HTTP, and real files.

load helpers

setup() {
  common_setup
  DIAGNOSE="$REPO_ROOT/scripts/diagnose.sh"
}

teardown() {
  common_teardown
}

# the configuration directory the broker fixtures mount at /run/config, readable by UID 1001
make_broker_config() {
  local c="$FAKE_DOCKER_MOUNT_ROOT/config"
  mkdir -p "$c/secrets"
  echo "accounts: [{id: shop, appId: wx0000000000000001, appSecretFile: secrets/shop-appsecret}]" >"$c/accounts.yaml"
  echo "[{name: ops, keyFile: secrets/ops-key, role: admin}]" >"$c/api-keys.yaml"
  echo "fake-secret-value-000" >"$c/secrets/shop-appsecret"
  echo "fake-api-key-value-000" >"$c/secrets/ops-key"
  chmod -R u+rwX,go+rX "$c"
}

broker_stub_ok() {
  start_http_stub
  stub_route /api/health/ready 200 '{"status":"ready"}'
  stub_route /quick_diagnosis.php 200 "$(printf 'wechat-token-broker quick diagnosis\n✓ redis: connected (2 ms)\n✓ gh_e4b07b2a992e6669: token valid for 6512 s')"
}

@test "a healthy broker: every check passes, exit 0, and diagnose changes nothing" {
  use_containers healthy
  make_broker_config
  broker_stub_ok
  printf 'State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\nLISTEN 0      4096   127.0.0.1:8084     0.0.0.0:*\n' >"$FAKE_DOCKER_DIR/ss.out"
  BROKER_URL=$STUB_URL run bash "$DIAGNOSE"
  echo "$output"
  [ "$status" -eq 0 ]
  assert_contains "$output" "容器 Container: wechat-token-broker"
  assert_contains "$output" "✓ running since 2026-11-20T01:12:45"
  assert_contains "$output" "✓ RestartPolicy=unless-stopped"
  assert_contains "$output" "✓ healthy"
  assert_contains "$output" "check at 2026-11-21T06:01:45 exit=0 healthy: HTTP 200"
  assert_contains "$output" "✓ 127.0.0.1:8084 → 8084/tcp: the host listens on port 8084"
  assert_contains "$output" "✓ bind $FAKE_DOCKER_MOUNT_ROOT/config → /run/config (ro): owner $(id -u):$(id -g) mode 755, readable by UID 1001"
  assert_contains "$output" "✓ ready: GET $STUB_URL/api/health/ready → 200"
  assert_contains "$output" "✓ quick diagnosis: every check passed (HTTP 200)"
  assert_contains "$output" "| ✓ gh_e4b07b2a992e6669: token valid for 6512 s"
  assert_contains "$output" "✓ redis-cli ping in wechat-token-broker-redis → PONG"
  assert_contains "$output" "token refreshed, expires in 7200 s"
  refute_contains "$output" "✗"
  # the quick diagnosis was asked in text form
  grep -q '^GET /quick_diagnosis.php?format=text$' "$TMP/stub/requests.log"
  # read-only: no docker command that changes anything
  refute_grep -qE '^docker (restart|start|stop|update|rm|kill)' "$FAKE_DOCKER_DIR/calls.log"
  # the Redis password stays inside the Redis container: not on the docker exec command line
  grep -q '^docker exec wechat-token-broker-redis sh -c' "$FAKE_DOCKER_DIR/calls.log"
  refute_grep -q 'Rp-7f3c9a1e5b2d8f4a6c0e' "$FAKE_DOCKER_DIR/calls.log"
}

@test "restart policy 'no' is flagged with the exact fix, for any container (wechat-api)" {
  use_containers restart-no
  run bash "$DIAGNOSE" wechat-api
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "容器 Container: wechat-api"
  assert_contains "$output" "✗ RestartPolicy=no: the container will not come back after it exits or the host reboots"
  # the fix is the line right under it
  local i
  for i in "${!lines[@]}"; do
    if [[ ${lines[$i]} == "✗ RestartPolicy=no"* ]]; then
      [ "${lines[$((i + 1))]}" = "    fix: docker update --restart unless-stopped wechat-api" ]
    fi
  done
  assert_contains "$output" "✗ exited with code 139"
  assert_contains "$output" "segmentation fault"
  assert_contains "$output" "fix: docker start wechat-api"
  assert_contains "$output" "skipped: wechat-api is not the broker"
  refute_grep -qE '^docker (restart|start|update)' "$FAKE_DOCKER_DIR/calls.log"
}

@test "DIAGNOSE_CONTAINER selects the container" {
  use_containers restart-no
  DIAGNOSE_CONTAINER=wechat-api run bash "$DIAGNOSE"
  [ "$status" -eq 1 ]
  assert_contains "$output" "fix: docker update --restart unless-stopped wechat-api"
}

@test "an unhealthy broker: the failing streak and the last healthcheck outputs are shown" {
  use_containers unhealthy
  make_broker_config
  start_http_stub
  stub_route /api/health/ready 503 '{"status":"not ready","checks":{"redis":"unreachable"}}'
  stub_route /quick_diagnosis.php 503 "$(printf '✗ redis: ECONNREFUSED 172.19.0.2:6379\n  fix: docker start wechat-token-broker-redis')"
  BROKER_URL=$STUB_URL REDIS_CONTAINER=nonexistent-redis run bash "$DIAGNOSE"
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "✗ unhealthy (7 failed checks in a row)"
  assert_contains "$output" "check at 2026-11-21T06:12:21 exit=1 unhealthy: HTTP 503 from http://127.0.0.1:8084/api/health/live in 11 ms"
  assert_contains "$output" "exit=1 unhealthy: no answer from http://127.0.0.1:8084/api/health/live within 3000 ms"
  assert_contains "$output" "fix: read the check output below and the logs; once the cause is fixed: docker restart wechat-token-broker"
  assert_contains "$output" "✗ not ready: GET $STUB_URL/api/health/ready → 503"
  assert_contains "$output" "✗ quick diagnosis: a check fails (HTTP 503)"
  assert_contains "$output" "| ✗ redis: ECONNREFUSED 172.19.0.2:6379"
  assert_contains "$output" "✗ Redis container nonexistent-redis not found"
  assert_contains "$output" "connection errors in the logs"
}

@test "a broker serving cached tokens while Redis is down: readiness 200 serving_cached is a failed check, not a pass" {
  use_containers healthy
  make_broker_config
  start_http_stub
  stub_route /api/health/ready 200 '{"status":"serving_cached","store":{"mode":"redis","ok":false,"error":"not connected"},"cached":{"accounts":1,"of":2}}'
  stub_route /quick_diagnosis.php 503 "$(printf '✗ redis: ECONNREFUSED 172.19.0.2:6379\n  fix: docker start wechat-token-broker-redis')"
  BROKER_URL=$STUB_URL REDIS_CONTAINER=nonexistent-redis run bash "$DIAGNOSE"
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "✗ Redis unreachable: serving cached tokens only (GET $STUB_URL/api/health/ready → 200 serving_cached)"
  assert_contains "$output" '"cached":{"accounts":1,"of":2}'
  assert_contains "$output" "fix: callers still get the tokens the broker holds until they expire"
  refute_contains "$output" "✓ ready:"
}

@test "an OOM-killed broker: OOMKilled, exit 137 and the on-failure policy are each explained" {
  use_containers oom
  make_broker_config
  run bash "$DIAGNOSE" wechat-token-broker
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "✗ exited with code 137"
  assert_contains "$output" "✗ OOMKilled: the kernel killed it at its memory limit (128 MiB)"
  assert_contains "$output" "fix: docker update --memory 512m --memory-swap 512m wechat-token-broker"
  assert_contains "$output" "! restarted 3 time(s) since it was created"
  assert_contains "$output" "! RestartPolicy=on-failure (max 3 retries)"
  assert_contains "$output" "fix: docker update --restart unless-stopped wechat-token-broker"
  assert_contains "$output" "✗ 127.0.0.1:8084 → 8084/tcp: nothing listens on port 8084 (the container is not running)"
  assert_contains "$output" "out-of-memory errors in the logs"
  assert_contains "$output" "FATAL ERROR: Reached heap limit"
}

@test "a bind mount whose host directory belongs to root is not writable by UID 1001: chown fix printed" {
  [ "$(id -u)" != 1001 ] || skip "the test user is UID 1001 itself"
  use_containers bind-root
  mkdir -p "$FAKE_DOCKER_MOUNT_ROOT/wechat-uploadall" "$FAKE_DOCKER_MOUNT_ROOT/certs"
  chmod 755 "$FAKE_DOCKER_MOUNT_ROOT/wechat-uploadall" "$FAKE_DOCKER_MOUNT_ROOT/certs"
  local dir="$FAKE_DOCKER_MOUNT_ROOT/wechat-uploadall"
  run bash "$DIAGNOSE" wechat-api
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "the container runs as UID 1001 GID 1001 (User \"1001\")"
  assert_contains "$output" "✗ bind $dir → /app/wwwroot/uploadall (rw): owner $(id -u):$(id -g) mode 755, NOT writable by the container's UID 1001"
  assert_contains "$output" "fix: chown -R 1001:1001 $dir"
  assert_contains "$output" "fix: chmod 755 $dir"
  assert_contains "$output" "✓ bind $FAKE_DOCKER_MOUNT_ROOT/certs → /app/certs (ro)"
  assert_contains "$output" "permission errors in the logs"
  # ports published on all interfaces are fine for wechat-api (not the broker)
  refute_contains "$output" "published on every interface"

  # after the fix, the same check passes (needs root to chown)
  if [ "$(id -u)" = 0 ]; then
    chown 1001:1001 "$dir"
    run bash "$DIAGNOSE" wechat-api
    assert_contains "$output" "✓ bind $dir → /app/wwwroot/uploadall (rw): owner 1001:1001 mode 755, writable by UID 1001"
    [ "$status" -eq 0 ]
  fi
}

@test "a file in the read-only config directory that UID 1001 cannot read is flagged" {
  use_containers healthy
  make_broker_config
  local c="$FAKE_DOCKER_MOUNT_ROOT/config"
  chmod 600 "$c/secrets/shop-appsecret"
  [ "$(stat -c %u "$c/secrets/shop-appsecret")" != 1001 ] || skip "the test user is UID 1001 itself"
  run bash "$DIAGNOSE"
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "✗ bind $c → /run/config (ro): 1 file(s) in it NOT readable by the container's UID 1001: $c/secrets/shop-appsecret"
  assert_contains "$output" "fix: chown -R 1001:1001 $c && chmod -R u+rX,go-rwx $c"
  # the directory itself closed
  chmod 644 "$c/secrets/shop-appsecret"
  chmod 700 "$c"
  run bash "$DIAGNOSE"
  assert_contains "$output" "✗ bind $c → /run/config (ro): owner $(id -u):$(id -g) mode 700, NOT readable by the container's UID 1001"
  # fixed as printed (as root), it passes
  if [ "$(id -u)" = 0 ]; then
    chown -R 1001:1001 "$c" && chmod -R u+rX,go-rwx "$c"
    run bash "$DIAGNOSE"
    assert_contains "$output" "✓ bind $c → /run/config (ro): owner 1001:1001 mode 700, readable by UID 1001"
  fi
}

@test "40164 in the logs: the IP to whitelist and where to add it" {
  use_containers healthy
  make_broker_config
  echo '{"level":50,"msg":"upstream error","errcode":40164,"errmsg":"invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist rid: 69314eae-54edb1ba-15ae265a"}' \
    >>"$FAKE_DOCKER_DIR/wechat-token-broker.log"
  BROKER_URL=http://127.0.0.1:1 run bash "$DIAGNOSE"
  echo "$output"
  assert_contains "$output" "✗ WeChat 40164: this server's IP 1.92.157.200 is not in the account's IP whitelist"
  assert_contains "$output" "微信公众平台 → 设置与开发 → 基本配置 → IP白名单: add 1.92.157.200"
  assert_contains "$output" "✗ broker not reachable at http://127.0.0.1:1"
}

@test "BROKER_API_KEY_FILE: the diagnosis is asked with the admin key, which is on no command line" {
  use_containers healthy
  make_broker_config
  start_http_stub
  stub_route /api/health/ready 200 '{"status":"ready"}'
  stub_route /quick_diagnosis.php 200 'all checks passed'
  printf 'adm_Key-for-diagnosis-0042\n' >"$TMP/admin.key"
  BROKER_URL=$STUB_URL BROKER_API_KEY_FILE="$TMP/admin.key" run bash "$DIAGNOSE"
  echo "$output"
  grep -qxF 'GET /quick_diagnosis.php?format=text [authorization: Bearer adm_Key-for-diagnosis-0042]' "$TMP/stub/requests.log"
  refute_contains "$output" "adm_Key-for-diagnosis-0042"
  record_curl_argv
  BROKER_URL=$STUB_URL BROKER_API_KEY_FILE="$TMP/admin.key" run bash "$DIAGNOSE"
  grep -q 'quick_diagnosis' "$CURL_ARGV_LOG"
  refute_grep -F 'adm_Key-for-diagnosis-0042' "$CURL_ARGV_LOG"
}

@test "HTTP 401 from the diagnosis: says an admin API key is needed" {
  use_containers healthy
  make_broker_config
  start_http_stub
  stub_route /api/health/ready 200 '{"status":"ready"}'
  stub_route /quick_diagnosis.php 401 '{"error":{"code":"unauthorized"}}'
  BROKER_URL=$STUB_URL run bash "$DIAGNOSE"
  assert_contains "$output" "! quick diagnosis → HTTP 401: the broker wants an admin API key"
  assert_contains "$output" "fix: BROKER_API_KEY_FILE=<file holding an admin key> bash scripts/diagnose.sh wechat-token-broker"
}

@test "a container that does not exist: exit 1, the containers that do, and how to create it" {
  use_containers healthy
  run bash "$DIAGNOSE" no-such-thing
  echo "$output"
  [ "$status" -eq 1 ]
  assert_contains "$output" "✗ container no-such-thing does not exist"
  assert_contains "$output" "wechat-token-broker  (Up 2 hours (healthy))"
  assert_contains "$output" "fix: or create it: docker compose up -d"
}

@test "Docker unreachable: exit 2 with the reason" {
  use_containers healthy
  touch "$FAKE_DOCKER_DIR/fail-inspect"
  run bash "$DIAGNOSE"
  [ "$status" -eq 2 ]
  assert_contains "$output" "✗ cannot talk to Docker: Cannot connect to the Docker daemon"
}

@test "usage errors exit 2; --help prints the usage" {
  run bash "$DIAGNOSE" --frobnicate
  [ "$status" -eq 2 ]
  run bash "$DIAGNOSE" a b
  [ "$status" -eq 2 ]
  run bash "$DIAGNOSE" --help
  [ "$status" -eq 0 ]
  assert_contains "$output" "bash scripts/diagnose.sh [container] [--bundle [dir]]"
}

# every secret of the "secrets" fixtures, raw and as docker inspect's JSON shows them
SECRETS=(
  'Sup3r&"Secret<pw>'
  'Sup3r\u0026\"Secret\u003cpw\u003e'
  'Sup3r&\"Secret<pw>'
  '3f9a2c7e1b5d8f4a6c0e2b9d7f1a3c5e'
  'smtp-auth-code-Q7x9'
  'tok_live_8c1e4b7a9d2f5e3c'
  'pfx-pass-phrase-42'
  'ak_9f8e7d6c5b4a39281706'
  'cred-AKID-5566778899'
  'UrlPassw0rd-4d2a'
)

@test "--bundle writes a tar.gz with inspect, logs and diagnosis, and no secret value in any file" {
  use_containers secrets
  make_broker_config
  start_http_stub
  stub_route /api/health/ready 200 '{"status":"ready"}'
  stub_route /quick_diagnosis.php 200 'all checks passed'
  mkdir -p "$TMP/out"
  BROKER_URL=$STUB_URL run bash "$DIAGNOSE" wechat-token-broker --bundle "$TMP/out"
  echo "$output"
  [ "$status" -le 1 ]
  assert_contains "$output" "Support bundle: $TMP/out/diagnose-wechat-token-broker-"
  # the terminal report shows no secret either
  local s
  for s in "${SECRETS[@]}"; do refute_contains "$output" "$s"; done

  local archive
  archive=$(ls "$TMP/out"/diagnose-wechat-token-broker-*.tar.gz)
  [ "$(stat -c %a "$archive")" = 600 ]
  mkdir -p "$TMP/x"
  tar -xzf "$archive" -C "$TMP/x"
  local root
  root=$(ls -d "$TMP/x"/diagnose-wechat-token-broker-*)
  for f in report.txt inspect.json logs.txt diagnosis.txt redis-inspect.json redis-logs.txt host.txt; do
    [ -s "$root/$f" ] || {
      echo "missing $f"
      return 1
    }
  done
  # no secret value anywhere in the archive
  for s in "${SECRETS[@]}"; do
    if grep -rlF -- "$s" "$TMP/x"; then
      echo "secret $s found in the files above"
      return 1
    fi
  done
  # masked by name in Config.Env, the rest kept
  grep -qF '"REDIS_PASSWORD=***",' "$root/inspect.json"
  grep -qF '"WECHAT_APP_SECRET=***",' "$root/inspect.json"
  grep -qF '"SMTP_PASS=***",' "$root/inspect.json"
  grep -qF '"ADMIN_TOKEN=***",' "$root/inspect.json"
  grep -qF '"API_KEYS=***",' "$root/inspect.json"
  grep -qF '"ALIYUN_CREDENTIALS=***",' "$root/inspect.json"
  grep -qF '"TLS_PFX_PASSPHRASE=***",' "$root/inspect.json"
  grep -qF '"REDIS_URL=redis://***@redis:6379/0",' "$root/inspect.json"
  grep -qF '"LOG_LEVEL=debug",' "$root/inspect.json"
  grep -qF '"REDIS_PASSWORD=***",' "$root/redis-inspect.json"
  # still valid JSON, still the same container
  node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0]; if (c.Name !== "/wechat-token-broker") process.exit(1);' "$root/inspect.json"
  # the logs are there, masked
  grep -qF 'legacy debug: connecting with password *** to redis' "$root/logs.txt"
  grep -qF 'all checks passed' "$root/diagnosis.txt"
  grep -qF '容器 Container: wechat-token-broker' "$root/report.txt"
}

@test "--bundle defaults to the current directory" {
  use_containers healthy
  make_broker_config
  cd "$TMP"
  BROKER_URL=http://127.0.0.1:1 run bash "$DIAGNOSE" --bundle
  assert_contains "$output" "Support bundle: ./diagnose-wechat-token-broker-"
  ls "$TMP"/diagnose-wechat-token-broker-*.tar.gz
  tar -tzf "$TMP"/diagnose-wechat-token-broker-*.tar.gz | grep -q '/inspect.json$'
  # the Redis password of the healthy fixtures is in no file of the archive
  run bash -c "tar -xzOf $TMP/diagnose-wechat-token-broker-*.tar.gz | grep -c 'Rp-7f3c9a1e5b2d8f4a6c0e'"
  [ "$output" = 0 ]
}

@test "a CONTAINER_NAME set in the shell for something else is ignored; DIAGNOSE_CONTAINER or the argument names the container" {
  use_containers healthy
  make_broker_config
  broker_stub_ok
  CONTAINER_NAME=some-unrelated-app BROKER_URL=$STUB_URL run bash "$DIAGNOSE"
  echo "$output"
  assert_contains "$output" "容器 Container: wechat-token-broker"
  refute_contains "$output" "some-unrelated-app"
  DIAGNOSE_CONTAINER=wechat-token-broker-redis CONTAINER_NAME=some-unrelated-app run bash "$DIAGNOSE"
  echo "$output"
  assert_contains "$output" "容器 Container: wechat-token-broker-redis"
  DIAGNOSE_CONTAINER=wechat-token-broker-redis run bash "$DIAGNOSE" wechat-token-broker
  assert_contains "$output" "容器 Container: wechat-token-broker"
  refute_contains "$output" "容器 Container: wechat-token-broker-redis"
}
