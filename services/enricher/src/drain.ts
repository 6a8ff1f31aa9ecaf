// Drain log-template mining (He, Zhu, Zheng, Lyu: "Drain: An Online Log Parsing Approach with
// Fixed Depth Tree", ICWS 2017). A message is masked, split into tokens and routed through a
// fixed-depth tree — first by token count, then by its leading tokens (tokens with digits go to
// the wildcard branch) — to a leaf holding a few clusters. The most similar cluster (share of
// equal non-wildcard tokens) above the threshold absorbs the message, and positions that differ
// become `<*>`; otherwise the message founds a new cluster. Routing and scoring follow the
// logpai reference so the Loghub benchmark settings carry over unchanged. Two departures:
// messages shorter than the tree's prefix are attached to a leaf (logpai never attached them, so
// each made a new cluster), and runs of `<*>` are written as one in the template text.
//
// Ids. Templates evolve as clusters generalise, so there are two ids, both 16 hex chars of a
// SHA-1 and both pure functions of text (no coordination between instances):
//   patternId  hash of the cluster's current template. Two instances (or one after a restart)
//              holding the same template agree on it; it changes only when the template gains a
//              wildcard, which happens at most once per token position, early in a cluster's life.
//              It always matches the template written beside it. This is the `pattern_id`.
//   clusterId  hash of the template the cluster was created with: never changes for the life of
//              the cluster, so it groups everything the cluster absorbed. It survives restarts
//              through snapshot()/restore() (e.g. kept in a compacted topic).
import { createHash } from 'node:crypto'
import { compileMasks, DEFAULT_MASKS } from './masking.js'
import type { MaskRule, Masker } from './masking.js'

export const WILDCARD = '<*>'

export interface DrainOptions {
  /** Leaf depth as in the paper and logpai: root, length layer, depth−3 token layers, leaf. ≥ 3. */
  depth?: number
  /** Minimum share of equal tokens for a message to join a cluster, 0..1. */
  similarityThreshold?: number
  /** Children per tree node before new tokens share the wildcard branch. */
  maxChildren?: number
  /** Bound on clusters kept; the least recently used tenth is evicted when it is exceeded. */
  maxClusters?: number
  masks?: readonly MaskRule[]
  /** Characters split on besides whitespace (drain3's extra_delimiters), e.g. ['=', ','] . */
  extraDelimiters?: readonly string[]
  /**
   * Writes runs of wildcards as one `<*>` in the template text (and so in its id), so lists of
   * varying length ("delete blk_1 blk_2 …") share a pattern. Default true.
   */
  collapseWildcardRuns?: boolean
}

export const TEMPLATE_CHANGES = ['created', 'generalized', 'none'] as const
export type TemplateChange = (typeof TEMPLATE_CHANGES)[number]

/** A cluster as callers see it. Live: its template and patternId follow later generalisation. */
export interface TemplateCluster {
  readonly clusterId: string
  readonly patternId: string
  readonly template: string
  /** Messages the cluster has absorbed so far. */
  readonly size: number
}

/** The outcome of one message: the cluster's ids and template at that moment. */
export interface TemplateMatch {
  patternId: string
  clusterId: string
  template: string
  change: TemplateChange
  cluster: TemplateCluster
}

export interface DrainSnapshot {
  version: 1
  /** Tokens, not template text: the text may have collapsed wildcard runs. */
  clusters: { clusterId: string; tokens: string[]; size: number }[]
}

interface Cluster extends TemplateCluster {
  tokens: string[]
  template: string
  patternId: string
  clusterId: string
  size: number
  lastUsed: number
  /** The leaf list holding this cluster, so eviction needs no tree walk. */
  leaf: Cluster[]
}

interface TreeNode {
  children: Map<string, TreeNode>
  clusters: Cluster[]
}

/** 16 hex chars of the SHA-1 of a template: the stable id of that template text. */
export function patternIdOf(template: string): string {
  return createHash('sha1').update(template).digest('hex').slice(0, 16)
}

const WHITESPACE = /\s+/
const WILDCARD_RUN = /<\*>(?: <\*>)+/g
const newNode = (): TreeNode => ({ children: new Map(), clusters: [] })

function hasDigit(token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c >= 48 && c <= 57) return true
  }
  return false
}

export class Drain {
  readonly #prefixLayers: number
  readonly #threshold: number
  readonly #maxChildren: number
  readonly #maxClusters: number
  readonly #mask: Masker
  readonly #delimiters: readonly string[]
  readonly #collapse: boolean
  readonly #root = new Map<number, TreeNode>()
  readonly #clusters = new Set<Cluster>()
  #clock = 0
  #revision = 0

  constructor(options: DrainOptions = {}) {
    const depth = options.depth ?? 4
    if (!Number.isInteger(depth) || depth < 3) throw new RangeError(`depth must be an integer ≥ 3, got ${depth}`)
    this.#prefixLayers = depth - 3
    this.#threshold = options.similarityThreshold ?? 0.4
    this.#maxChildren = Math.max(2, options.maxChildren ?? 100)
    this.#maxClusters = Math.max(1, options.maxClusters ?? 50_000)
    this.#mask = compileMasks(options.masks ?? DEFAULT_MASKS)
    this.#delimiters = options.extraDelimiters ?? []
    this.#collapse = options.collapseWildcardRuns ?? true
  }

  get clusterCount(): number {
    return this.#clusters.size
  }

