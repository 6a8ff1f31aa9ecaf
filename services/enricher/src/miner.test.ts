import { isDeepStrictEqual } from 'node:util'
import { describe, expect, it } from 'vitest'
import { LOGHUB_DATASETS, loadRawLoghub } from './loghub.js'
import { MAX_ALIASES, TemplateMiner, isSpace, patternIdOf, templateText } from './miner.js'
import type { MinerOptions, MinerSnapshot } from './miner.js'

describe('TemplateMiner', () => {
  it('groups messages by their words; numbers, addresses and ids are parameters', () => {
    const m = new TemplateMiner()
    const a = m.add('Accepted password for root from 10.0.0.1 port 22 ssh2')
    const b = m.add('Accepted password for root from 10.0.0.2 port 2222 ssh2')
    expect(a.change).toBe('created')
    expect(b.change).toBe('none')
    expect(b.patternId).toBe(a.patternId)
    expect(b.template).toBe('Accepted password for root from <IP> port <NUM> ssh2')
    expect(m.clusterCount).toBe(1)
  })

  it('keeps a key and masks its value: uid=0 and uid=1000 are one word, uid=<*>', () => {
    const m = new TemplateMiner()
    m.add('session opened uid=0 tty=ssh')
    const r = m.add('session opened uid=1000 tty=pts')
    expect(r.change).toBe('none')
    expect(r.template).toBe('session opened uid=<*> tty=<*>')
  })

  it('keeps two or three values of a word apart, and turns a place with many into a parameter', () => {
    const m = new TemplateMiner()
    const view = m.add('Changing view acls to: yarn')
    const modify = m.add('Changing modify acls to: yarn')
    expect(modify.patternId).not.toBe(view.patternId)
    const users = ['alice', 'bob', 'carol', 'dave'].map((u) => m.add(`Invalid user ${u} from 10.0.0.7`))
    expect(users[0]!.change).toBe('created')
    expect(users[1]!.patternId).not.toBe(users[0]!.patternId)
    // The third distinct user makes the place a parameter: the groups merge, and their ids are aliases.
    expect(users[2]).toMatchObject({ change: 'merged', template: 'Invalid user <*> from <IP>' })
    expect(users[2]!.merged).toEqual(expect.arrayContaining([users[0]!.patternId, users[1]!.patternId]))
    expect(users[3]).toMatchObject({ change: 'none', patternId: users[2]!.patternId })
    expect(users[2]!.cluster.aliases).toEqual(expect.arrayContaining([users[0]!.patternId, users[1]!.patternId]))
  })

  it('needs minDistinctValues words to make a parameter', () => {
    const m = new TemplateMiner({ minDistinctValues: 4 })
    for (const method of ['GET', 'POST', 'PUT']) m.add(`request ${method} served`)
    expect(m.clusterCount).toBe(3)
    expect(m.add('request DELETE served').change).toBe('merged')
    expect(m.clusterCount).toBe(1)
  })

  it('keeps one group when optional or list-valued parameters change the length', () => {
    const m = new TemplateMiner()
    const a = m.add('conn close, 0 bytes sent, 0 bytes received, lifetime 00:01')
    const b = m.add('conn close, 1190 bytes (1.16 KB) sent, 1671 bytes (1.63 KB) received, lifetime <1 sec')
    const c = m.add('ask 10.0.0.1 to delete blk_1 blk_2 blk_3')
    const d = m.add('ask 10.0.0.2 to delete blk_4')
    expect(b.patternId).toBe(a.patternId)
    expect(b.template).toBe('conn close, <NUM> bytes (<NUM>) sent, <NUM> bytes (<NUM>) received, lifetime <*>')
    expect(d.patternId).toBe(c.patternId)
  })

  it('puts a parameter with digits into a slot learnt from words', () => {
    const m = new TemplateMiner()
    for (const u of ['alice', 'bob', 'carol']) m.add(`Invalid user ${u} from 10.0.0.7`)
    const numeric = m.add('Invalid user 1234 from 10.0.0.7')
    expect(numeric).toMatchObject({ change: 'none', template: 'Invalid user <*> from <IP>' })
  })

  it('names a group by its words: the same id on another instance, whatever came first', () => {
    const lines = ['disk sda1 at 91% on host-1', 'disk sdb2 at 40% on host-22', 'disk nvme0 at 12% on host-3']
    const one = new TemplateMiner()
    const two = new TemplateMiner()
    const a = lines.map((l) => one.add(l))
    const b = [...lines].reverse().map((l) => two.add(l))
    expect(new Set([...a, ...b].map((r) => r.patternId)).size).toBe(1)
    expect(a[0]!.patternId).toBe(patternIdOf('disk at on'))
    expect(a[0]!.patternId).toMatch(/^[0-9a-f]{16}$/)
  })

  it('keeps the id when the template gains a parameter', () => {
    const m = new TemplateMiner()
    const first = m.add('worker started')
    const second = m.add('worker started 15ms')
    expect(second.change).toBe('generalized')
    expect(second.patternId).toBe(first.patternId)
    expect(second.template).toBe('worker started <NUM>')
  })

  it('restores groups, ids and aliases from a snapshot, as after a restart', () => {
    const m = new TemplateMiner()
    const merged = ['alice', 'bob', 'carol'].map((u) => m.add(`login failed for ${u}`))[2]!
    const snapshot = JSON.parse(JSON.stringify(m.snapshot())) as MinerSnapshot
    expect(snapshot.version).toBe(2)
    const restored = new TemplateMiner()
    expect(restored.restore(snapshot)).toBe(1)
    const again = restored.add('login failed for mallory')
    expect(again).toMatchObject({ change: 'none', patternId: merged.patternId })
    expect(again.cluster.aliases).toEqual(merged.cluster.aliases)
    // A second restore of the same snapshot adds nothing.
    expect(restored.restore(snapshot)).toBe(0)
    expect(restored.clusterCount).toBe(1)
  })

  it('sends a skeleton already merged away to the group it was merged into', () => {
    const m = new TemplateMiner()
    const alice = m.add('login failed for alice')
    m.add('login failed for bob')
    const merged = m.add('login failed for carol')
    expect(m.add('login failed for alice').patternId).toBe(merged.patternId)
    expect(merged.merged).toContain(alice.patternId)
  })

  it('finds a group with match() without learning', () => {
    const m = new TemplateMiner()
    m.add('cache miss for key 17')
    expect(m.match('cache miss for key 18')?.template).toBe('cache miss for key <NUM>')
    expect(m.match('something else entirely')).toBeUndefined()
    expect(m.clusterCount).toBe(1)
  })

  it('handles empty, blank and parameter-only messages', () => {
    const m = new TemplateMiner()
    expect(m.add('').template).toBe('')
    expect(m.add('   ').change).toBe('none')
    expect(m.add('12345').template).toBe('<NUM>')
    expect(m.add('42').change).toBe('none')
  })

  it('evicts the least recently used groups beyond maxClusters', () => {
    const m = new TemplateMiner({ maxClusters: 10 })
    const keep = m.add('keep this template alive please')
    const word = (n: number) => String.fromCharCode(97 + (n % 26)).repeat(1 + Math.floor(n / 26))
    for (let i = 0; i < 30; i++) {
      m.add(`${word(i)} distinct shape ${word(i)} here ${word(i + 3)}`)
      m.add('keep this template alive please')
    }
    expect(m.clusterCount).toBeLessThanOrEqual(10)
    expect(m.match('keep this template alive please')?.patternId).toBe(keep.patternId)
  })

  it('answers a repeated message as it answers one it types afresh, while its group generalises and past the cache’s bound', () => {
    // Messages over 512 characters are typed afresh every time: trailing spaces make the same
    // words a message the miner does not keep typed.
    const fresh = (line: string) => `${line}${' '.repeat(600)}`
    const lines: string[] = []
    for (const user of ['ann', 'bob', 'ann', 'cy', 'dee', 'ann', 'eve', 'bob']) lines.push(`session opened for user ${user} by uid=0`, 'GET /healthz 200', `worker ${user} ready`)
    // More distinct messages than the cache holds, then the first ones again.
    for (let i = 0; i < 5000; i++) lines.push(`job ${i % 7 === 0 ? 'failed' : 'done'} in queue q${i}`)
    lines.push(...lines.slice(0, 24))
    const cached = new TemplateMiner()
    const typedAfresh = new TemplateMiner()
    for (const line of lines) {
      const a = cached.add(line)
      const b = typedAfresh.add(fresh(line))
      expect([a.patternId, a.template, a.change, a.merged], line).toEqual([b.patternId, b.template, b.change, b.merged])
    }
    expect(cached.snapshot()).toEqual(typedAfresh.snapshot())
    // A group made from a kept message, whose gap then widens, evicted, and the message again:
    // the new group shows the message's own gap text, not what the old group's gap became.
    const one = new TemplateMiner({ maxClusters: 1 })
    const oneAfresh = new TemplateMiner({ maxClusters: 1 })
    for (const line of ['link up on 10.0.0.1 now', 'link up on 42 now', 'disk full', 'link up on 10.0.0.1 now']) {
      expect(one.add(line).template, line).toBe(oneAfresh.add(fresh(line)).template)
    }
    expect(one.add('link up on 10.0.0.1 now').template).toBe('link up on <IP> now')
  })

  it('writes templates with one <*> for adjacent parameters', () => {
    expect(templateText(['a', '\u0000', 'b'], ['<NUM>', '<*>', null, null])).toBe('<NUM> a <*> b')
  })
})

