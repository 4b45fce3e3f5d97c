// A load generator's run: its stdout once it exited with 0, else an error carrying what it printed.
import { spawn, type ChildProcess } from "node:child_process";

/** `started` is handed the process once it runs (a test pauses a generator through it). */
export function output(cmd: string, args: string[], started?: (child: ChildProcess) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    started?.(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${err}${out}`)),
    );
  });
}
