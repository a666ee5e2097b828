// Builds @relaydesk/client into client-sdk/dist: plain JS, and declarations
// that stand alone. The router's type is emitted from the server's real
// router with its server-side context erased, so a project that installs the
// package gets every procedure's input and output types without the server or
// any of its dependencies (kysely, pino, express…). Runs on `npm install`
// (prepare) and before `npm pack`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sdk = path.join(root, 'client-sdk');
const dist = path.join(sdk, 'dist');
const work = path.join(sdk, '.build');

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
// Declaration emit prints the inferred router type in full.
fs.writeFileSync(path.join(work, 'app-router.ts'), "import { appRouter } from '@relaydesk/server';\nexport const router = appRouter;\n");

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  declaration: true,
  emitDeclarationOnly: true,
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  customConditions: ['relaydesk-source'],
  types: ['node'],
  outDir: work,
  rootDir: sdk,
};
const program = ts.createProgram([path.join(sdk, 'src/index.ts'), path.join(work, 'app-router.ts')], options);
const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
if (diagnostics.length) {
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  process.exit(1);
}

const out = path.join(work, 'dist');
fs.mkdirSync(out, { recursive: true });
const emitted = (rel: string) => fs.readFileSync(path.join(work, rel), 'utf8');
const eraseContext = (dts: string) => dts.replaceAll(/import\("[^"]*\/api\/trpc(?:\.ts)?"\)\.ContextInner/g, 'object');
// The event types are named in the router's type; their module imports
// nothing, so its declarations ship as they are.
const eventsModule = /import\("[^"]*\/core\/events\/types(?:\.ts)?"\)/g;
const eventsDts = ts.transpileDeclaration(fs.readFileSync(path.join(root, 'server/src/core/events/types.ts'), 'utf8'), {
  compilerOptions: { isolatedDeclarations: true, declaration: true, strict: true },
});
if (eventsDts.diagnostics?.length) {
  console.error(ts.formatDiagnosticsWithColorAndContext(eventsDts.diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  process.exit(1);
}
fs.writeFileSync(path.join(out, 'events.d.ts'), eventsDts.outputText);
const routerDts = eraseContext(emitted('.build/app-router.d.ts')).replace(eventsModule, 'import("./events.js")') + 'export type AppRouter = typeof router;\n';
const indexDts = emitted('src/index.d.ts').replace("from '@relaydesk/server';", "from './app-router.js';");
fs.writeFileSync(path.join(out, 'app-router.d.ts'), routerDts);
fs.writeFileSync(path.join(out, 'index.d.ts'), indexDts);

const source = fs.readFileSync(path.join(sdk, 'src/index.ts'), 'utf8');
const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true } });
fs.writeFileSync(path.join(out, 'index.js'), js.outputText);

// The point of the exercise: nothing of the server may leak into what ships.
const built = fs.readdirSync(out);
for (const file of built) {
  const text = fs.readFileSync(path.join(out, file), 'utf8');
  const leak = /@relaydesk\/(server|db|worker)|\bkysely\b|\bpino\b|\bexpress\b|\bpg-boss\b/.exec(text);
  if (leak) {
    const at = text.slice(Math.max(0, leak.index - 200), leak.index + 100);
    console.error(`build-sdk: dist/${file} still refers to ${leak[0]}:\n…${at}…`);
    process.exit(1);
  }
}
// Each file replaced by an atomic rename: a process importing the SDK while
// it rebuilds (tests run in parallel) never finds a file missing or half-written.
fs.mkdirSync(dist, { recursive: true });
for (const file of built) fs.renameSync(path.join(out, file), path.join(dist, file));
for (const stale of fs.readdirSync(dist)) if (!built.includes(stale)) fs.rmSync(path.join(dist, stale));
fs.rmSync(work, { recursive: true, force: true });
console.log(`built @relaydesk/client into ${path.relative(root, dist)}`);