describe('template checkpoints', () => {
  it('cuts the snapshot to its byte limit, keeping the most recently used groups', async () => {
    const { encodeTemplates, decodeTemplates } = await import('./templates.js')
    const word = (n: number) => n.toString(26).replace(/./g, (c) => String.fromCharCode(97 + parseInt(c, 26)))
    const m = new TemplateMiner({ minDistinctValues: 1_000_000 })
    for (let i = 0; i < 2000; i++) m.add(`${word(i)} then ${word(i + 7)} done`)
    m.add(`${word(0)} then ${word(7)} done`)
    const whole = await encodeTemplates(m.snapshot(), 10_000_000)
    expect(whole.clusters).toBe(m.clusterCount)
    const cut = await encodeTemplates(m.snapshot(), 4_000)
    expect(cut.bytes.length).toBeLessThanOrEqual(4_000)
    expect(cut.clusters).toBeGreaterThan(0)
    expect(cut.clusters).toBeLessThan(m.clusterCount)
    expect(decodeTemplates(cut.bytes).clusters[0]?.tokens.join(' ')).toBe(`${word(0)} then ${word(7)} done`)
  })

  it('merges miners’ snapshots, one group per skeleton with every miner’s aliases', async () => {
    const { mergeSnapshots } = await import('./templates.js')
    const a: MinerSnapshot = { version: 2, clusters: [{ id: 'x', tokens: ['a', '\u0000'], gaps: [null, null, null], size: 3, aliases: ['p'] }] }
    const b: MinerSnapshot = { version: 2, clusters: [{ id: 'x', tokens: ['a', '\u0000'], gaps: [null, null, null], size: 5, aliases: ['q'] }, { id: 'y', tokens: ['b'], gaps: [null, null], size: 1, aliases: [] }] }
    const merged = mergeSnapshots([a, b])
    expect(merged.clusters.map((c) => c.id)).toEqual(['x', 'y'])
    expect(merged.clusters[0]!.aliases).toEqual(['p', 'q'])
    expect(a.clusters[0]!.aliases).toEqual(['p'])
  })
})

