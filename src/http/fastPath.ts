// The fast path: requests for the routes declared `fast` (the token GET and its invalidation: nearly all of the
// broker's traffic) answered before express. Express's routing and response machinery cost more CPU per request than
// everything the broker itself does for a token hit (docs/benchmarks.md), and in a storm every microsecond spent
// per waiting request delays the one refresh.
//
// Nothing here decides anything: a request in its canonical form (the literal path, no query string, and for a body
// plain JSON of a stated length) is served by the same `serveRoute` express would run for it — the same
// authentication, handler, answer, metrics and log line. Every other form (an encoded or differently cased path, a
// query string, HEAD, another content type or encoding) goes to express untouched, which serves it the same way.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { serveRoute, type RouteDef, type RouteServices, type ServeRoute } from "./route";

/** The bodies the fast path reads: plain UTF-8 JSON. Other types and charsets go to express. */
const PLAIN_JSON = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;

interface FastRoute {
  method: string;
  pattern: RegExp;
  names: string[];
  body: boolean;
  serve: ServeRoute;
}

/** `app` behind the fast path of `routes`' fast ones: the request listener to give node:http / node:https. */
export function withFastPath(app: RequestListener, routes: readonly RouteDef[], s: RouteServices): RequestListener {
  const fast = routes.filter((r) => r.fast).flatMap((def) => def.paths.map((path) => compile(def, path, s)));
  if (fast.length === 0) return app;
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "";
    for (const f of fast) {
      if (req.method !== f.method) continue;
      const m = f.pattern.exec(url);
      if (m === null) continue;
      if (f.body && !plainJsonBody(req)) break;
      const params: Record<string, string> = {};
      for (let i = 0; i < f.names.length; i++) params[f.names[i]!] = m[i + 1]!;
      return f.serve(req, res, params);
    }
    app(req, res);
  };
}

/** The literal form of an express path template: `:name` matches one segment without percent-encoding. */
function compile(def: RouteDef, path: string, s: RouteServices): FastRoute {
  if (def.method === "ALL" || def.prefix !== undefined) throw new Error(`a fast route needs one method and literal paths: ${path}`);
  const names: string[] = [];
  const source = path
    .split("/")
    .map((seg) => {
      if (seg.startsWith(":")) {
        names.push(seg.slice(1));
        return "([A-Za-z0-9_.~-]+)";
      }
      if (!/^[A-Za-z0-9_.~-]*$/.test(seg)) throw new Error(`a fast route's path must be literal segments and :params: ${path}`);
      return seg.replace(/\./g, "\\.");
    })
    .join("/");
  return { method: def.method, pattern: new RegExp(`^${source}$`), names, body: def.body === "json", serve: serveRoute(def, path, s) };
}

/** A body the fast path may read: plain JSON, not compressed, of a stated length. */
function plainJsonBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    PLAIN_JSON.test(h["content-type"] ?? "") &&
    h["content-encoding"] === undefined &&
    h["transfer-encoding"] === undefined &&
    Number(h["content-length"]) > 0
  );
}
