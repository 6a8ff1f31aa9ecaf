// `sluice templates`: lines mined with the enricher's own code, one JSON line per log or a table of
// the final template groups (merged ids resolved), read from files or stdin; and the real command.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { runTemplates } from './templates.js'
import type { TemplatesOptions } from './templates.js'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface Row {
  file?: string
  line: number
  pattern_id: string
  template: string
  level: string
  timestamp?: string
  service: string
  parsed_format: string | null
  fields: Record<string, string>
  message: string
  merged?: string[]
}

/** Runs the command's function on `lines` as stdin (and `files`), with an empty environment. */
async function mine(lines: string[], opts: Partial<TemplatesOptions> = {}): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  await runTemplates({ files: [], stdin: Readable.from(lines.map((l) => `${l}\n`)), out, env: {}, ...opts })
  return Buffer.concat(chunks).toString('utf8')
}

const rows = (text: string): Row[] => text.trimEnd().split('\n').map((l) => JSON.parse(l) as Row)

function tempFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sluice-templates-')), name)
  writeFileSync(file, text)
  return file
}

const ID = /^[0-9a-f]{16}$/
const LOGINS = ['login failed for alice', 'login failed for bob', 'login failed for carol', 'login failed for dave']

describe('sluice templates', () => {
  it('gives lines of one shape one pattern id, and lines of another shape another', async () => {
    const out = rows(await mine(['disk /dev/sda1 is 91% full', 'disk /dev/sdb2 is 95% full', 'connection refused to 10.0.0.1 port 5432']))
    expect(out.map((r) => r.line)).toEqual([1, 2, 3])
    expect(out[0]!.pattern_id).toMatch(ID)
    expect(out[1]!.pattern_id).toBe(out[0]!.pattern_id)
    expect(out[1]!.template).toBe('disk <PATH> is <NUM> full')
    expect(out[2]!.pattern_id).not.toBe(out[0]!.pattern_id)
    expect(out[0]).toMatchObject({ level: 'INFO', service: 'unknown', parsed_format: null, fields: {}, message: 'disk /dev/sda1 is 91% full' })
  })

  it('writes keys in a fixed order, the time only when the message carried one, and the header fields', async () => {
    const [row] = rows(await mine(['2024-01-02 03:04:05,123 ERROR [main] db.Pool - connection refused to 10.0.0.1:5432']))
    expect(Object.keys(row!)).toEqual(['line', 'pattern_id', 'template', 'level', 'timestamp', 'service', 'parsed_format', 'fields', 'message'])
    expect(row).toMatchObject({ level: 'ERROR', parsed_format: 'header', fields: { component: 'db.Pool', thread: 'main' }, template: 'connection refused to <IP>' })
    expect(row!.timestamp).toMatch(/^2024-01-02T\d\d:04:05\.123000000Z$/)
  })

  it('reads the message, service and level of NDJSON lines, and skips blank lines', async () => {
    const out = rows(
      await mine([
        '{"msg":"payment 4411 declined","level":"error","service":"billing"}',
        '',
        '{"msg":"payment 4412 declined","level":50}',
        '{"event":"no message field here"}',
        '{not json',
      ]),
    )
    expect(out.map((r) => r.line)).toEqual([1, 3, 4, 5])
    expect(out[0]).toMatchObject({ message: 'payment 4411 declined', level: 'ERROR', service: 'billing' })
    expect(out[1]).toMatchObject({ message: 'payment 4412 declined', level: 'ERROR', service: 'unknown', pattern_id: out[0]!.pattern_id })
    // No message field: the whole line is the message (and the enricher parses it as JSON).
    expect(out[2]).toMatchObject({ message: '{"event":"no message field here"}', parsed_format: 'json' })
    expect(out[3]).toMatchObject({ message: '{not json' })
  })

  it('takes the message from --message-field and the service from --service', async () => {
    const [row] = rows(await mine(['{"msg":"ignored","detail":"cache warmed in 12 ms","service":"api"}'], { messageField: 'detail', service: 'cache' }))
    expect(row).toMatchObject({ message: 'cache warmed in 12 ms', service: 'cache' })
  })

  it('names the groups a record merged, and the summary counts them as one group', async () => {
    const out = rows(await mine(LOGINS))
    const merged = out.find((r) => r.merged)
    expect(merged?.merged?.length).toBeGreaterThan(0)
    expect(merged?.merged).not.toContain(merged?.pattern_id)
    const final = out[3]!.pattern_id

    const summary = (await mine([...LOGINS, 'disk /dev/sda1 is 91% full', '', 'disk /dev/sdb2 is 95% full', 'cache warmed'], { summary: true })).trimEnd().split('\n')
    expect(summary[0]).toMatch(/^count {2}pattern_id {8}template$/)
    expect(summary.slice(1, -1).map((l) => l.trim().split(/ {2,}/))).toEqual([
      ['4', final, 'login failed for <*>'],
      ['2', expect.stringMatching(ID), 'disk <PATH> is <NUM> full'],
      ['1', expect.stringMatching(ID), 'cache warmed'],
    ])
    expect(summary.at(-1)).toBe('7 lines, 3 templates')
  })

  it('reads files in order, "-" as stdin, and names the file when there are several', async () => {
    const file = tempFile('a.log', 'login failed for alice\r\n\r\nlogin failed for bob\r\n')
    const out = rows(await mine(['login failed for carol'], { files: [file, '-'] }))
    expect(out.map((r) => [r.file, r.line, r.message])).toEqual([
      [file, 1, 'login failed for alice'],
      [file, 3, 'login failed for bob'],
      ['-', 1, 'login failed for carol'],
    ])
    expect(Object.keys(out[0]!).slice(0, 2)).toEqual(['file', 'line'])
  })

  it('fails on a file it cannot read, naming it', async () => {
    await expect(mine([], { files: ['/nonexistent/x.log'] })).rejects.toThrow(/^cannot read \/nonexistent\/x\.log: ENOENT: no such file or directory$/)
  })

  it('fails at once on a bad enricher setting', async () => {
    await expect(mine(['x'], { env: { ENRICHER_TEMPLATE_MIN_DISTINCT: '1' } })).rejects.toThrow(/ENRICHER_TEMPLATE_MIN_DISTINCT/)
  })
})

