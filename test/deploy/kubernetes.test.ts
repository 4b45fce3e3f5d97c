// deploy/kubernetes against what can be checked without a cluster: `kubectl kustomize` renders the base and the
// overlays, every object passes the Kubernetes OpenAPI schema bundled in the npm package kubernetes-models (ajv,
// offline) and has no field its TypeScript interfaces do not know (a typo), and the Deployment is held to the
// broker itself: probe paths that a real `serve` answers, the port of the configuration, the UID of the
// Dockerfile, resources from docs/benchmarks.md, secrets as files.
// No cluster here: scheduling, the image pull and the probes' timing are verified on a real cluster.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import ts from "typescript";
import { dirname, join, posix, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { loadConfig, VARIABLES, type VariableName } from "../../src/config";
import { BROKER_NODE_FLAGS } from "../../src/cli/nodeFlags";
import { spawnServe } from "../helpers/processes";

const ROOT = resolve(__dirname, "..", "..");
const KUSTOMIZE = "deploy/kubernetes";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
}

function render(dir: string): K8sObject[] {
  const r = spawnSync("kubectl", ["kustomize", join(ROOT, KUSTOMIZE, dir)], { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`kubectl is not installed (apt-get install -y kubernetes-client): ${r.error.message}`);
  assert.equal(r.status, 0, `kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject)
    .filter((o) => o !== null);
}

/** The schema-checking model class of an object, from kubernetes-models (ESM: loaded with import()). */
async function modelOf(o: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const path = `kubernetes-models/${o.apiVersion}/${o.kind}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(path)) as Record<string, unknown>;
  } catch (err) {
    assert.fail(`no Kubernetes schema for ${o.apiVersion} ${o.kind} (${path}): ${(err as Error).message}`);
  }
  return mod[o.kind] as new (data: unknown) => { validate(): void };
}

/**
 * Fields the Kubernetes types do not know (a typo such as `periodSecond`, which the API server would drop or
 * refuse): the schemas allow extra properties, so these are found by TypeScript's excess-property check over
 * kubernetes-models' interfaces instead, compiled offline. Returns the compiler's complaints.
 */
