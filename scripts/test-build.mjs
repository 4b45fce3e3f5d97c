// Builds the broker once per test run, as the container image runs it: the launcher `bin/wechat-token-broker.js`
// beside a compiled `dist/` and the package.json it reads its version from. The suite starts ~150 broker and CLI
// processes; each one through tsx costs ~0.5 s more CPU than the compiled build (transforming and loading ~100
// source files), which on a 2-core machine is most of a minute of the run.
//
// esbuild transpiles file by file (the sources are isolatedModules), in well under a second; type errors are the
// typecheck's job. The build goes under node_modules/.cache, so git, eslint, prettier and the Docker context all
// leave it alone, and `require` in it finds the project's node_modules by walking up.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const TEST_BUILD = join(ROOT, "node_modules", ".cache", "wtb-test-build");

/** Builds and returns the path of the launcher to run, `<build>/bin/wechat-token-broker.js`. */
export async function buildForTests() {
  rmSync(TEST_BUILD, { recursive: true, force: true });
  await build({
    entryPoints: [join(ROOT, "src", "**", "*.ts")],
    outbase: join(ROOT, "src"),
    outdir: join(TEST_BUILD, "dist"),
    format: "cjs",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });
  mkdirSync(join(TEST_BUILD, "bin"));
  const bin = join(TEST_BUILD, "bin", "wechat-token-broker.js");
  copyFileSync(join(ROOT, "bin", "wechat-token-broker.js"), bin);
  copyFileSync(join(ROOT, "package.json"), join(TEST_BUILD, "package.json"));
  return bin;
}
