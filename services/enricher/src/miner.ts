// The production template miner: one configuration for every log, streaming, deterministic.
//
// Drain (drain.ts) decides by similarity: a message joins a cluster when enough of its tokens
// are equal, and the positions that differ become wildcards. One threshold cannot fit every log:
// "Changing view acls" and "Changing modify acls" are two events, "Invalid user alice" and
// "Invalid user bob" are one. This miner decides by evidence instead:
//
//   typing      Masks first (numbers, IPs, URLs, paths, …). A token with a digit or a mask in it,
//               or a host name, is a parameter; `key=value` keeps its key (`uid=<*>`). Everything
//               else is a word.
//   skeleton    A message's words in order; runs of parameters between them are gaps (shown as
//               their masked text, "<NUM> ssh2", while every message agrees on it). Messages
//               with the same skeleton are one event, whatever the parameters and however many
//               there are (so optional and list-valued parts do not split an event).
//   slots       Words that are really parameters (user names, host names) are found by
//               cardinality: when `minDistinctValues` clusters agree on every word but one
//               position, that position becomes a slot (`<*>`) and the clusters merge. Two
//               values of a word at one place (view/modify) stay apart, and so do a few values
//               that are each common (GET/POST/DELETE: event types, not parameters). Where words
//               vary freely (dozens of groups with one word count and first word), similarity
//               takes over, as in Drain.
//
// Pattern ids. A cluster's id is the hash of its skeleton (its words and slots), so every
// instance and every restart names the same event the same way, and it does not change when the
// template gains a gap, nor when free text (the similarity fallback) widens it with slots. When clusters merge into a slot, the merged cluster's id is the hash of
// the new skeleton and the merged clusters' ids become its aliases: a match reports them once
// (`change: 'merged'`), snapshots keep them, and a query by id expands them. A cluster keeps at
// most MAX_ALIASES of them, and a message at most MAX_WORDS words (see below).
import { createHash } from 'node:crypto'
import { compileMasks, DEFAULT_MASKS } from './masking.js'
import type { MaskRule, Masker } from './masking.js'

export const WILDCARD = '<*>'

/** A word on more lines than this, at a place where others vary, looks like an event type. */
const FREQUENT_LINES = 10

/**
 * Groups with one word count and first word beyond which the words are free text: a new message
 * there joins the most similar group (half its words or more equal), the differing places
 * becoming parameters, as Drain's similarity does.
 */
const FLOOD_GROUPS = 16
const FLOOD_SIMILARITY = 0.5

/** Marks a word position that turned out to be a parameter. */
const SLOT = '\u0000'

// Aliases a cluster keeps, and so the most a record carries in `merged`. ClickHouse expands a
// query by id one hop only (alias → pattern_id, the latest row per alias: schemas/clickhouse/0004,
// query-api patternClause), so a merge must list again every id its parts had absorbed, and an
// id left out keeps pointing at the group it was merged into before. On the Loghub-2k datasets no
// cluster has more than 3; three levels of merges of three groups each make 39. Beyond the bound the
// newest ids are kept (the parts' own ids first: records are stored under them), the oldest dropped:
// their rows still name the group they were merged into last, which a query by that group finds.
export const MAX_ALIASES = 64

// A message's words and parameters are kept up to these bounds, the rest is one trailing `<*>`:
// a 32 KB message of unique words would otherwise be a 32 K-character template and skeleton
// (~300 kB of heap per cluster, 70 kB of checkpoint). The Loghub-2k messages stay far below
// (at most 73 words and 1 400 characters typed).
const MAX_WORDS = 256
const MAX_TYPED_CHARS = 4096

export interface MinerOptions {
  /** Bound on clusters kept; the least recently used tenth is evicted when it is exceeded. */
  maxClusters?: number
  masks?: readonly MaskRule[]
  /** Distinct words at one position (all else equal) that make that position a parameter. ≥ 2. */
  minDistinctValues?: number
}

export const TEMPLATE_CHANGES = ['created', 'generalized', 'merged', 'none'] as const
export type TemplateChange = (typeof TEMPLATE_CHANGES)[number]

/** A cluster as callers see it. Live: its template follows later generalisation. */
export interface TemplateCluster {
  readonly patternId: string
  readonly template: string
  /** Messages the cluster has absorbed so far. */
  readonly size: number
  /** Ids of clusters merged into this one (they name the same event). */
  readonly aliases: readonly string[]
}

/** The outcome of one message. */
export interface TemplateMatch {
  patternId: string
  template: string
  change: TemplateChange
  /** On 'merged': the ids that now name this cluster. Empty otherwise. */
  merged: readonly string[]
  cluster: TemplateCluster
}

export interface MinerSnapshot {
  version: 2
  /**
   * Words with '\u0000' for slots, and each gap's text (null: none), as the miner holds them;
   * `order`, where the cluster stands in the order the miner indexed them (absent: one before the
   * entry before it, the first 0); `unowned`, those of its id and aliases that name another
   * cluster or none (absent: none).
   */
  clusters: { id: string; tokens: string[]; gaps: (string | null)[]; size: number; aliases: string[]; order?: number; unowned?: string[] }[]
}

