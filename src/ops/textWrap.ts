// Fitting text reports to a terminal: display width (East Asian wide and fullwidth characters take two columns)
// and word wrapping that breaks English at spaces and Chinese between characters.

export function charWidth(c: number): number {
  const wide =
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x20000 && c <= 0x3fffd);
  return wide ? 2 : 1;
}

export function displayWidth(s: string): number {
  let n = 0;
  for (const ch of s) n += charWidth(ch.codePointAt(0)!);
  return n;
}

// Chinese punctuation that must not start a line: it stays with the character before it.
const NO_LINE_START = new Set([..."，。、；：？！）」』】》…"]);

// Commands an operator copies are never broken across lines: `curl [-X POST] <url>`, `wechat-token-broker <sub>
// [--flag]`, `redis-cli DEL <key>`, and a double-quoted string such as a header.
const KEEP_TOGETHER = [
  /curl(?: -[A-Za-z]+(?: [A-Z]+)?)* \S+/g,
  /wechat-token-broker(?: --?[a-z][a-z-]*| [a-z][a-z-]*)+/g,
  /redis-cli DEL \S+/g,
  /"[^"\n]{1,60}"/g,
];
const GLUE = "\u0000";

/** Pieces that may be separated by a line break: a space, a run of non-wide characters, or one wide character
 * (with any closing punctuation that follows it). */
function pieces(input: string): string[] {
  let text = input.replaceAll(GLUE, "");
  for (const re of KEEP_TOGETHER) text = text.replace(re, (m) => m.replaceAll(" ", GLUE));
  return split(text).map((p) => p.replaceAll(GLUE, " "));
}

function split(text: string): string[] {
  const out: string[] = [];
  let word = "";
  const flush = () => {
    if (word !== "") out.push(word);
    word = "";
  };
  for (const ch of text) {
    if (ch === " ") {
      flush();
      out.push(" ");
    } else if (charWidth(ch.codePointAt(0)!) === 2) {
      if (NO_LINE_START.has(ch) && (word !== "" || out.length > 0)) {
        if (word !== "") word += ch;
        else out[out.length - 1] += ch;
        continue;
      }
      flush();
      word = ch;
      flush();
    } else word += ch;
  }
  flush();
  return out;
}

/**
 * Wraps `text` into lines of at most `width` columns: the first line starts with `first` (e.g. "  ✗ Token — "),
 * the others with `rest` (spaces). A piece wider than a whole line (a long URL) is cut where it must be.
 */
export function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let w = displayWidth(first);
  let fresh = true;
  const newLine = () => {
    lines.push(line.trimEnd());
    line = rest;
    w = displayWidth(rest);
    fresh = true;
  };
  for (const p of pieces(text)) {
    if (p === " ") {
      if (!fresh && w + 1 <= width) {
        line += " ";
        w += 1;
      }
      continue;
    }
    const pw = displayWidth(p);
    if (w + pw > width && !fresh) newLine();
    if (w + pw <= width) {
      line += p;
      w += pw;
      fresh = false;
      continue;
    }
    // Wider than a whole line: cut it.
    for (const ch of p) {
      const cw = charWidth(ch.codePointAt(0)!);
      if (w + cw > width && !fresh) newLine();
      line += ch;
      w += cw;
      fresh = false;
    }
  }
  lines.push(line.trimEnd());
  return lines;
}
