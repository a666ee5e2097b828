// Layering rules for the relaydesk monorepo, checked by `npm run lint:layers`
// (part of `npm test` and of .ci/run). Paths in rules are relative to the repo
// root; `@relaydesk/*` specifiers are resolved through the workspace symlinks
// to the real files (server/src/..., db/src/...), so a rule on server/src/api
// also catches `import ... from '@relaydesk/server'` or '@relaydesk/server/api/...'.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const ROOT = __dirname;
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Workspaces (folder + package name), read from the root package.json so the
// cross-workspace rule below follows package.json edits without touching this file.
const workspaces = readJson('package.json').workspaces.map((dir) => {
  const manifest = readJson(path.join(dir, 'package.json'));
  const declared = new Set(
    ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((key) =>
      Object.keys(manifest[key] ?? {}),
    ),
  );
  return { dir, name: manifest.name, declared };
});

// One rule per workspace that imports another workspace's package without declaring it.
const undeclaredWorkspaceRules = workspaces.flatMap((from) => {
  const undeclared = workspaces.filter((to) => to !== from && !from.declared.has(to.name));
  if (undeclared.length === 0) return [];
  return [
    {
      name: 'no-undeclared-workspace-dep',
      comment: `${from.dir}/ may only import workspaces it declares in ${from.dir}/package.json (not: ${undeclared.map((w) => w.name).join(', ')}).`,
      severity: 'error',
      from: { path: `^${escapeRe(from.dir)}/` },
      to: {
        path: [
          // resolved to the real folder (package specifier or relative path) ...
          `^(${undeclared.map((w) => escapeRe(w.dir)).join('|')})/`,
          // ... or an unresolvable package specifier
          `^(${undeclared.map((w) => escapeRe(w.name)).join('|')})(/|$)`,
        ],
      },
    },
  ];
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    // 1
    {
      name: 'no-circular',
      comment: 'No import cycles between the project\'s own modules (type-only imports count too).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    // 2
    {
      name: 'core-not-to-api',
      comment: 'server/src/core is transport-free: it must not import the API layer (server/src/api).',
      severity: 'error',
      from: { path: '^server/src/core/' },
      to: { path: ['^server/src/api/', '^@relaydesk/server(/api(/|$)|$)'] },
    },
    {
      name: 'core-not-to-transport',
      comment: 'server/src/core must not import transport packages (@trpc/*, express, pino-http).',
      severity: 'error',
      from: { path: '^server/src/core/' },
      to: {
        path: [
          '(^|/)node_modules/(@trpc/|(@types/)?(express|express-serve-static-core|pino-http)/)',
          '^(@trpc/|(express|pino-http)(/|$))',
        ],
      },
    },
    // 3
    {
      name: 'worker-not-to-api',
      comment: 'The worker uses server/src/core only, never the API layer (relative path, @relaydesk/server or @relaydesk/server/api/...).',
      severity: 'error',
      from: { path: '^worker/src/' },
      to: { path: ['^server/src/api/', '^@relaydesk/server(/api(/|$)|$)'] },
    },
    // 4
    {
      name: 'db-not-to-app-layers',
      comment: 'db/src is the bottom layer: it must not import server/, worker/ or client-sdk/.',
      severity: 'error',
      from: { path: '^db/src/' },
      to: { path: ['^(server|worker|client-sdk)/', '^@relaydesk/(server|worker|client)(/|$)'] },
    },
    // 5
    {
      name: 'api-only-from-allowed',
      comment: 'Only server/src/api itself, client-sdk/src (type-only), test/, bench/ and scripts/ may import server/src/api (core, worker, db have their own rules).',
      severity: 'error',
      from: {
        pathNot: '^(server/src/api/|server/src/core/|worker/src/|db/src/|client-sdk/src/|test/|bench/|scripts/)',
      },
      to: { path: ['^server/src/api/', '^@relaydesk/server(/api(/|$)|$)'] },
    },
    {
      name: 'client-sdk-to-api-type-only',
      comment: 'client-sdk/src may import the API layer (AppRouter) with `import type` only, never at run time.',
      severity: 'error',
      from: { path: '^client-sdk/src/' },
      to: {
        path: ['^server/src/api/', '^@relaydesk/server(/api(/|$)|$)'],
        dependencyTypesNot: ['type-only'],
      },
    },
    // 6
    {
      name: 'no-undeclared-npm-dep',
      comment: "Each workspace may only import npm packages declared in its own package.json (test/, bench/, scripts/: the root one).",
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    ...undeclaredWorkspaceRules,
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve (with the relaydesk-source condition and the packages\' exports maps).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    // the project's own build output (client-sdk/dist, coverage/), not node_modules/*/dist
    exclude: { path: '^(client-sdk/dist|dist|coverage)/' },
    // keep `import type` edges: cycles through types are still cycles, and the
    // client-sdk rule needs to tell type-only imports apart
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // dependency types come from the package.json closest to each file
    // (its own workspace), not from the root one merged in
    combinedDependencies: false,
    preserveSymlinks: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['relaydesk-source', 'import', 'node', 'default'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    moduleSystems: ['es6', 'cjs'],
    progress: { type: 'none' },
    cache: false,
  },
};
