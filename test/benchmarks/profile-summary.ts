// Summarises a V8 .cpuprofile (from `BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=…"`) into
// where the time went: self time by package / Sluice module, and the hottest functions.
//   node --import tsx test/benchmarks/profile-summary.ts <file.cpuprofile> [topN]
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** A readable owner for a script URL: npm package, Sluice module, node internal, or V8. */
export function ownerOf(url: string): string {
  if (url === '') return '(native / V8)'
  if (url.startsWith('node:')) return url
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]!
  const own = /\/((?:libs|services)\/[^/]+\/src\/[^?]+)/.exec(url)
  if (own) return own[1]!
  return url.replace(/^file:\/\//, '')
}

export function summarise(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((s, x) => s + x, 0)
  const byOwner = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame
    const owner = ownerOf(f.url)
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us)
    const key = `${f.functionName || '(anonymous)'}  ${owner}:${f.lineNumber + 1}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${pct(us)}  ${k}`)
      .join('\n')
  return `profile: ${(total / 1e6).toFixed(1)} s sampled\n\nself time by owner\n${list(byOwner)}\n\nhottest functions (self time)\n${list(byFunction)}\n`
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [file, top] = process.argv.slice(2)
  if (!file) {
    process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [topN]\n')
    process.exit(2)
  }
  process.stdout.write(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top ? Number(top) : 25))
}
