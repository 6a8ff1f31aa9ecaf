// The live page's assets: index.html as is, app.ts bundled for the browser with esbuild once per
// process (in memory, so a fresh checkout needs no separate build step).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page')

export interface PageAssets {
  html: string
  js: string
}

export async function buildPage(): Promise<PageAssets> {
  const out = await build({ entryPoints: [path.join(dir, 'app.ts')], bundle: true, write: false, format: 'esm', target: 'es2022', minify: true, platform: 'browser' })
  return { html: readFileSync(path.join(dir, 'index.html'), 'utf8'), js: out.outputFiles[0]!.text }
}