describe('TemplateMiner event types', () => {
  it('keeps a few common words at one place apart (GET/POST/DELETE), and merges once there are many values', () => {
    const m = new TemplateMiner()
    const line = (method: string, i: number) => `request "${method} /v2/servers/${i} HTTP/1.1" status: 200 len: 1893`
    for (let i = 0; i < 50; i++) m.add(line('GET', i))
    for (let i = 0; i < 20; i++) m.add(line('POST', i))
    const del = m.add(line('DELETE', 1))
    expect(del.change).toBe('created')
    expect(m.clusterCount).toBe(3)
    // Rare values are parameters: three of them merge, the common ones with them.
    for (const user of ['alice', 'bob']) m.add(`login by ${user} ok`)
    expect(m.add('login by carol ok').change).toBe('merged')
    // Five values make a parameter even when each is common.
    for (const word of ['PUT', 'PATCH']) for (let i = 0; i < 20; i++) m.add(line(word, i))
    expect(m.match(line('GET', 1))?.template).toBe('request <*> <PATH> HTTP/<NUM>" status: <NUM> len: <NUM>')
  })
})

describe('TemplateMiner on free text', () => {
  it('falls back to similarity where words vary freely, so groups stay few', () => {
    const m = new TemplateMiner()
    const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet']
    let seed = 7
    const pick = () => words[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % words.length]!
    let mostMerged = 0
    const ids: string[] = []
    for (let i = 0; i < 3000; i++) {
      const r = m.add(`GET /api/orders/${i} 200 in ${i % 97} ms ${pick()} ${pick()} ${pick()} ${pick()}`)
      mostMerged = Math.max(mostMerged, r.merged.length)
      ids.push(r.patternId)
    }
    expect(m.clusterCount).toBeLessThan(40)
    // Widening keeps the group's id: no record carries a long alias list, and late messages go
    // to the widened group or to the few exact groups founded before the words proved free.
    expect(mostMerged).toBeLessThan(5)
    expect(new Set(ids.slice(-500)).size).toBeLessThanOrEqual(17)
    expect(m.add('GET /api/orders/1 200 in 5 ms alpha bravo alpha bravo').template).toMatch(/^GET <PATH> <NUM> in <NUM> (<\*> ?)+$/)
  })
})