  /** Masked tokens of a message, as the tree sees them. */
  tokenize(message: string): string[] {
    let s = this.#mask(message)
    for (const d of this.#delimiters) s = s.replaceAll(d, ' ')
    s = s.trim()
    return s === '' ? [] : s.split(WHITESPACE)
  }

  /** Learns from `message` and returns its cluster's template and ids. */
  add(message: string): TemplateMatch {
    const tokens = this.tokenize(message)
    const cluster = this.#search(tokens)
    this.#clock++
    if (!cluster) return this.#view(this.#create(tokens, 1), 'created')
    cluster.size++
    cluster.lastUsed = this.#clock
    const merged = mergeTokens(cluster.tokens, tokens)
    if (merged === cluster.tokens) return this.#view(cluster, 'none')
    cluster.tokens = merged
    const template = this.#text(merged)
    if (template === cluster.template) return this.#view(cluster, 'none')
    cluster.template = template
    cluster.patternId = patternIdOf(template)
    this.#revision++
    return this.#view(cluster, 'generalized')
  }

  /** Finds the cluster `message` would join, without learning. */
  match(message: string): TemplateMatch | undefined {
    const cluster = this.#search(this.tokenize(message))
    return cluster && this.#view(cluster, 'none')
  }

  /** Counts template changes (clusters created or generalised): unchanged means nothing new to persist. */
  get revision(): number {
    return this.#revision
  }

  /** Cluster state to persist, the most recently used first (at most `maxClusters`); restore() rebuilds the tree from it. */
  snapshot(maxClusters = Number.POSITIVE_INFINITY): DrainSnapshot {
    const clusters = [...this.#clusters].sort((a, b) => b.lastUsed - a.lastUsed).slice(0, maxClusters)
    return { version: 1, clusters: clusters.map((c) => ({ clusterId: c.clusterId, tokens: [...c.tokens], size: c.size })) }
  }

  restore(snapshot: DrainSnapshot): void {
    for (const c of snapshot.clusters) this.#create([...c.tokens], c.size).clusterId = c.clusterId
  }

  #view(c: Cluster, change: TemplateChange): TemplateMatch {
    return { patternId: c.patternId, clusterId: c.clusterId, template: c.template, change, cluster: c }
  }

  #text(tokens: readonly string[]): string {
    const joined = tokens.join(' ')
    return this.#collapse ? joined.replace(WILDCARD_RUN, WILDCARD) : joined
  }

  #create(tokens: string[], size: number): Cluster {
    const template = this.#text(tokens)
    const patternId = patternIdOf(template)
    const cluster: Cluster = { tokens, template, patternId, clusterId: patternId, size, lastUsed: this.#clock, leaf: [] }
    this.#insert(cluster)
    this.#clusters.add(cluster)
    this.#revision++
    if (this.#clusters.size > this.#maxClusters) this.#evict()
    return cluster
  }

  #search(tokens: readonly string[]): Cluster | undefined {
    let node = this.#root.get(tokens.length)
    if (!node) return undefined
    let layer = 0
    for (const token of tokens) {
      if (layer++ >= this.#prefixLayers) break
      const next: TreeNode | undefined = node.children.get(token) ?? node.children.get(WILDCARD)
      if (!next) return undefined
      node = next
    }
    return this.#bestMatch(node.clusters, tokens)
  }

  #insert(cluster: Cluster): void {
    const n = cluster.tokens.length
    let node = this.#root.get(n)
    if (!node) this.#root.set(n, (node = newNode()))
    let layer = 0
    for (const token of cluster.tokens) {
      if (layer++ >= this.#prefixLayers) break
      node = this.#child(node, token)
    }
    node.clusters.push(cluster)
    cluster.leaf = node.clusters
  }

  // Tokens with digits are likely parameters: they never get their own branch. A full node
  // sends new tokens to the wildcard branch so the tree cannot blow up on unmasked ids.
  #child(node: TreeNode, token: string): TreeNode {
    const existing = node.children.get(token)
    if (existing) return existing
    const wildcard = node.children.get(WILDCARD)
    const size = node.children.size
    let key = token
    if (hasDigit(token)) key = WILDCARD
    else if (wildcard ? size >= this.#maxChildren : size + 1 >= this.#maxChildren) key = WILDCARD
    if (key === WILDCARD && wildcard) return wildcard
    const child = newNode()
    node.children.set(key, child)
    return child
  }

  // Similarity = equal tokens / length, wildcards in the template not counting; ties go to the
  // cluster with more wildcards (the more general one), as in the reference implementation.
  #bestMatch(clusters: readonly Cluster[], tokens: readonly string[]): Cluster | undefined {
    let best: Cluster | undefined
    let bestSim = -1
    let bestParams = -1
    const n = tokens.length
    for (const c of clusters) {
      const t = c.tokens
      let same = 0
      let params = 0
      for (let i = 0; i < n; i++) {
        const a = t[i]
        if (a === WILDCARD) params++
        else if (a === tokens[i]) same++
      }
      const sim = n === 0 ? 1 : same / n
      if (sim > bestSim || (sim === bestSim && params > bestParams)) {
        best = c
        bestSim = sim
        bestParams = params
      }
    }
    return bestSim >= this.#threshold ? best : undefined
  }

  // Eviction drops the least recently used tenth at once, so the hot path only bumps a counter.
  #evict(): void {
    const byAge = [...this.#clusters].sort((a, b) => a.lastUsed - b.lastUsed)
    const count = Math.max(1, Math.floor(this.#maxClusters / 10))
    for (const c of byAge.slice(0, count)) {
      const i = c.leaf.indexOf(c)
      if (i >= 0) c.leaf.splice(i, 1)
      this.#clusters.delete(c)
    }
  }
}

/** The template absorbing `tokens`; the same array when nothing changes. */
function mergeTokens(template: string[], tokens: readonly string[]): string[] {
  let out = template
  for (let i = 0; i < template.length; i++) {
    const a = template[i]
    if (a !== WILDCARD && a !== tokens[i]) {
      if (out === template) out = template.slice()
      out[i] = WILDCARD
    }
  }
  return out
}
