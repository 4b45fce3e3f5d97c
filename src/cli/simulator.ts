import type { Command } from "commander";

// Placeholder until the simulator lands (issue 2).
export function registerSimulator(program: Command): void {
  program.command("simulator").description("Run the local WeChat API simulator").action(() => {
    throw new Error("not implemented yet");
  });
}