interface Cluster extends TemplateCluster {
  patternId: string
  template: string
  size: number
  aliases: string[]
  tokens: string[]
  gaps: (string | null)[]
  lastUsed: number
  /** When the cluster was last indexed (see #index): its place in the index's sets. */
  indexed: number
  /** Set once the cluster is merged into another or evicted. */
  dead: boolean
  /** Visit mark for candidate scans. */
  seen: number
  /** The match returned while nothing changes (reset when the template does). */
  unchanged: TemplateMatch | undefined
}

/** A message as the miner sees it: its words, and the gap text before each word and after the last. */
interface Typed {
  words: string[]
  gaps: (string | null)[]
}

/** Follows alias → id chains (as `merged` reports them) to the id that names the group now. */
export function resolveAliases(aliases: ReadonlyMap<string, string>, id: string): string {
  let at = id
  for (let hops = 0; hops < 64; hops++) {
    const next = aliases.get(at)
    if (next === undefined || next === at) return at
    at = next
  }
  return at
}

/** 16 hex chars of the SHA-1 of a text. */
export function patternIdOf(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 16)
}

/** Whether the UTF-16 code unit `c` is one `\s` matches (WhiteSpace and LineTerminator). */
export function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13)
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}
/** The runs of characters that are not `\s`, read in one pass (no trim, no regex split). */
function tokensOf(s: string): string[] {
  const tokens: string[] = []
  const n = s.length
  for (let i = 0; i < n; ) {
    if (isSpace(s.charCodeAt(i))) {
      i++
      continue
    }
    const start = i
    while (i < n && !isSpace(s.charCodeAt(i))) i++
    tokens.push(s.slice(start, i))
  }
  return tokens
}
const KEY_VALUE = /^([A-Za-z_][\w.-]*=)(.+)$/

