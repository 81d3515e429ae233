/**
 * Serves the dashboard: its own static files (src/runtime/dashboard) and the browser builds of
 * the libraries it uses, taken from node_modules when the server starts. No build step and no
 * CDN: `npm install && npm start` is enough, and the machine needs no internet.
 *
 * Only a fixed set of files is served (read once at start, looked up by exact name), so no
 * request path ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

interface Asset {
  body: Buffer;
  type: string;
  /** Content-Security-Policy of an HTML page. */
  csp?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Browser ES module builds: [package entry to resolve, file beside that entry]. */
const VENDOR_MODULES: Record<string, [string, string]> = {
  'preact.js': ['preact', 'preact.module.js'],
  'preact-hooks.js': ['preact/hooks', 'hooks.module.js'],
  'htm.js': ['htm', 'htm.module.js'],
  'dagre.js': ['@dagrejs/dagre', 'dagre.esm.js'],
};

/**
 * The dashboard folder: beside this module when running from src/, or the package's
 * src/runtime/dashboard when running the compiled dist/ (tsc does not copy non-TS files).
 */
export function findDashboardDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'dashboard'), join(here, '..', '..', '..', 'src', 'runtime', 'dashboard')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`Dashboard files not found (looked in ${candidates.join(', ')})`);
  return found;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const dir = findDashboardDir();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type) assets.set(`/assets/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  const require = createRequire(import.meta.url);
  for (const [name, [entry, file]] of Object.entries(VENDOR_MODULES)) {
    const path = join(dirname(require.resolve(entry)), file);
    assets.set(`/vendor/${name}`, { body: readFileSync(path), type: CONTENT_TYPES['.js'] });
  }
  const index = assets.get('/assets/index.html');
  if (index) {
    index.csp = contentSecurityPolicy(index.body.toString('utf8'));
    assets.set('/', index);
  }
  return assets;
}

/**
 * Only this server's own scripts run: the one inline script (the import map) is allowed by its
 * hash, computed here so the policy follows any edit of index.html.
 */
function contentSecurityPolicy(html: string): string {
  const inline = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self' ${inline.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

/** Paths that serve static UI code (no data): reachable without the API token, like /health. */
export function isPublicAssetPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/' || path === '/favicon.ico' || path.startsWith('/assets/') || path.startsWith('/vendor/');
}

export function registerDashboard(app: FastifyInstance): void {
  const assets = loadAssets();
  const serve = (path: string) => async (_req: unknown, reply: FastifyReply) => {
    const asset = assets.get(path)!;
    if (asset.csp) reply.header('content-security-policy', asset.csp);
    // The files change only with a new release; revalidate so an upgrade shows at once.
    return reply.header('content-type', asset.type).header('cache-control', 'no-cache').send(asset.body);
  };
  for (const path of assets.keys()) app.get(path, serve(path));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
}
