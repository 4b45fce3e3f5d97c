// Read once at start-up; package.json is the single source of the version.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const version: string = (require("../package.json") as { version: string }).version;
