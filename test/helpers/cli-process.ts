/**
 * The framecast CLI as a child process, for the tests that need one (test/server/cli.test.ts,
 * the node killed with SIGKILL in test/scale/redis-pubsub.test.ts): compiled to JavaScript, and
 * started on a port it reports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles src/ to JavaScript in `outDir`, file by file, exactly as `npm run build` emits it but
 * without type checking (`npm test` type-checks everything already, and a full build would take
 * most of a test file's time budget on a busy machine). tsconfig.json sets isolatedModules, so
 * per-file output is the same as the project build's. Returns the path of the CLI.
 */
export function compileSources(outDir: string): string {
  const { config } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
    );
  for (const file of walk(join(ROOT, 'src'))) {
    const output = ts.transpileModule(readFileSync(file, 'utf8'), {
      // NodeNext picks ESM from package.json, which transpileModule cannot see: name it.
      compilerOptions: { ...options, module: ts.ModuleKind.ES2022, sourceMap: false, declaration: false },
      fileName: file,
    });
    const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
  // An ES module package, like the project itself.
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  return join(outDir, 'src', 'server', 'cli.js');
}

/**
 * Compiles the CLI into a fresh folder inside the project (so the compiled files find its
 * node_modules, e.g. the redis client); remove `dir` when done.
 */
export function compileCli(prefix: string): { dir: string; cli: string } {
  const cache = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, prefix));
  return { dir, cli: compileSources(dir) };
}

/** The environment without any FRAMECAST_* variable of the caller's, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FRAMECAST_')) env[name] = value;
  return { ...env, ...extra };
}

/** A CLI child that is listening. End it by its PID (`child.pid`). */
export interface CliChild {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything it wrote to stderr so far (its log). */
  stderr(): string;
}

/** Starts the CLI at `cli` with `args` and resolves with the port from its "listening" log line. */
export function spawnCli(cli: string, args: readonly string[], env: Record<string, string> = {}): { child: ChildProcess; listening: Promise<CliChild> } {
  const child = spawn(process.execPath, [cli, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const listening = new Promise<CliChild>((resolve, reject) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr += text;
      const match = /listening on https?:\/\/[^/]*:(\d+)\//.exec(stderr);
      if (match !== null) resolve({ child, port: Number(match[1]), stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`framecast exited with ${code} before listening: ${stderr}`)));
  });
  return { child, listening };
}