describe('TemplateMiner tokens', () => {
  it('splits where \\s does: every UTF-16 code unit classified as the regex classifies it', () => {
    const differ: number[] = []
    for (let c = 0; c < 0x10000; c++) if (isSpace(c) !== /\s/.test(String.fromCharCode(c))) differ.push(c)
    expect(differ).toEqual([])
  })

  it('types the tokens tokenize() gives, whatever whitespace separates them', () => {
    const m = new TemplateMiner()
    for (const text of ['  lead and trail\t', 'tab\tnbsp\u00a0line\u2028sep\u3000ideo', 'many    spaces\n\r\nnewlines', '', ' \t ', 'one']) {
      const tokens = m.tokenize(text)
      const typed = m.type(text)
      // Every token here is a word (no digits, masks or key=value), so the words are the tokens.
      expect(typed.words).toEqual(tokens)
      expect(typed.gaps).toEqual(Array.from({ length: tokens.length + 1 }, () => null))
    }
    expect(m.type('user 42 logged\tin from\u00a0 10.0.0.1 ok')).toEqual({ words: ['user', 'logged', 'in', 'from', 'ok'], gaps: [null, '<NUM>', null, null, '<IP>', null] })
  })

  it('tells words from parameters by a digit, a mask placeholder, a host name or a key', () => {
    const m = new TemplateMiner({ masks: [] })
    const kinds = (text: string) => {
      const t = m.type(text)
      return { words: t.words, gaps: t.gaps.filter((g) => g !== null) }
    }
    // A digit anywhere, a placeholder ('<', capitals, '>') anywhere: parameters.
    expect(kinds('a v2 b x<IP>y c <a> <> <Ab>')).toEqual({ words: ['a', 'b', 'c', '<a>', '<>', '<Ab>'], gaps: ['v2', 'x<IP>y'] })
    // Host names: three labels or more (a port too); two labels, a leading dot or capitals are words.
    expect(kinds('to ns1.example.com and proxy.cs.example.edu:5070 not index.html .a.b.com Config.Keys.Map')).toEqual({
      words: ['to', 'and', 'not', 'index.html', '.a.b.com', 'Config.Keys.Map'],
      gaps: ['ns1.example.com', 'proxy.cs.example.edu:5070'],
    })
    // key=value keeps its key whatever the value; a token starting with '=' or not a key is typed as it is.
    expect(kinds('uid=0 user=bob =x 1a=b a=b=c')).toEqual({ words: ['uid=<*>', 'user=<*>', '=x', 'a=<*>'], gaps: ['1a=b'] })
  })
})