// Host names: three or more lower-case labels, perhaps a port (ns1.example.com,
// proxy.cs.example.edu:5070). Mixed case (Java classes, Config.Keys) and two labels (index.html) are words.
const HOST_NAME = /^[[(<"']?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.){2,}[a-z]{2,63}(?::\d{1,5})?[\])>"',;:.]*$/

/** Whether a token holds a mask placeholder: '<', capitals, '>'. */
function hasPlaceholder(token: string): boolean {
  for (let i = token.indexOf('<'); i >= 0; i = token.indexOf('<', i + 1)) {
    let j = i + 1
    while (j < token.length && token.charCodeAt(j) >= 65 && token.charCodeAt(j) <= 90) j++
    if (j > i + 1 && token.charCodeAt(j) === 62) return true
  }
  return false
}

const skeletonText = (tokens: readonly string[]): string => tokens.map((t) => (t === SLOT ? WILDCARD : t)).join(' ')

// Messages repeat word for word (health checks, retries, a service's fixed lines: 43 % of the
// Loghub-2k messages are a copy of an earlier one), and masking, splitting and typing them is most
// of the miner's work. So the typed forms of recent messages are kept and read again rather than
// made again; typing is a pure function of the message, so this changes no result. The cache is
// direct-mapped, a slot per hash of a few of the message's characters, which a newer message
// takes over: a miss must cost next to nothing, as most messages of a busy stream never repeat
// (a Map of recent messages made those 10–20 % slower), and entries live briefly, as the garbage
// collector charges for what outlives its young generation.
const TYPED_SLOTS = 256
const TYPED_CACHE_MAX_CHARS = 512

/** The places of a message's gaps, which a slot of a cluster one token longer may take (see fits). */
function gapPlaces(typed: Typed): string {
  let places = ''
  for (let i = 0; i < typed.gaps.length; i++) if (typed.gaps[i] !== null) places += String.fromCharCode(48 + i)
  return places
}

/** The cache slot of `message`: from its length and four of its characters. */
function typedSlot(message: string): number {
  const n = message.length
  let h = n
  h = (h * 31 + message.charCodeAt(n - 1)) | 0
  h = (h * 31 + message.charCodeAt(n >> 1)) | 0
  h = (h * 31 + message.charCodeAt(n >> 2)) | 0
  h = (h * 31 + message.charCodeAt((3 * n) >> 2)) | 0
  return (h ^ (h >>> 8)) & (TYPED_SLOTS - 1)
}

/** A message typed, with its words joined (the memo's key). */
interface TypedKey {
  message: string
  typed: Typed
  key: string
}

export class TemplateMiner {
  readonly #maxClusters: number
  readonly #minDistinct: number
  readonly #mask: Masker
  readonly #clusters = new Set<Cluster>()
  /** Clusters by word count and first word, and by word count and last word (slots as SLOT). */
  readonly #byEdge = new Map<string, Set<Cluster>>()
  /** Messages' words → the cluster #find chose, the stamp it holds for, and the gap places it held for if it depended on them (a memo; bounded). */
  readonly #memo = new Map<string, { cluster: Cluster; stamp: number; gaps: string | undefined }>()
  /** By token count: changes to the clusters of that length (see #stamp). */
  readonly #shapes: number[] = new Array<number>(MAX_WORDS + 2).fill(0)
  /** Whether the last #find chose by slots alone (no other fitting cluster had as few). */
  #sure = false
  /** Whether the last #find met a cluster whose slot may take a gap, which other gap places would fit or not. */
  #gapped = false
  /** Every live id and alias → the cluster it names. */
  readonly #owners = new Map<string, Cluster>()
  /** Recent messages typed, by typedSlot. Read only: a cluster copies what it keeps (#create). */
  readonly #typedCache: (TypedKey | undefined)[] = new Array<TypedKey | undefined>(TYPED_SLOTS).fill(undefined)
  #clock = 0
  #scan = 0
  /** Counts #index calls: a cluster's `indexed`. */
  #indexings = 0
  /** For "<word count>|(" and "<word count>|)": the places inner keys name (see edgeKeys), each with its clusters' count. */
  readonly #places = new Map<string, Map<number, number>>()
  #revision = 0

  constructor(options: MinerOptions = {}) {
    this.#maxClusters = Math.max(1, options.maxClusters ?? 50_000)
    this.#minDistinct = Math.max(2, options.minDistinctValues ?? 3)
    this.#mask = compileMasks(options.masks ?? DEFAULT_MASKS)
  }

  get clusterCount(): number {
    return this.#clusters.size
  }

  /** Counts template changes (clusters created, generalised or merged): unchanged means nothing new to persist. */
  get revision(): number {
    return this.#revision
  }

  /** Masked tokens of a message. */
  tokenize(message: string): string[] {
    return tokensOf(this.#mask(message))
  }

  /** Words and gaps of a message. */
  type(message: string): Typed {
    const words: string[] = []
    const gaps: (string | null)[] = [null]
    let chars = 0
    const masked = this.#mask(message)
    const n = masked.length
    // The masked message's tokens (runs of characters that are not `\s`, as tokensOf reads them),
    // each read once: what typing asks of a token (a digit, a `<`, its first `=` and `.`, how many
    // dots) is noted on the way, not found by a scan per question (four passes over every word,
    // ~10 % of the miner's time on the Loghub-2k messages).
    for (let i = 0; i < n; ) {
      if (isSpace(masked.charCodeAt(i))) {
        i++
        continue
      }
      const start = i
      let digit = false
      let angle = false
      let eq = -1
      let dot = -1
      let dots = 0
      for (; i < n; i++) {
        const c = masked.charCodeAt(i)
        if (c <= 32 || c >= 128 ? isSpace(c) : false) break
        if (c <= 57) {
          if (c >= 48) digit = true
          else if (c === 46 /* . */ && dots++ === 0) dot = i - start
        } else if (c === 61 /* = */) {
          if (eq < 0) eq = i - start
        } else if (c === 60 /* < */) angle = true
      }
      const token = masked.slice(start, i)
      // `key=value` is a word whatever its value: the key, the value a parameter.
      const kv = eq > 0 ? KEY_VALUE.exec(token) : null
      // A parameter: a token with a digit or a mask placeholder (`<NUM>`) in it, or a host name.
      const word = kv !== null || !(digit || (dot > 0 && dots > 1 && HOST_NAME.test(token)) || (angle && hasPlaceholder(token)))
      chars += token.length + 1
      if (chars > MAX_TYPED_CHARS || (word && words.length === MAX_WORDS)) {
        // Past the bounds: the rest is one parameter, whatever it holds.
        gaps[words.length] = WILDCARD
        break
      }
      if (word) {
        words.push(kv ? `${kv[1]}${WILDCARD}` : token)
        gaps.push(null)
        continue
      }
      // A gap shows its masked text ("<NUM> ssh2") until another message has other text there.
      const at = words.length
      const before = gaps[at]
      gaps[at] = before === null || before === undefined ? token : `${before} ${token}`
    }
    // Tokens are slices of the masked message and keep all of it alive: a cluster made from a
    // long one would hold the whole message. Copies hold only what is kept.
    if (masked.length > MAX_TYPED_CHARS) return JSON.parse(JSON.stringify({ words, gaps })) as Typed
    return { words, gaps }
  }

  /** Learns from `message` and returns its cluster's id and template. */
  add(message: string): TemplateMatch {
    const { typed, key } = this.#typedKey(message)
    this.#clock++
    // The memo answers only as #find would: a message goes where the clusters (which a snapshot
    // holds) send it, not where its words went before, or a restored miner would decide otherwise.
    // Its answer holds while its cluster lives and no cluster with slots of the message's length or
    // one more is made, removed or widened (the stamp), when it did not depend on sizes, which
    // every message changes, and for the same gap places if it depended on them.
    const n = typed.words.length
    const memo = this.#memo.get(key)
    let cluster = memo !== undefined && memo.stamp === this.#stamp(n) && !memo.cluster.dead && (memo.gaps === undefined || memo.gaps === gapPlaces(typed)) ? memo.cluster : undefined
    if (!cluster) {
      cluster = this.#find(typed)
      if (cluster && this.#sure) this.#remember(key, cluster, this.#stamp(n), this.#gapped ? gapPlaces(typed) : undefined)
    }
    if (cluster) {
      cluster.size++
      cluster.lastUsed = this.#clock
      if (this.#absorbGaps(cluster, typed)) return this.#view(cluster, 'generalized', [])
      return (cluster.unchanged ??= this.#view(cluster, 'none', []))
    }
    const merged = this.#flooded(typed) ?? this.#generalize(typed)
    if (merged) {
      return this.#view(merged.cluster, merged.ids.length > 0 ? 'merged' : 'generalized', merged.ids)
    }
    // An event once merged stays merged: a skeleton whose id is already an alias goes to its owner,
    // if the message fits it (an alias restored from another miner may name another shape).
    const owner = this.#owners.get(patternIdOf(skeletonText(typed.words)))
    if (owner && !owner.dead && fits(owner.tokens, typed)) {
      owner.size++
      owner.lastUsed = this.#clock
      return this.#view(owner, 'none', [])
    }
    // Copies: the typed form may be the cache's, and a cluster's tokens and gaps change.
    const created = this.#create(typed.words.slice(), typed.gaps.slice(), 1, [])
    // Nothing else fitted the message (#find found nothing), and whatever its gaps, a cluster
    // without slots is the best fit.
    this.#remember(key, created, this.#stamp(n), undefined)
    return this.#view(created, 'created', [])
  }

  /** Finds the cluster `message` would join, without learning. */
  match(message: string): TemplateMatch | undefined {
    const c = this.#find(this.type(message))
    return c && this.#view(c, 'none', [])
  }

  // A checkpoint is taken mid-stream, and the records after it get their ids from the miner it is
  // restored into, which must decide as this one would have. Beside each cluster's words, gaps,
  // size and aliases, that takes its id (a group widened by similarity keeps its first, which is
  // not the hash of its words: see #flooded) and three things no cluster holds:
  //   recency  the least recently used are evicted first: the list is the most recently used first.
  //   order    of equally good clusters the one found first is taken, and the index's sets keep
  //            clusters in the order they were indexed: `order` is that order, and restore indexes
  //            them in it. It is left out where it is one before the entry before it, so groups
  //            used only when they were made, most of a large checkpoint, cost no bytes for it.
  //   owners   an id two clusters list (a group made again after its id was merged away) names the
  //            one that took it last, which a merge making that skeleton joins (#merge): `unowned`
  //            names the others.
  // The rest is caches, which change no decision (see add).
  /** Cluster state to persist, the most recently used first (at most `maxClusters`). */
  snapshot(maxClusters = Number.POSITIVE_INFINITY): MinerSnapshot {
    const clusters = [...this.#clusters].sort((a, b) => b.lastUsed - a.lastUsed).slice(0, maxClusters)
    // Ranks rather than the counter: small numbers, and as good to sort by.
    const ranks = new Map([...clusters].sort((a, b) => a.indexed - b.indexed).map((c, i) => [c, i]))
    let before = 1
    return {
      version: 2,
      clusters: clusters.map((c) => {
        const s: MinerSnapshot['clusters'][number] = { id: c.patternId, tokens: [...c.tokens], gaps: [...c.gaps], size: c.size, aliases: [...c.aliases] }
        const order = ranks.get(c)!
        if (order !== before - 1) s.order = order
        before = order
        const unowned = [c.patternId, ...c.aliases].filter((id) => this.#owners.get(id) !== c)
        if (unowned.length > 0) s.unowned = unowned
        return s
      }),
    }
  }

  /** Adds a snapshot's clusters; a cluster whose skeleton is already known only adds its aliases and gaps. */
  restore(snapshot: MinerSnapshot): number {
    let restored = 0
    // Recency from the list's order (the first most recent, all before anything mined from now on).
    let before = 1
    const entries = snapshot.clusters.map((s, i) => ({ s, order: (before = s.order ?? before - 1), used: this.#clock - i }))
    entries.sort((a, b) => a.order - b.order)
    const made: [Cluster, MinerSnapshot['clusters'][number]][] = []
    for (const { s, used } of entries) {
      const known = this.#exact(s.tokens)
      if (known) {
        this.#absorbGaps(known, { words: s.tokens, gaps: s.gaps })
        const fresh = [s.id, ...s.aliases].filter((a) => a !== known.patternId && !known.aliases.includes(a))
        this.#addAliases(known, [...new Set(fresh)])
        continue
      }
      // A checkpoint of an older miner may hold more aliases than are kept now: the newest stay.
      made.push([this.#create([...s.tokens], [...s.gaps], s.size, s.aliases.slice(-MAX_ALIASES), { id: s.id, used }), s])
      restored++
    }
    // Ids a cluster lists but does not own go to the cluster that owns them, if any.
    const unowned = new Set(made.flatMap(([, s]) => s.unowned ?? []))
    if (unowned.size === 0) return restored
    const owners = new Map<string, Cluster>()
    for (const [c, s] of made) {
      for (const id of [c.patternId, ...c.aliases]) {
        if (!unowned.has(id)) continue
        if (!s.unowned?.includes(id)) owners.set(id, c)
        else if (this.#owners.get(id) === c) this.#owners.delete(id)
      }
    }
    for (const [id, c] of owners) if (!c.dead) this.#owners.set(id, c)
    return restored
  }

  #typedKey(message: string): TypedKey {
    const cacheable = message.length > 0 && message.length <= TYPED_CACHE_MAX_CHARS
    const slot = cacheable ? typedSlot(message) : -1
    const cached = cacheable ? this.#typedCache[slot] : undefined
    if (cached?.message === message) return cached
    const typed = this.type(message)
    const made = { message, typed, key: typed.words.join(' ') }
    if (cacheable) this.#typedCache[slot] = made
    return made
  }

  #view(c: Cluster, change: TemplateChange, merged: readonly string[]): TemplateMatch {
    return { patternId: c.patternId, template: c.template, change, merged, cluster: c }
  }

  /** Changes to the clusters a message of `n` words may fit (n or n + 1 tokens): counters only grow, so the sum changes with either. */
  #stamp(n: number): number {
    return this.#shapes[n]! + this.#shapes[n + 1]!
  }

  // Notes a change to the clusters of `length` tokens (one with slots made, removed or widened, or
  // any restored). A cluster without slots fits only messages of its very words: when add makes
  // one, the memo's entry for them is made anew, and when it is removed, the entry names a dead
  // cluster; so making one costs the memo nothing (a fifth of the lines making new groups once
  // made the rest 11 % slower, each finding its group again).
  #reshape(length: number): void {
    this.#shapes[Math.min(length, MAX_WORDS + 1)]!++
  }

  #remember(key: string, cluster: Cluster, stamp: number, gaps: string | undefined): void {
    if (this.#memo.size >= this.#maxClusters * 4) {
      let drop = this.#memo.size >> 3
      for (const k of this.#memo.keys()) {
        this.#memo.delete(k)
        if (--drop <= 0) break
      }
    }
    this.#memo.set(key, { cluster, stamp, gaps })
  }

  /** The cluster with exactly these tokens (slots included), if any. */
  #exact(tokens: readonly string[]): Cluster | undefined {
    for (const c of this.#byEdge.get(edgeKeys(tokens)[0]) ?? []) {
      if (c.tokens.every((t, i) => t === tokens[i])) return c
    }
    return undefined
  }

  // Candidates: clusters with the message's word count (a slot taking one word) or one more (a
  // slot taking a gap, i.e. a parameter that happened to have a digit), sharing the first or the
  // last word with it or having a slot there, or sharing the word that a cluster starting with
  // slots is indexed by (see edgeKeys: at that place, or one before when a slot takes a gap); and,
  // to join by a slot (`joining`), clusters ending with slots sharing the word they are indexed by.
  // Those places are few (the places in use, per word count), so a message looks up a handful of
  // keys however many such clusters there are.
  // A list rather than a generator: every caller reads them all, and resuming a generator for
  // each candidate cost more than the comparison it yields to (~1.5 µs a message on the
  // benchmark's records, where many clusters share a first word).
  #candidates(n: number, words: readonly string[], joining = false): Cluster[] {
    const mark = ++this.#scan
    const first = words[0] ?? ''
    const last = words[n - 1] ?? ''
    const out: Cluster[] = []
    for (const len of [n, n + 1]) {
      for (const key of [`${len}|<${first}`, `${len}|<${SLOT}`, `${len}|>${last}`, `${len}|>${SLOT}`]) this.#collect(key, mark, out)
    }
    if (this.#places.size === 0) return out
    for (const p of this.#places.get(`${n}|(`)?.keys() ?? []) if (p < n) this.#collect(`${n}|(${p}|${words[p]!}`, mark, out)
    for (const p of this.#places.get(`${n + 1}|(`)?.keys() ?? []) {
      this.#collect(`${n + 1}|(${p}|${words[p - 1]!}`, mark, out)
      if (p < n) this.#collect(`${n + 1}|(${p}|${words[p]!}`, mark, out)
    }
    if (joining) for (const r of this.#places.get(`${n}|)`)?.keys() ?? []) if (r < n) this.#collect(`${n}|)${r}|${words[n - 1 - r]!}`, mark, out)
    return out
  }

  #collect(key: string, mark: number, out: Cluster[]): void {
    const set = this.#byEdge.get(key)
    if (!set) return
    for (const c of set) {
      if (c.seen === mark) continue
      c.seen = mark
      out.push(c)
    }
  }

  /** The best cluster the message fits as it is: the fewest slots used (most specific), then the largest. */
  #find(typed: Typed): Cluster | undefined {
    let best: Cluster | undefined
    let bestSlots = Number.POSITIVE_INFINITY
    let tie = false
    const n = typed.words.length
    this.#gapped = false
    for (const c of this.#candidates(n, typed.words)) {
      if (c.tokens.length > n && !this.#gapped && c.tokens.includes(SLOT)) this.#gapped = true
      if (!fits(c.tokens, typed)) continue
      let slots = 0
      for (const t of c.tokens) if (t === SLOT) slots++
      if (slots === bestSlots) tie = true
      else if (slots < bestSlots) tie = false
      if (slots < bestSlots || (slots === bestSlots && best && c.size > best.size)) {
        best = c
        bestSlots = slots
      }
    }
    this.#sure = !tie
    return best
  }

  /** Adds the message's gaps to the cluster's (same word count only); true when the template changed. */
  #absorbGaps(c: Cluster, typed: Typed): boolean {
    if (typed.words.length !== c.tokens.length) return false
    let changed = false
    for (let i = 0; i < typed.gaps.length; i++) {
      const g = typed.gaps[i]
      if (g === null || g === undefined) continue
      const had = c.gaps[i]
      if (had === g || had === WILDCARD) continue
      c.gaps[i] = had === null || had === undefined ? g : WILDCARD
      changed = true
    }
    if (changed) this.#retemplate(c)
    return changed
  }

  #retemplate(c: Cluster): void {
    const template = templateText(c.tokens, c.gaps)
    if (template === c.template) return
    c.template = template
    c.unchanged = undefined
    this.#revision++
  }

  // Clusters agreeing with the message on every word but one position, that position static in
  // all of them: with the message, enough distinct words there make it a slot.
  #generalize(typed: Typed): { cluster: Cluster; ids: string[] } | undefined {
    const w = typed.words
    const n = w.length
    // By the place they differ at, and by the places of their slots: groups join only groups with
    // their slots at the same places, which the merged group keeps, so it covers each of its parts
    // and forces no part's slot on the others ("Server <*>" and "First is <HEX>" are two events,
    // and one "<*> <*>" would take every message of two words).
    const byPlace = new Map<string | number, { position: number; clusters: Cluster[] }>()
    for (const c of this.#candidates(n, w, true)) {
      if (c.tokens.length !== n) continue
      let diff = -1
      let slots = ''
      for (let i = 0; i < n; i++) {
        const t = c.tokens[i]
        if (t === SLOT) {
          slots += `|${i}`
          continue
        }
        if (t === w[i]) continue
        if (diff >= 0) {
          diff = -2
          break
        }
        diff = i
      }
      if (diff < 0) continue
      const key = slots === '' ? diff : `${diff}${slots}`
      const group = byPlace.get(key)
      if (group) group.clusters.push(c)
      else byPlace.set(key, { position: diff, clusters: [c] })
    }
    let pick: { position: number; clusters: Cluster[] } | undefined
    for (const group of byPlace.values()) {
      const { position, clusters } = group
      if (!this.#isParameter(clusters)) continue
      if (!pick || clusters.length > pick.clusters.length || (clusters.length === pick.clusters.length && position < pick.position)) pick = group
    }
    if (!pick) return undefined
    const tokens = w.slice()
    const like = pick.clusters[0]!.tokens
    for (let i = 0; i < n; i++) if (i === pick.position || like[i] === SLOT) tokens[i] = SLOT
    return this.#merge(tokens, typed, pick.clusters)
  }

  // Words at one place, each with its cluster, and the message's (one line so far). A parameter
  // takes many values, most of them rare (user names); an event type takes few, each common (GET,
  // POST, DELETE): values seen on more than FREQUENT_LINES lines count only once twice as many
  // values as needed are known.
  #isParameter(clusters: readonly Cluster[]): boolean {
    const values = clusters.length + 1
    if (values < this.#minDistinct) return false
    let rare = 1
    for (const c of clusters) if (c.size <= FREQUENT_LINES) rare++
    return rare >= this.#minDistinct || values >= 2 * this.#minDistinct - 1
  }

  // Too many groups share the message's word count and first word: the words vary freely (text,
  // not an event type), so similarity decides, as in Drain.
  #flooded(typed: Typed): { cluster: Cluster; ids: string[] } | undefined {
    const w = typed.words
    const n = w.length
    const bucket = this.#byEdge.get(`${n}|<${w[0] ?? ''}`)
    if (!bucket || bucket.size < FLOOD_GROUPS) return undefined
    let best: Cluster | undefined
    let bestSame = -1
    for (const c of bucket) {
      let same = 0
      for (let i = 0; i < n; i++) if (c.tokens[i] === w[i] || c.tokens[i] === SLOT) same++
      if (same > bestSame || (same === bestSame && best && c.size > best.size)) {
        best = c
        bestSame = same
      }
    }
    if (!best || bestSame < FLOOD_SIMILARITY * n) return undefined
    // The group keeps its id and gains slots: free text would otherwise found a new id (and
    // re-list every older one as an alias) at each message that widens it.
    const tokens = best.tokens.map((t, i) => (t === w[i] ? t : SLOT))
    this.#reshape(n)
    this.#unindex(best)
    best.tokens = tokens
    this.#index(best)
    mergeGaps(best.gaps, typed.gaps)
    best.size++
    best.lastUsed = this.#clock
    best.unchanged = undefined
    this.#retemplate(best)
    this.#revision++
    return { cluster: best, ids: [] }
  }

  /** Merges clusters into one with `tokens`; their ids (and aliases) become the new cluster's aliases. */
  #merge(tokens: string[], typed: Typed, candidates: readonly Cluster[]): { cluster: Cluster; ids: string[] } {
    const gaps = typed.gaps.slice()
    let size = 1
    const ids: string[] = []
    // The new skeleton may be known already, or its id already merged into a group that covers it.
    let existing = this.#exact(tokens) ?? this.#owners.get(patternIdOf(skeletonText(tokens)))
    if (existing && (existing.dead || !fits(existing.tokens, { words: tokens, gaps: typed.gaps }))) existing = undefined
    const parts = candidates.filter((c) => c !== existing)
    for (const p of parts) {
      mergeGaps(gaps, p.gaps)
      size += p.size
      ids.push(p.patternId, ...p.aliases)
    }
    // Clusters one word shorter whose parameter gap sits where the slot is are the same event.
    const shorter = this.#gapTwins(tokens).filter((c) => c !== existing)
    for (const p of shorter) {
      size += p.size
      ids.push(p.patternId, ...p.aliases)
    }
    const target = existing ?? this.#create(tokens, gaps, 0, [])
    if (existing) mergeGaps(existing.gaps, gaps)
    target.size += size
    target.lastUsed = this.#clock
    const merged = [...parts, ...shorter]
    for (const p of merged) this.#remove(p, target)
    const known = new Set([target.patternId, ...target.aliases])
    let fresh: string[] = []
    for (const id of ids) {
      if (known.has(id)) continue
      known.add(id)
      fresh.push(id)
    }
    // Past the bound the parts' own ids go first: records are stored under them.
    if (fresh.length > MAX_ALIASES) fresh = [...new Set([...merged.map((p) => p.patternId).filter((id) => fresh.includes(id)), ...fresh])].slice(0, MAX_ALIASES)
    this.#addAliases(target, fresh)
    // An id the target listed already may have named a part since (a group made again after its
    // id was merged away); one cut by the bound names no group.
    for (const id of ids) {
      if (!this.#owners.get(id)?.dead) continue
      if (target.aliases.includes(id)) this.#owners.set(id, target)
      else this.#owners.delete(id)
    }
    this.#retemplate(target)
    this.#revision++
    return { cluster: target, ids: fresh }
  }

  /** Adds ids to a cluster's aliases, dropping the oldest beyond MAX_ALIASES. */
  #addAliases(c: Cluster, ids: readonly string[]): void {
    c.aliases.push(...ids)
    for (const id of ids) this.#owners.set(id, c)
    if (c.aliases.length <= MAX_ALIASES) return
    for (const id of c.aliases.splice(0, c.aliases.length - MAX_ALIASES)) if (this.#owners.get(id) === c) this.#owners.delete(id)
  }

  #gapTwins(tokens: readonly string[]): Cluster[] {
    const out: Cluster[] = []
    const n = tokens.length - 1
    if (n < 0) return out
    const words = tokens.filter((t) => t !== SLOT)
    for (const c of this.#candidates(n, words.length === n ? words : tokens)) {
      if (c.tokens.length !== n || c.tokens.includes(SLOT)) continue
      if (fits(tokens, { words: c.tokens, gaps: c.gaps })) out.push(c)
    }
    return out
  }

  /** A new cluster, or a restored one with its id (a group widened by similarity keeps its first, see #flooded) and recency. */
  #create(tokens: string[], gaps: (string | null)[], size: number, aliases: string[], restored?: { id: string; used: number }): Cluster {
    const cluster: Cluster = {
      patternId: restored?.id ?? patternIdOf(skeletonText(tokens)),
      template: templateText(tokens, gaps),
      size,
      aliases,
      tokens,
      gaps,
      lastUsed: restored?.used ?? this.#clock,
      indexed: 0,
      dead: false,
      seen: 0,
      unchanged: undefined,
    }
    this.#clusters.add(cluster)
    if (restored || tokens.includes(SLOT)) this.#reshape(tokens.length)
    for (const id of [cluster.patternId, ...aliases]) this.#owners.set(id, cluster)
    this.#index(cluster)
    this.#revision++
    if (this.#clusters.size > this.#maxClusters) this.#evict()
    return cluster
  }

  #remove(c: Cluster, into?: Cluster): void {
    if (c.dead) return
    c.dead = true
    if (c.tokens.includes(SLOT)) this.#reshape(c.tokens.length)
    this.#clusters.delete(c)
    if (!into) for (const id of [c.patternId, ...c.aliases]) if (this.#owners.get(id) === c) this.#owners.delete(id)
    this.#unindex(c)
  }

  #index(c: Cluster): void {
    c.indexed = ++this.#indexings
    for (const key of edgeKeys(c.tokens)) {
      const set = this.#byEdge.get(key)
      if (set?.has(c)) continue
      if (set) set.add(c)
      else this.#byEdge.set(key, new Set([c]))
      this.#countPlace(key, 1)
    }
  }

  /** Counts the clusters under each inner key's place (see edgeKeys), for #candidates to look up. */
  #countPlace(key: string, by: 1 | -1): void {
    const place = innerPlace(key)
    if (place < 0) return
    const group = key.slice(0, key.indexOf('|') + 2)
    let counts = this.#places.get(group)
    if (!counts) this.#places.set(group, (counts = new Map()))
    const had = counts.get(place) ?? 0
    const count = had + by
    if (count <= 0) counts.delete(place)
    else if (had > 0 || place > Math.max(-1, ...counts.keys())) counts.set(place, count)
    else {
      // Places in ascending order, not in the order they came: #candidates reads them so, and
      // the order decides between equally good clusters, which a restored miner must decide alike.
      const sorted = [...counts, [place, count] as const].sort((a, b) => a[0] - b[0])
      counts.clear()
      for (const [p, k] of sorted) counts.set(p, k)
    }
    if (counts.size === 0) this.#places.delete(group)
  }

  #unindex(c: Cluster): void {
    for (const key of edgeKeys(c.tokens)) {
      const set = this.#byEdge.get(key)
      if (!set?.delete(c)) continue
      this.#countPlace(key, -1)
      if (set.size === 0) this.#byEdge.delete(key)
    }
  }

  // Eviction drops the least recently used tenth at once, so the hot path only bumps a counter.
  #evict(): void {
    const byAge = [...this.#clusters].sort((a, b) => a.lastUsed - b.lastUsed)
    const count = Math.max(1, Math.floor(this.#maxClusters / 10))
    for (const c of byAge.slice(0, count)) this.#remove(c)
  }
}

/**
 * Whether the message fits a cluster's tokens: its words equal the cluster's, a slot taking one word
 * or (when the message has one word fewer) the parameter gap at that place.
 */
function fits(t: readonly string[], typed: Typed): boolean {
  const w = typed.words
  let spare = t.length - w.length
  if (spare !== 0 && spare !== 1) return false
  let j = 0
  for (let i = 0; i < t.length; i++) {
    const token = t[i]
    if (token === SLOT) {
      if (spare > 0 && typed.gaps[j] !== null) {
        spare--
        continue
      }
      if (j >= w.length) return false
      j++
      continue
    }
    if (w[j] !== token) return false
    j++
  }
  return j === w.length && spare === 0
}

// Index keys: word count and first word, word count and last word ('<' and '>'). A cluster that
// starts with slots is not kept under "first word: slot", which every message of its length scans
// (with 40 000 "<*> a b c" groups, each 4-word line cost 2.4 ms), but under its first word
// and that word's place ('(' and the place), when its other key names another place; likewise a
// cluster that ends with slots goes under its last word and that word's place from the end (')').
// A message fits a cluster only if it has the word its first key names at that place (or one
// before, a slot before it taking a gap), and joins it by a slot (one place differing) only if it
// has the word either key names. Clusters with one word or none stay under the slot.
function edgeKeys(tokens: readonly string[]): [string, string] {
  const n = tokens.length
  const first = tokens[0] ?? ''
  const last = tokens[n - 1] ?? ''
  let head = 0
  while (head < n && tokens[head] === SLOT) head++
  let tail = n - 1
  while (tail >= 0 && tokens[tail] === SLOT) tail--
  const apart = head < tail
  return [
    first !== SLOT ? `${n}|<${first}` : apart ? `${n}|(${head}|${tokens[head]!}` : `${n}|<${SLOT}`,
    last !== SLOT ? `${n}|>${last}` : apart ? `${n}|)${n - 1 - tail}|${tokens[tail]!}` : `${n}|>${SLOT}`,
  ]
}

/** The place an inner key ('(' or ')', see edgeKeys) names, or -1. */
function innerPlace(key: string): number {
  const bar = key.indexOf('|')
  const kind = key.charCodeAt(bar + 1)
  if (kind !== 40 /* ( */ && kind !== 41 /* ) */) return -1
  return Number(key.slice(bar + 2, key.indexOf('|', bar + 2)))
}

function mergeGaps(into: (string | null)[], from: readonly (string | null)[]): void {
  if (into.length !== from.length) return
  for (let i = 0; i < from.length; i++) {
    const g = from[i] ?? null
    const had = into[i] ?? null
    if (g === null || had === g) continue
    into[i] = had === null ? g : WILDCARD
  }
}

/** The template: words, `<*>` for slots, each gap's text; adjacent wildcards written once. */
export function templateText(tokens: readonly string[], gaps: readonly (string | null)[]): string {
  const out: string[] = []
  const push = (s: string): void => {
    if (s === WILDCARD && out[out.length - 1] === WILDCARD) return
    out.push(s)
  }
  for (let i = 0; i < tokens.length; i++) {
    const g = gaps[i]
    if (g !== null && g !== undefined) push(g)
    const t = tokens[i]!
    push(t === SLOT ? WILDCARD : t)
  }
  const tail = gaps[tokens.length]
  if (tail !== null && tail !== undefined) push(tail)
  return out.join(' ')
}
