#!/usr/bin/env node
"use strict";
// Runs the compiled CLI when it has been built (production, the container image); otherwise runs the
// TypeScript sources through tsx, so a fresh checkout works after `npm ci` without a build step.
const path = require("node:path");
const fs = require("node:fs");

const compiled = path.join(__dirname, "..", "dist", "cli", "main.js");
if (fs.existsSync(compiled)) {
  require(compiled).main(process.argv);
} else {
  require("tsx/cjs");
  require(path.join(__dirname, "..", "src", "cli", "main.ts")).main(process.argv);
}