describe('TemplateMiner aliases', () => {
  it('bounds the aliases a group keeps and a record carries, the merged groups’ own ids first', () => {
    const aliases = (k: number) => Array.from({ length: 40 }, (_, i) => patternIdOf(`old ${k} ${i}`))
    const snapshot: MinerSnapshot = {
      version: 2,
      clusters: ['aa', 'ab', 'ac'].map((w, k) => ({ id: patternIdOf(`a ${w} b c`), tokens: ['a', w, 'b', 'c'], gaps: [null, null, null, null, null], size: 3, aliases: aliases(k) })),
    }
    // A checkpoint written before the bound: its aliases are cut to the newest.
    const big: MinerSnapshot = { version: 2, clusters: [{ id: 'big', tokens: ['q', '\u0000'], gaps: [null, null, null], size: 1, aliases: Array.from({ length: 100 }, (_, i) => `a${i}`) }] }
    const m = new TemplateMiner()
    m.restore(snapshot)
    m.restore(big)
    expect(m.snapshot().clusters.find((c) => c.tokens[0] === 'q')?.aliases).toEqual(Array.from({ length: MAX_ALIASES }, (_, i) => `a${i + 100 - MAX_ALIASES}`))
    // Three groups of 41 ids each merge: a record carries at most MAX_ALIASES ids, the three groups' own among them.
    const r = m.add('a ad b c')
    expect(r).toMatchObject({ change: 'merged', template: 'a <*> b c' })
    expect(r.merged).toHaveLength(MAX_ALIASES)
    expect(r.merged).toEqual(expect.arrayContaining(snapshot.clusters.map((c) => c.id)))
    expect(r.cluster.aliases).toEqual(r.merged)
    expect(m.snapshot().clusters.every((c) => c.aliases.length <= MAX_ALIASES)).toBe(true)
    // Fresh words at the slot join the group and add nothing.
    let most = 0
    for (let i = 0; i < 200; i++) most = Math.max(most, m.add(`a w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))} b c`).merged.length)
    expect(most).toBe(0)
    expect(m.clusterCount).toBe(2)
  })

  it('keeps at most MAX_ALIASES through levels of merges, each re-listing every id its parts absorbed', () => {
    // A group with slots at places 0..k-1 is four such groups of level k-1 (words differing at
    // place k-1) and a message; each level lists the ids of the one before again (116 ids on one
    // record at four levels without the bound, 1 876 at six).
    let n = 0
    const fresh = () => `u${(++n).toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!)}`
    const m = new TemplateMiner()
    let most = 0
    const build = (k: number, fixed: string[]): void => {
      if (k > 0) for (let i = 0; i < 4; i++) build(k - 1, [fresh(), ...fixed])
      most = Math.max(most, m.add([...Array.from({ length: k }, fresh), ...fixed].join(' ')).merged.length)
    }
    build(4, [])
    expect(most).toBe(MAX_ALIASES)
    expect(m.snapshot().clusters.every((c) => c.aliases.length <= MAX_ALIASES)).toBe(true)
  })
})

