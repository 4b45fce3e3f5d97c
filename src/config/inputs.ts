// Reading raw inputs: environment variables (only documented ones, see variables.ts) and files. File problems
// become issues naming the variable or key that points at the file, and the path (a path is not secret).
import { readFileSync } from "node:fs";
import type { z } from "zod";
import type { FileBackedName, VariableName } from "./variables";
import type { Problems } from "./errors";
import { validate } from "./zod-issues";

/** Reads a whole file. Injected in tests; may return text or bytes (a PKCS#12 file is binary). */
export type ReadFile = (path: string) => string | Buffer;

export const defaultReadFile: ReadFile = (path) => readFileSync(path);

/** A value given directly or through `<NAME>_FILE`, with the origin to name in issues. */
export interface SourcedValue {
  value: string;
  /** `NAME`, or `NAME_FILE /path` when read from a file. */
  origin: string;
  /** The file it came from, if any: relative paths inside it are resolved against its directory. */
  file?: string;
}

const FS_REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a parent is not a directory",
  ELOOP: "too many symbolic links",
};

/** Why a read failed, from the error's code only: an injected reader's message could carry anything. */
function readFailure(err: unknown): string {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : "";
  return FS_REASONS[code] ?? (/^E[A-Z]+$/.test(code) ? code : "unreadable");
}

function toText(content: string | Buffer): string {
  const text = typeof content === "string" ? content : content.toString("utf8");
  // Editors on Windows may prepend a byte-order mark; it is never part of a value.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Secret files end with the newline `echo` or an editor added; it is not part of the secret. */
export function stripTrailingNewlines(text: string): string {
  return text.replace(/[\r\n]+$/, "");
}

export class Inputs {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly reader: ReadFile,
    readonly problems: Problems,
  ) {}

  /** A setting, trimmed; empty counts as unset (compose files often write `NAME=`). */
  get(name: VariableName): string | undefined {
    const raw = this.env[name];
    if (raw === undefined) return undefined;
    const v = raw.trim();
    return v === "" ? undefined : v;
  }

  /** A variable read through `schema`; undefined when it is invalid (the problems are reported at `name`). */
  read<T extends z.ZodType>(name: VariableName, schema: T): z.output<T> | undefined {
    return validate(schema, this.get(name), this.problems, name);
  }

  /** A secret exactly as given (spaces may be part of a password); empty counts as unset. */
  getSecret(name: VariableName): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === "" ? undefined : raw;
  }

  /** Reads a file's bytes; a failure or an empty file is an issue at `source`. */
  readBytes(source: string, path: string): Buffer | undefined {
    let content: string | Buffer;
    try {
      content = this.reader(path);
    } catch (err) {
      this.problems.add(source, `cannot read ${path}: ${readFailure(err)}`);
      return undefined;
    }
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    if (bytes.length === 0) {
      this.problems.add(source, `${path} is empty`);
      return undefined;
    }
    return bytes;
  }

  /** Reads a text file; a failure or a blank file is an issue at `source`. */
  readText(source: string, path: string): string | undefined {
    const bytes = this.readBytes(source, path);
    if (bytes === undefined) return undefined;
    const text = toText(bytes);
    if (text.trim() === "") {
      this.problems.add(source, `${path} is empty`);
      return undefined;
    }
    return text;
  }

  /** Reads a secret file: trailing newlines stripped, registered for scrubbing; blank is an issue. */
  readSecret(source: string, path: string): string | undefined {
    const text = this.readText(source, path);
    if (text === undefined) return undefined;
    const secret = stripTrailingNewlines(text);
    this.problems.secret(secret);
    return secret;
  }

  /**
   * `NAME` or `NAME_FILE`: at most one may be set. A secret read from a file loses its trailing newline;
   * a document (ACCOUNTS, API_KEYS) is returned whole.
   */
  valueOrFile(name: FileBackedName, kind: "secret" | "document"): SourcedValue | undefined {
    const fileVar = `${name}_FILE` as const;
    const direct = kind === "secret" ? this.getSecret(name) : this.get(name);
    const path = this.get(fileVar);
    if (direct !== undefined && kind === "secret") this.problems.secret(direct);
    if (direct !== undefined && path !== undefined) {
      this.problems.add(fileVar, `${name} and ${fileVar} are both set: set only one`);
      return undefined;
    }
    if (direct !== undefined) return { value: direct, origin: name };
    if (path === undefined) return undefined;
    const value = kind === "secret" ? this.readSecret(fileVar, path) : this.readText(fileVar, path);
    return value === undefined ? undefined : { value, origin: `${fileVar} ${path}`, file: path };
  }
}
