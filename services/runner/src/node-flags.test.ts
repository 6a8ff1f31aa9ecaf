import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { NODE_FLAGS, missingNodeFlags } from './node-flags.js'

const repoFile = (p: string) => readFileSync(new URL(`../../../${p}`, import.meta.url), 'utf8')

describe('node flags', () => {
  it('npm start runs the bundle with every flag', () => {
    const start = (JSON.parse(repoFile('package.json')) as { scripts: Record<string, string> }).scripts.start!
    expect(start).toContain(`node ${NODE_FLAGS.join(' ')} dist/sluice.mjs run`)
  })

  it('the image entrypoint passes every flag', () => {
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(repoFile('deploy/Dockerfile'))?.[1]
    expect(JSON.parse(entrypoint!)).toEqual(['node', ...NODE_FLAGS, 'dist/sluice.mjs'])
  })

  it('names the flags a process was started without, reading the command line and NODE_OPTIONS', () => {
    expect(missingNodeFlags([], '')).toEqual([...NODE_FLAGS])
    expect(missingNodeFlags([...NODE_FLAGS], '')).toEqual([])
    expect(missingNodeFlags(['--inspect'], `--enable-source-maps ${NODE_FLAGS.join(' ')}`)).toEqual([])
    // V8 accepts underscores for dashes.
    expect(missingNodeFlags(NODE_FLAGS.map((f) => f.replace(/-/g, '_').replace(/^__/, '--')), '')).toEqual([])
  })
})
