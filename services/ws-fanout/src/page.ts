// The live page's assets: index.html as is, app.ts bundled for the browser with esbuild once per
// process (in memory, so a fresh checkout needs no separate build step). The production bundle
// (dist/sluice.mjs) ships them prebuilt in dist/page/ (.config/build.mjs), where app.js is used as is.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { htmlCsp } from '@sluice/observability'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page')

export interface PageAssets {
  html: string
  js: string
  /** The page's Content-Security-Policy: its inline style allowed by hash, nothing else inline. */
  csp: string
}

export async function buildPage(): Promise<PageAssets> {
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8')
  const prebuilt = path.join(dir, 'app.js')
  if (existsSync(prebuilt)) return { html, js: readFileSync(prebuilt, 'utf8'), csp: htmlCsp(html) }
  const out = await build({ entryPoints: [path.join(dir, 'app.ts')], bundle: true, write: false, format: 'esm', target: 'es2022', minify: true, platform: 'browser' })
  return { html, js: out.outputFiles[0]!.text, csp: htmlCsp(html) }
}
