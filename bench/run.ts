// `npm run bench`: runs the benchmarks and prints one markdown table (or a few) per benchmark.
//
//   node --import tsx bench/run.ts [hot] [storm] [soak] [accounts] [economy] [profile] [ablation] [--write] [--json FILE]
//
// With no names it runs hot, storm, soak, accounts and economy. On demand: profile (the hot path under --cpu-prof) and
// ablation (the hot path with one part of the broker's HTTP stack changed at a time). --write replaces the generated blocks of docs/benchmarks.md; --json writes the raw figures.
// BENCH_QUICK=1 shrinks every duration for a smoke run; see bench/lib/settings.ts for each BENCH_* variable.
import { writeFileSync } from "node:fs";
import { runAblation } from "./ablation";
import { runAccounts } from "./accounts";
import { runEconomy } from "./economy";
import { runHotPath } from "./hotPath";
import { runProfile } from "./profile";
import { machine, machineLine, renderSection, writeDoc, type BenchId, type Section } from "./lib/report";
import { prepareRuntime } from "./lib/runtime";
import { benchEnvAssignments, loadSettings, type Settings } from "./lib/settings";
import { runSoak } from "./soak";
import { runStorm } from "./storm";
import type { Runtime } from "./lib/runtime";

const ALL: BenchId[] = ["hot", "storm", "soak", "accounts", "economy"];
const RUNNERS: Record<BenchId, (s: Settings, rt: Runtime) => Promise<Section>> = {
  hot: runHotPath,
  storm: runStorm,
  soak: runSoak,
  accounts: runAccounts,
  economy: runEconomy,
  profile: runProfile,
  ablation: runAblation,
};

interface Args {
  ids: BenchId[];
  write: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const ids: BenchId[] = [];
  let write = false;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--write") write = true;
    else if (a === "--json") json = argv[++i];
    else if ((Object.keys(RUNNERS) as string[]).includes(a)) ids.push(a as BenchId);
    else throw new Error(`unknown argument ${JSON.stringify(a)}; expected ${Object.keys(RUNNERS).join(", ")}, --write or --json FILE`);
  }
  return { ids: ids.length > 0 ? ids : ALL, write, json };
}

/** The command as the reader would type it again, with the BENCH_* variables in effect. */
function commandLine(argv: string[]): string {
  const env = benchEnvAssignments();
  const event = process.env.npm_lifecycle_event;
  const cmd = event
    ? `npm run ${event}${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`
    : `node --import tsx bench/run.ts${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`;
  return [...env, cmd].join(" ");
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  const settings = loadSettings();
  const m = machine();
  const meta = { date: new Date().toISOString().replace(/\.\d+Z$/, "Z"), command: commandLine(argv), machine: machineLine(m) };
  console.log(
    `# wechat-token-broker benchmarks\n\n${meta.date} · ${meta.machine}${settings.quick ? " · QUICK MODE" : ""}\n\n\`${meta.command}\`\n`,
  );

  const rt = prepareRuntime(settings.runtime);
  const sections: Section[] = [];
  let failed = false;
  try {
    for (const id of args.ids) {
      const started = Date.now();
      console.error(`bench: ${id}…`);
      try {
        const section = await RUNNERS[id](settings, rt);
        sections.push(section);
        console.log(`${renderSection(section, meta)}\n`);
        console.error(`bench: ${id} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      } catch (err) {
        failed = true;
        console.error(`bench: ${id} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  } finally {
    if (process.env.BENCH_KEEP === "1") console.error(`bench: logs kept in ${rt.workDir}`);
    else rt.cleanup();
  }

  if (args.json)
    writeFileSync(
      args.json,
      JSON.stringify({ meta, machine: m, settings, sections: sections.map((s) => ({ id: s.id, load: s.load, data: s.data })) }, null, 2),
    );
  if (args.write && sections.length > 0) {
    if (settings.quick) console.error("bench: --write ignored in quick mode (quick figures are not the recorded ones)");
    else {
      writeDoc(sections.map((s) => ({ id: s.id, markdown: renderSection(s, meta) })));
      console.error("bench: docs/benchmarks.md updated");
    }
  }
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
