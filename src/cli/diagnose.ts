// `wechat-token-broker diagnose`: the quick diagnosis from the command line. In Redis mode it is built on the
// broker's own parts (buildCore) rather than on a running HTTP server, so it works when the servers are down, and
// sees what every replica shares (tokens, breaker, last errors, quota, locks). In embedded mode that state lives
// only in the running broker's memory, so it asks that broker (GET /api/diagnosis) and renders its report.
import type { Command } from "commander";
import { ACCOUNT_ID_PATTERN } from "../accounts";
import { diagnosisFromCore } from "../ops/diagnosis";
import { renderDiagnosisText, REPORT_LANGS, type ReportLang } from "../ops/diagnosisText";
import { locksFromCore } from "../ops/locks";
import { version } from "../version";
import { CONFIG_HELP, configOr, EXIT, processIo, withCore, type CliIo } from "./common";
import type { Config } from "../config";
import type { DiagnosisReport } from "../ops/diagnosisReport";
import { brokerError } from "./askBroker";
import { ask, EMBEDDED_HELP, embedded, printError, RemoteFailure } from "./remote";

export interface DiagnoseCliOptions {
  account?: string;
  probe?: boolean;
  json?: boolean;
  lang?: string;
}

/** `--lang`, else the locale of the shell (LC_ALL, LC_MESSAGES, LANG: zh_CN.UTF-8 → Chinese), else English. */
export function cliLang(opt: string | undefined, env: NodeJS.ProcessEnv): ReportLang | undefined {
  if (opt !== undefined) return (REPORT_LANGS as readonly string[]).includes(opt) ? (opt as ReportLang) : undefined;
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || "";
  return /^zh/i.test(locale) ? "zh" : "en";
}

/** The command's action; returns the exit code. */
export async function runDiagnose(opts: DiagnoseCliOptions, io: CliIo = processIo): Promise<number> {
  if (opts.account !== undefined && !ACCOUNT_ID_PATTERN.test(opts.account)) {
    io.stderr(`--account must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(opts.account.slice(0, 80))}\n`);
    return EXIT.usage;
  }
  const lang = cliLang(opts.lang, io.env);
  if (lang === undefined) {
    io.stderr(`--lang must be zh or en, got ${JSON.stringify(String(opts.lang).slice(0, 20))}\n`);
    return EXIT.usage;
  }
  const config = configOr(io);
  if (typeof config === "number") return config;
  if (embedded(config)) return diagnoseThroughBroker(config, opts, io, lang);
  return withCore(config, io, async (core) => {
    const diagnosis = diagnosisFromCore(core, { version, locks: locksFromCore(core), viewpoint: "cli" });
    const report = await diagnosis.run({ accountId: opts.account, probe: opts.probe === true });
    io.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDiagnosisText(report, lang));
    return report.status === "fail" ? EXIT.failure : EXIT.ok;
  });
}

/** Embedded mode: the running broker's own report (200 or 503 both carry it). */
async function diagnoseThroughBroker(config: Config, opts: DiagnoseCliOptions, io: CliIo, lang: ReportLang): Promise<number> {
  const query = new URLSearchParams({ format: "json" });
  if (opts.account !== undefined) query.set("accountId", opts.account);
  if (opts.probe === true) query.set("probe", "true");
  try {
    // A probe calls WeChat once per account, each within UPSTREAM_TIMEOUT_MS, in parallel.
    const answer = await ask(
      config,
      { method: "GET", path: `/api/diagnosis?${query.toString()}`, resultStatuses: [503] },
      config.upstreamTimeoutMs * 2 + 10_000,
    );
    const error = brokerError(answer);
    if (error !== undefined) {
      printError(io, "diagnose", error, opts.json === true);
      return answer.status === 404 || answer.status === 400 ? EXIT.usage : EXIT.failure;
    }
    const report = answer.json as DiagnosisReport;
    io.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDiagnosisText(report, lang));
    return report.status === "fail" ? EXIT.failure : EXIT.ok;
  } catch (err) {
    if (!(err instanceof RemoteFailure)) throw err;
    printError(io, "diagnose", err.error, opts.json === true);
    return err.exitCode;
  }
}

export function registerDiagnose(program: Command): void {
  program
    .command("diagnose")
    .description("Check configuration, Redis, every account's token, WeChat errors (with the fix), quota and locks")
    .option("--account <id>", "only this account")
    .option("--probe", "also ask WeChat whether each current token works (one get_api_domain_ip call per account)")
    .option("--json", "print the report as JSON (the same shape as GET /api/diagnosis)")
    .option("--lang <zh|en>", "language of the text report (default: from LC_ALL / LC_MESSAGES / LANG, zh_* gives Chinese, else English)")
    .addHelpText(
      "after",
      `${CONFIG_HELP}

With REDIS_URL it builds the broker's parts from the same configuration as \`serve\` and reads the shared state
in Redis, so it works while the HTTP servers are down.${EMBEDDED_HELP}
The report never contains a token, an AppSecret, an API key or a Redis password.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed (or Redis could not be read),
2 invalid configuration, 64 unknown or malformed --account or --lang, 69 embedded mode: no broker answers at
BROKER_URL, 77 embedded mode: the broker refused the API key (--probe needs an admin key).`,
    )
    .action(async (options: DiagnoseCliOptions) => {
      process.exitCode = await runDiagnose(options);
    });
}