function unknownFields(objs: K8sObject[]): string[] {
  // Inside node_modules/.cache so the imports resolve from the project's node_modules (a git-ignored place).
  const cache = join(ROOT, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, "wtb-k8s-types-"));
  try {
    const file = join(dir, "objects.mts");
    // Two lines per object, so a complaint's line says which object it is about.
    const lines = objs.map(
      (o, i) =>
        `import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\nexport const o${i}: T${i} = ${JSON.stringify(o)};`,
    );
    writeFileSync(file, lines.join("\n"));
    const program = ts.createProgram([file], {
      noEmit: true,
      strict: true,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const o = d.file && d.start !== undefined ? objs[Math.floor(d.file.getLineAndCharacterOfPosition(d.start).line / 2)] : undefined;
      return `${o ? `${o.kind}/${o.metadata.name}` : "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const byKind = (objs: K8sObject[], kind: string, name?: string): K8sObject => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `${kind} ${name ?? ""} rendered`);
  return o;
};

function settingsOf(objs: K8sObject[], deployment: K8sObject): Record<string, string> {
  const ref = deployment.spec.template.spec.containers[0].envFrom[0].configMapRef.name as string;
  return byKind(objs, "ConfigMap", ref).data ?? {};
}

/** A row of the benchmark table of docs/benchmarks.md ("4. Cost as the number of accounts grows"). */
function benchmarkRss(accounts: string): { idle: number; afterLoad: number } {
  const doc = readFileSync(join(ROOT, "docs/benchmarks.md"), "utf8");
  const header = doc.split("\n").find((l) => l.startsWith("| accounts | start-up ms"))!;
  const cols = header.split("|").map((c) => c.trim());
  const row = doc.split("\n").find((l) => l.startsWith(`| ${accounts} |`))!;
  const cells = row.split("|").map((c) => c.trim());
  return { idle: Number(cells[cols.indexOf("RSS idle MB")]), afterLoad: Number(cells[cols.indexOf("RSS after load MB")]) };
}

const mebibytes = (q: string): number => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `memory quantity ${q} in Mi or Gi`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
};

describe("the Kubernetes manifests", () => {
  let base: K8sObject[];
  let overlay: K8sObject[];
  let clusterOverlay: K8sObject[];
  before(() => {
    base = render("base");
    overlay = render("overlays/redis");
    clusterOverlay = render("overlays/redis-cluster");
  });

  test("render with kubectl kustomize: the base, and the redis overlay in its own namespace", () => {
    assert.deepEqual(base.map((o) => o.kind).sort(), ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    assert.deepEqual(
      overlay
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .filter((k) => k.includes("redis"))
        .sort(),
      ["Deployment/wechat-token-broker-redis", "NetworkPolicy/wechat-token-broker-redis", "Service/wechat-token-broker-redis"],
    );
    assert.ok(
      overlay.every((o) => o.metadata.namespace === "wechat-token-broker"),
      "every object in the namespace",
    );
  });

  test("every rendered object passes the Kubernetes schema, and the schema check catches a wrong type", async () => {
    for (const o of [...base, ...overlay, ...clusterOverlay]) {
      const Model = await modelOf(o);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`);
    }
    const broken = structuredClone(byKind(base, "Deployment"));
    broken.spec.template.spec.containers[0].ports[0].containerPort = "8084";
    const Model = await modelOf(broken);
    assert.throws(() => new Model(broken).validate(), /containerPort must be integer/);
  });

  test("no object has a field the Kubernetes types do not know, and a misspelt field is caught", () => {
    // One compilation: the rendered objects, then a copy of the Deployment with a typo, which alone must be reported.
    const typo = structuredClone(byKind(base, "Deployment"));
    typo.metadata.name = "with-a-typo";
    typo.spec.template.spec.containers[0].livenessProbe.periodSecond = 10;
    const complaints = unknownFields([...base, ...overlay, ...clusterOverlay, typo]);
    assert.equal(complaints.length, 1, complaints.join("\n"));
    assert.match(complaints[0]!, /^Deployment\/with-a-typo: .*periodSecond"?' does not exist in type 'IProbe'/);
  });

  test("probe liveness, readiness and start-up on the broker's real routes and port", async () => {
    const d = byKind(base, "Deployment");
    const c = d.spec.template.spec.containers[0];
    const portOf = (p: string | number) => (typeof p === "number" ? p : c.ports.find((x: { name: string }) => x.name === p).containerPort);
    assert.equal(c.livenessProbe.httpGet.path, "/api/health/live");
    assert.equal(c.startupProbe.httpGet.path, "/api/health/live");
    assert.equal(c.readinessProbe.httpGet.path, "/api/health/ready");
    const settings = settingsOf(base, d);
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe])
      assert.equal(portOf(probe.httpGet.port), Number(settings.PORT));
    assert.equal(Number(settings.PORT), VARIABLES.PORT.default, "the configured port is the broker's default");
    assert.equal(d.spec.template.metadata.annotations["prometheus.io/port"], String(VARIABLES.PORT.default));
    const svc = byKind(base, "Service", "wechat-token-broker");
    assert.equal(portOf(svc.spec.ports[0].targetPort), VARIABLES.PORT.default);

    // The paths the manifests name, asked of a real broker process.
    const broker = await spawnServe({ LOG_LEVEL: "warn" }, { wait: "up" });
    try {
      for (const path of [
        c.livenessProbe.httpGet.path,
        c.readinessProbe.httpGet.path,
        d.spec.template.metadata.annotations["prometheus.io/path"],
      ]) {
        const r = await fetch(`${broker.url}${path}`);
        await r.arrayBuffer();
        assert.equal(r.status, 200, `GET ${path}`);
      }
    } finally {
      await broker.stop();
    }
  });

  test("run the broker as the container image does: node with the broker's V8 flags, then serve", () => {
    const c = byKind(base, "Deployment").spec.template.spec.containers[0];
    assert.deepEqual([...c.command, ...c.args], ["node", ...BROKER_NODE_FLAGS, "bin/wechat-token-broker.js", "serve"]);
  });

  test("run as the Dockerfile's non-root user with a read-only root filesystem, no privilege escalation and no capabilities", () => {
    const uid = Number(/^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1]);
    assert.equal(uid, 1001);
    for (const d of [byKind(base, "Deployment"), byKind(overlay, "Deployment", "wechat-token-broker-redis")]) {
      const pod = d.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, d.metadata.name);
      assert.equal(pod.automountServiceAccountToken, false, d.metadata.name);
      for (const c of pod.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
        assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"], c.name);
      }
    }
    const broker = byKind(base, "Deployment").spec.template.spec;
    assert.equal(broker.securityContext.runAsUser, uid);
    assert.equal(broker.containers[0].securityContext.runAsUser, uid);
  });

  test("size requests and limits from the benchmarks' memory figures", () => {
    const c = byKind(base, "Deployment").spec.template.spec.containers[0];
    const at1000 = benchmarkRss("1,000");
    assert.ok(at1000.idle > 0 && at1000.afterLoad > 0, "figures found in docs/benchmarks.md");
    assert.ok(
      mebibytes(c.resources.requests.memory) >= at1000.idle,
      `request ${c.resources.requests.memory} ≥ idle RSS with 1,000 accounts (${at1000.idle} MB)`,
    );
    assert.ok(
      mebibytes(c.resources.limits.memory) >= at1000.afterLoad * 1.5,
      `limit ${c.resources.limits.memory} ≥ 1.5 × RSS after load with 1,000 accounts (${at1000.afterLoad} MB)`,
    );
    const heap = Number(/--max-old-space-size=(\d+)/.exec(c.env.find((e: { name: string }) => e.name === "NODE_OPTIONS").value)?.[1]);
    assert.ok(heap < mebibytes(c.resources.limits.memory), "Node's heap fits under the limit");
    assert.ok(c.resources.requests.cpu && c.resources.limits.cpu);
  });

  test("mount the secrets as read-only files and keep them out of the environment; the settings are a valid configuration", () => {
    const d = byKind(base, "Deployment");
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    const settings = settingsOf(base, d);
    for (const name of Object.keys(settings)) assert.ok(name in VARIABLES, `${name} is a variable the broker reads`);
    for (const secret of ["REDIS_PASSWORD", "ACCOUNTS", "API_KEYS", "TLS_PFX_PASSPHRASE"])
      assert.ok(!(secret in settings), `${secret} not in the ConfigMap`);
    assert.ok(!JSON.stringify(c.env ?? []).includes("secretKeyRef"), "no secret in an environment variable");
    const mount = c.volumeMounts.find((m: { name: string }) =>
      pod.volumes.find((v: { name: string; secret?: unknown }) => v.name === m.name && v.secret),
    );
    assert.ok(mount?.readOnly, "a secret volume mounted read-only");
    assert.equal(dirname(settings.ACCOUNTS_FILE!), mount.mountPath);
    assert.equal(posix.dirname(settings.API_KEYS_FILE!), mount.mountPath);

    // The settings load as the broker would load them, with the example files in the secret's place.
    const config = loadSettings(settings);
    assert.equal(config.port, c.ports[0].containerPort);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.auth.required, true);
    // Two replicas need a shared Redis: the base must not run embedded.
    assert.ok(config.redis, "the base configures Redis");
    const redisSvc = byKind(overlay, "Service", "wechat-token-broker-redis");
    assert.equal(new URL(config.redis.url!).hostname, redisSvc.metadata.name, "REDIS_URL names the overlay's Redis service");
    assert.equal(Number(new URL(config.redis.url!).port), redisSvc.spec.ports[0].port);
  });

  test("the Redis Cluster example overlay configures cluster nodes instead of REDIS_URL, with the password from the secret's files", () => {
    const d = byKind(clusterOverlay, "Deployment");
    const settings = settingsOf(clusterOverlay, d);
    const config = loadSettings(settings, { "/run/config/redis-password": "cluster-pw-from-secret\n" });
    assert.equal(config.redis?.url, undefined);
    assert.equal(config.redis?.clusterNodes?.length, 3);
    assert.equal(config.redis?.password, "cluster-pw-from-secret");
    assert.equal(posix.dirname(settings.REDIS_PASSWORD_FILE!), d.spec.template.spec.containers[0].volumeMounts[0].mountPath);
  });
});

