// Generates the variable reference of docs/configuration.md from VARIABLES, so the two cannot drift (a test
// compares them). Regenerate with: npx tsx src/config/docs.ts --write
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { VARIABLES, VARIABLE_NAMES, type VariableSpec } from "./variables";

export const REFERENCE_BEGIN =
  "<!-- BEGIN GENERATED variables: edit src/config/variables.ts, then run npx tsx src/config/docs.ts --write -->";
export const REFERENCE_END = "<!-- END GENERATED variables -->";

export const CONFIGURATION_DOC = resolve(__dirname, "../../docs/configuration.md");

function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

function defaultCell(spec: VariableSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  return spec.default === undefined ? "—" : `\`${spec.default}\``;
}

/** Markdown: one table per group, in the order of VARIABLES; a Unit column where the group has quantities. */
export function renderVariableReference(): string {
  const groups: string[] = [];
  for (const name of VARIABLE_NAMES) if (!groups.includes(VARIABLES[name].group)) groups.push(VARIABLES[name].group);
  return groups
    .map((group) => {
      const names = VARIABLE_NAMES.filter((n) => VARIABLES[n].group === group);
      const specs: VariableSpec[] = names.map((n) => VARIABLES[n]);
      const withUnit = specs.some((spec) => spec.unit !== undefined);
      const rows = names.map((n, i) => {
        const spec = specs[i]!;
        const range = spec.range ? ` Allowed: ${spec.range[0]}–${spec.range[1]}.` : "";
        const unit = withUnit ? ` ${spec.unit ?? "—"} |` : "";
        return `| \`${n}\` | ${cell(defaultCell(spec))} |${unit} ${cell(spec.meaning + range)} |`;
      });
      const header = withUnit
        ? ["| Variable | Default | Unit | Meaning |", "|---|---|---|---|"]
        : ["| Variable | Default | Meaning |", "|---|---|---|"];
      return [`### ${group}`, "", ...header, ...rows].join("\n");
    })
    .join("\n\n");
}

/** The generated part of a document (between the markers), or undefined when the markers are missing. */
export function extractReference(doc: string): string | undefined {
  const begin = doc.indexOf(REFERENCE_BEGIN);
  const end = doc.indexOf(REFERENCE_END);
  if (begin === -1 || end === -1 || end < begin) return undefined;
  return doc.slice(begin + REFERENCE_BEGIN.length, end).trim();
}

export function spliceReference(doc: string, reference: string): string {
  const begin = doc.indexOf(REFERENCE_BEGIN);
  const end = doc.indexOf(REFERENCE_END);
  if (begin === -1 || end === -1 || end < begin) throw new Error("the generated-reference markers are missing");
  return `${doc.slice(0, begin + REFERENCE_BEGIN.length)}\n\n${reference}\n\n${doc.slice(end)}`;
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    writeFileSync(CONFIGURATION_DOC, spliceReference(readFileSync(CONFIGURATION_DOC, "utf8"), renderVariableReference()));
    console.log(`updated ${CONFIGURATION_DOC}`);
  } else {
    console.log(renderVariableReference());
  }
}
