// The `wechat-token-broker` command. Each subcommand lives in its own module and registers itself here.
import { Command, CommanderError } from "commander";
import { registerSimulator } from "./simulator";
import { registerServe } from "./serve";
import { registerSync } from "./sync";
import { registerDemo } from "./demo";
import { registerHealthcheck } from "./healthcheck";
import { registerDiagnose } from "./diagnose";
import { registerLocks } from "./locks";
import { CliExit } from "./common";
import { version } from "../version";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("wechat-token-broker")
    .description("The single source of WeChat access_tokens for an organisation's services.")
    .version(version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)");
  registerServe(program);
  registerSync(program);
  registerDemo(program);
  registerDiagnose(program);
  registerLocks(program);
  registerHealthcheck(program);
  registerSimulator(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliExit) {
      if (err.stream === "stdout") console.log(err.message);
      else console.error(err.message);
      process.exitCode = err.exitCode;
      return;
    }
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  }
}