/** loadConfig over the rendered settings, with the example accounts and API keys where the secret would be. */
function loadSettings(settings: Record<string, string>, extra: Record<string, string> = {}) {
  const files: Record<string, string | Buffer> = {
    ...extra,
    [settings.ACCOUNTS_FILE!]: readFileSync(join(ROOT, "examples/accounts.example.yaml")),
    [settings.API_KEYS_FILE!]: readFileSync(join(ROOT, "examples/api-keys.example.yaml")),
    "/run/secrets/shop-official-appsecret": "fake-appsecret-1\n",
    "/run/secrets/shop-miniprogram-appsecret": "fake-appsecret-2\n",
    "/run/secrets/hr-wecom-corpsecret": "fake-corpsecret-3\n",
    "/run/secrets/order-service-api-key": `${"k".repeat(40)}-orders\n`,
    "/run/secrets/ops-admin-api-key": `${"k".repeat(40)}-ops\n`,
  };
  return loadConfig(settings as Partial<Record<VariableName, string>>, {
    readFile: (p) => {
      const f = files[p];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      return f;
    },
  });
}

describe("the Kubernetes manifests, kept apart and available", () => {
  let base: K8sObject[];
  before(() => {
    base = render("base");
  });

  test("keep two replicas apart and available: PodDisruptionBudget, topology spread, and selectors that match the pods", () => {
    const d = byKind(base, "Deployment");
    const labels = d.spec.template.metadata.labels as Record<string, string>;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    assert.equal(d.spec.replicas, 2);
    assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.ok(matches(d.spec.selector.matchLabels));
    const pdb = byKind(base, "PodDisruptionBudget");
    assert.ok(matches(pdb.spec.selector.matchLabels));
    assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < d.spec.replicas);
    assert.ok(matches(byKind(base, "Service").spec.selector));
    const spread = d.spec.template.spec.topologySpreadConstraints as Array<{
      topologyKey: string;
      labelSelector: { matchLabels: Record<string, string> };
    }>;
    assert.deepEqual(spread.map((s) => s.topologyKey).sort(), ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    assert.ok(spread.every((s) => matches(s.labelSelector.matchLabels)));
    assert.equal(d.spec.template.metadata.annotations["prometheus.io/scrape"], "true");
  });
});
