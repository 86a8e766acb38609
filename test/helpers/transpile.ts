/**
 * Builds src/ and bench/ as plain JavaScript for the benchmark smoke tests, which run the
 * benchmarks as separate processes: a transpile (no type check: `npm test` runs tsc already)
 * into a private folder under test-results/ (git-ignored, inside the repository so that
 * node_modules resolves). dist/ is left alone.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

export const ROOT = join(import.meta.dirname, '..', '..');

/** Every .ts file (not .d.ts) under `dir`, results folders left out. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'results' ? [] : typeScriptFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Transpiles src/ and bench/ into a new folder under test-results/ named from `prefix`, with the same layout as tsconfig.build.json's; returns it. */
export function transpileBench(prefix: string): string {
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  const outDir = mkdtempSync(join(ROOT, 'test-results', prefix));
  // ESM needs to know these .js files are modules.
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
  const compilerOptions = { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true };
  for (const file of [...typeScriptFiles(join(ROOT, 'src')), ...typeScriptFiles(join(ROOT, 'bench'))]) {
    const output = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file }).outputText;
    const target = join(outDir, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output);
  }
  return outDir;
}

const runFile = promisify(execFile);

/** What a benchmark script run to its end said: its exit code and everything it printed. */
export interface ScriptRun {
  readonly exitCode: number;
  readonly output: string;
}

/** Runs a transpiled benchmark script with this Node, from the repository root; never throws for a failing exit. */
export async function runScript(script: string, args: readonly string[], timeoutMs: number): Promise<ScriptRun> {
  try {
    const done = await runFile(process.execPath, [script, ...args], { cwd: ROOT, timeout: timeoutMs });
    return { exitCode: 0, output: done.stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { exitCode: typeof failed.code === 'number' ? failed.code : -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}