describe('TemplateMiner slot-first and slot-last groups', () => {
  const word = (n: number) => `w${n.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!)}`

  it('finds groups that start or end with a slot by their other words, as many as there are', () => {
    const m = new TemplateMiner()
    const groups = 2_000
    for (let k = 0; k < groups; k++) for (let i = 0; i < 3; i++) m.add(`${word(10_000 + 3 * k + i)} a${word(k)} b${word(k)} c${word(k)}`)
    expect(m.clusterCount).toBe(groups)
    expect(m.add(`fresh a${word(7)} b${word(7)} c${word(7)}`)).toMatchObject({ change: 'none', template: `<*> a${word(7)} b${word(7)} c${word(7)}` })
    // Ordinary lines of the same length meet none of them.
    const ordinary = m.add('alpha beta gamma delta')
    expect(ordinary.change).toBe('created')
    expect(m.clusterCount).toBe(groups + 1)
  })

  it('joins groups with slots at both ends by the word they are indexed by, and a slot-last group by a slot at its start', () => {
    const m = new TemplateMiner()
    // "<*> a b c" and "<*> a b d", then a message: "<*> a b <*>"; likewise "<*> x b <*>".
    for (const w of ['a', 'x']) {
      for (const last of ['c', 'd']) for (const first of ['xa', 'xb', 'xc']) m.add(`${first} ${w} b ${last}`)
      expect(m.add(`ya ${w} b e`)).toMatchObject({ change: 'merged', template: `<*> ${w} b <*>` })
    }
    // They differ from the message at their inner word only: found by the one at their end.
    const both = m.add('zz y b zz')
    expect(both).toMatchObject({ change: 'merged', template: '<*> b <*>' })
    expect(both.merged).toEqual(expect.arrayContaining([patternIdOf('<*> a b <*>'), patternIdOf('<*> x b <*>')]))
    // "p q r <*>" and "pa q r <*>" differ from the message at their first word only.
    for (const first of ['p', 'pa']) for (const last of ['xa', 'xb', 'xc']) m.add(`${first} q r ${last}`)
    const last = m.add('pb q r ya')
    expect(last).toMatchObject({ change: 'merged', template: '<*> q r <*>' })
    expect(last.merged).toEqual(expect.arrayContaining([patternIdOf('p q r <*>'), patternIdOf('pa q r <*>')]))
    expect(m.clusterCount).toBe(2)
  })

  it('finds groups with slots at both ends or at the first two places, and one whose slot takes a gap', () => {
    const m = new TemplateMiner()
    for (const last of ['d', 'e']) for (const w of ['xa', 'xb', 'xc']) m.add(`${w} a b c ${last}`)
    const both = m.add('ya a b c f')
    expect(both).toMatchObject({ change: 'merged', template: '<*> a b c <*>' })
    expect(m.add('zz a b c zz')).toMatchObject({ change: 'none', patternId: both.patternId })
    // A parameter where the first slot is: the slot takes it, the words shift by one.
    expect(m.add('42 a b c zz')).toMatchObject({ change: 'none', patternId: both.patternId })
    for (const x of ['ka', 'kb', 'kc']) for (const w of ['xa', 'xb', 'xc']) m.add(`${w} ${x} s t`)
    const two = m.add('zz zz s t')
    expect(two).toMatchObject({ change: 'none', template: '<*> s t' })
    expect(m.add('zz zz s u').change).toBe('created')
  })
})

describe('TemplateMiner long messages', () => {
  it('keeps the first 256 words of a message, the rest one trailing parameter', () => {
    const m = new TemplateMiner()
    const words = (from: number, n: number) => Array.from({ length: n }, (_, i) => `w${(from + i).toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]!)}`)
    const head = words(0, 256)
    const a = m.add([...head, ...words(1_000, 5_000)].join(' '))
    expect(a.template).toBe(`${head.join(' ')} <*>`)
    const b = m.add([...head, ...words(9_000, 3_000)].join(' '))
    expect(b).toMatchObject({ change: 'none', patternId: a.patternId })
    // A message of long words stops at 4 096 characters.
    const long = m.add(Array.from({ length: 2_000 }, (_, i) => `${'y'.repeat(30)}${words(i, 1)[0]!}`).join(' '))
    expect(long.template.length).toBeLessThan(4_200)
    expect(long.template.endsWith(' <*>')).toBe(true)
  })
})