describe('sluice templates, the command', () => {
  const sluice = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(REPO_ROOT, 'services/runner/src/main.ts'), 'templates', ...args], { cwd: REPO_ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    )

  it('prints one JSON line per log of a file and exits 0; --summary prints the groups', { timeout: 60_000 }, async () => {
    const file = tempFile('app.log', `${LOGINS.join('\n')}\n{"message":"disk /dev/sda1 is 91% full","level":"warn"}\n`)
    const [lines, summary] = await Promise.all([sluice([file]), sluice(['--summary', file])])
    expect(lines.code).toBe(0)
    const out = rows(lines.stdout)
    expect(out.map((r) => r.line)).toEqual([1, 2, 3, 4, 5])
    expect(out[3]!.template).toBe('login failed for <*>')
    expect(out[4]).toMatchObject({ level: 'WARN', message: 'disk /dev/sda1 is 91% full' })
    expect(summary.code).toBe(0)
    expect(summary.stdout).toContain(`    4  ${out[3]!.pattern_id}  login failed for <*>\n`)
    expect(summary.stdout.endsWith('5 lines, 2 templates\n')).toBe(true)
  })

  it('exits 1 with a message for a missing file, and with the usage for an unknown option', { timeout: 60_000 }, async () => {
    const [missing, unknown] = await Promise.all([sluice(['/nonexistent/x.log']), sluice(['--sumary'])])
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'sluice: cannot read /nonexistent/x.log: ENOENT: no such file or directory\n' })
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^sluice: Unknown option '--sumary'[^]*usage: sluice run[^]*sluice templates \[--summary\]/)
  })
})
