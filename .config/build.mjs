// Production build: typecheck-free bundle of the `sluice` command into dist/sluice.mjs (and the
// enricher's transform thread module into dist/enricher-thread.mjs). Workspace
// packages are bundled from source (the "source" export condition); third-party packages stay
// external and load from node_modules (chdb is a native addon, pino and kafkajs prefer it too).
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'

const external = new Set()
for (const dir of ['libs', 'services']) {
  for (const name of readdirSync(dir)) {
    const pkg = JSON.parse(readFileSync(`${dir}/${name}/package.json`, 'utf8'))
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (!dep.startsWith('@sluice/')) external.add(dep)
  }
}

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  conditions: ['source'],
  external: [...external, 'chdb/connection'],
  sourcemap: true,
  logLevel: 'info',
}
await build({ ...node, entryPoints: ['services/runner/src/main.ts'], outfile: 'dist/sluice.mjs', banner: { js: '#!/usr/bin/env node' } })
// The enricher's transform thread module, resolved next to the bundle.
await build({ ...node, entryPoints: ['services/enricher/src/thread.ts'], outfile: 'dist/enricher-thread.mjs' })

// The live page served by ws-fanout: resolved next to the bundle (dist/page/), prebuilt here.
mkdirSync('dist/page', { recursive: true })
copyFileSync('services/ws-fanout/src/page/index.html', 'dist/page/index.html')
await build({ entryPoints: ['services/ws-fanout/src/page/app.ts'], outfile: 'dist/page/app.js', bundle: true, format: 'esm', target: 'es2022', minify: true, platform: 'browser', logLevel: 'info' })