/** Whether a template of words and `<*>` (one or more words) matches a message of words only. */
const templateMatches = (template: string, message: string): boolean => {
  const parts = template.split(' ').map((t) => (t === '<*>' ? '\\S+(?: \\S+)*' : t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  return new RegExp(`^${parts.join(' ')}$`).test(message.trim().split(/\s+/).join(' '))
}

describe('TemplateMiner merges', () => {
  it('merges groups only with groups whose slots are at the same places, so a message is never reported with a template it does not fit', () => {
    const m = new TemplateMiner()
    for (const line of ['xb alpha b c', 'xc alpha b c', 'xd alpha b c', 'wolf yb b c']) m.add(line)
    // "<*> alpha b c" and "wolf yb b c" differ from the message at place 1 only, but merging them
    // would make "wolf <*> b c" (which "zed alpha b c" does not fit) or "<*> <*> b c" (a slot the
    // wolf lines never showed): two values of a word, no merge.
    expect(m.add('wolf yc b c')).toMatchObject({ change: 'created', template: 'wolf yc b c' })
    for (const line of ['zed alpha b c', 'quux alpha b c']) expect(m.add(line)).toMatchObject({ change: 'none', template: '<*> alpha b c' })
    // A third word after "wolf": the wolf groups merge.
    expect(m.add('wolf yd b c')).toMatchObject({ change: 'merged', template: 'wolf <*> b c' })
    // Groups with their slots at the same places merge, keeping them.
    for (const line of ['xb beta b c', 'xc beta b c', 'xd beta b c']) m.add(line)
    const merged = m.add('xe gamma b c')
    expect(merged).toMatchObject({ change: 'merged', template: '<*> b c' })
    // The two groups and the lines each was merged from.
    expect(merged.merged).toHaveLength(6)
    expect(merged.merged).toEqual(expect.arrayContaining([patternIdOf('<*> alpha b c'), patternIdOf('<*> beta b c'), patternIdOf('xb alpha b c')]))
    expect(m.add('zed alpha b c').patternId).toBe(merged.patternId)
    expect(m.add('wolf yb b c').template).toBe('wolf <*> b c')
  })

  it('forces no group’s slot on a word other groups and the message share', () => {
    const m = new TemplateMiner()
    // Zookeeper's "Server environment:…" lines, then Hadoop's "maxTaskFailuresPerNode is 3" on the
    // same miner (as on one enricher thread): "Server <*>", "First is <HEX>" and the message once
    // made "<*> <*>", which took every later message of two words.
    for (const w of ['environment:host', 'environment:java', 'environment:os']) m.add(`Server ${w}`)
    m.add('First is 0x1a')
    const r = m.add('maxTaskFailuresPerNode is 3')
    expect(r).toMatchObject({ change: 'created', template: 'maxTaskFailuresPerNode is <NUM>' })
    expect(m.add('Server environment:user')).toMatchObject({ change: 'none', template: 'Server <*>' })
    expect(m.add('queue: default').change).toBe('created')
  })

  it('takes no alias of a checkpoint from an older miner for a group the message does not fit', () => {
    // Written by a miner that merged "<*> alpha b c" and its lines into "wolf <*> b c", a group
    // they do not fit: the ids name them no more.
    const old: MinerSnapshot = {
      version: 2,
      clusters: [{ id: patternIdOf('wolf <*> b c'), tokens: ['wolf', '\u0000', 'b', 'c'], gaps: [null, null, null, null, null], size: 9, aliases: [patternIdOf('xb alpha b c'), patternIdOf('<*> alpha b c')] }],
    }
    const m = new TemplateMiner()
    m.restore(old)
    // A line whose skeleton is an alias there, and lines whose merge makes the skeleton of the other.
    expect(m.add('xb alpha b c')).toMatchObject({ change: 'created', template: 'xb alpha b c' })
    m.add('xc alpha b c')
    expect(m.add('xd alpha b c')).toMatchObject({ change: 'merged', patternId: patternIdOf('<*> alpha b c'), template: '<*> alpha b c' })
    expect(m.add('wolf yz b c').template).toBe('wolf <*> b c')
  })

  it('reports every message with a template it fits, on random words that make slots, merges and floods', () => {
    let seed = 11
    const rnd = (k: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k
    const m = new TemplateMiner()
    for (let i = 0; i < 20_000; i++) {
      const vocab = 2 + (i % 23)
      const line = Array.from({ length: 2 + rnd(5) }, (_, j) => `w${String.fromCharCode(97 + rnd(j === 0 ? 26 : vocab))}`).join(' ')
      const r = m.add(line)
      if (!templateMatches(r.template, line)) expect([line, r.template]).toBe('a template the message fits')
    }
  })
})

/**
 * Records after a restart whose pattern_id differs from the uninterrupted run's: at each cut the
 * miner's snapshot goes through JSON into a fresh miner, which mines the rest. And cuts where the
 * restored miner's own snapshot is not the one it was restored from.
 */
const restartDiffs = (lines: readonly string[], cuts: readonly number[], options: MinerOptions = {}): string[] => {
  const whole = new TemplateMiner(options)
  const ids = lines.map((l) => whole.add(l).patternId)
  const first = new TemplateMiner(options)
  const differ: string[] = []
  let fed = 0
  for (const cut of cuts) {
    for (; fed < cut; fed++) first.add(lines[fed]!)
    const restored = new TemplateMiner(options)
    const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as MinerSnapshot
    restored.restore(snapshot)
    if (!isDeepStrictEqual(restored.snapshot(), snapshot)) differ.push(`cut ${cut}: snapshot`)
    for (let i = cut; i < lines.length; i++) if (restored.add(lines[i]!).patternId !== ids[i]) differ.push(`cut ${cut}: ${lines[i]!}`)
  }
  return differ
}

describe('TemplateMiner restarts', () => {
  it('gives every record after a restore the id the uninterrupted miner gives, on the Loghub lines of all datasets interleaved', () => {
    // Raw lines, headers and all: their times and hosts make free text, which similarity widens
    // into groups that keep their first id (899 records differed when restore took the id of the words).
    const raw = LOGHUB_DATASETS.map((d) => loadRawLoghub(d))
    const lines = Array.from({ length: 2000 }, (_, i) => raw.map((r) => r[i]!)).flat()
    expect(restartDiffs(lines, [1000, 4000, 8000, 12000])).toEqual([])
  })

  it('decides after a restore as it would have, with evictions, slots, gaps and floods', () => {
    // Random words (as the fit test below): which groups are evicted first, and which of equally
    // good groups is chosen, must not change with a restart (1 315 records differed when restored
    // groups were all as recent and indexed in the order of the list, and the memo kept old answers).
    let seed = 11
    const rnd = (k: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % k
    const lines = Array.from({ length: 4000 }, (_, i) =>
      Array.from({ length: 2 + rnd(5) }, (_, j) => (rnd(7) === 0 ? String(rnd(100)) : `w${String.fromCharCode(97 + rnd(j === 0 ? 26 : 2 + (i % 23)))}`)).join(' '),
    )
    for (const maxClusters of [60, 400]) expect(restartDiffs(lines, [500, 1000, 2000, 3000], { maxClusters })).toEqual([])
  })

  it('sends a message where the groups send it, not where its words went before', () => {
    // "a k x y" widens the free-text group "a k <*>"; then "<*> k x y" is made, which fits the
    // message with fewer slots. A miner that remembered where the words went kept sending them to
    // "a k <*>", a restored one (which has no such memory) sent them to "<*> k x y".
    const m = new TemplateMiner()
    for (const c of 'abcdefghijklmnop') m.add(`a k w${c} v${c}`)
    expect(m.add('a k x y').template).toBe('a k <*>')
    for (const first of ['b', 'c', 'd']) m.add(`${first} k x y`)
    const restored = new TemplateMiner()
    restored.restore(JSON.parse(JSON.stringify(m.snapshot())) as MinerSnapshot)
    const again = m.add('a k x y')
    expect(again.template).toBe('<*> k x y')
    expect(restored.add('a k x y').patternId).toBe(again.patternId)
  })
})
