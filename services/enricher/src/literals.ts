// A literal prefilter for regexes, after RE2's FilteredRE2 / Russ Cox's trigram index: from each
// regex, the strings of which every match must contain at least one; then one Aho–Corasick pass
// over a text tells which regexes can possibly match it, and only those run. Most log lines match
// no classification rule, and one linear scan over the line costs a fraction of V8 trying every
// rule's alternation at every position.
//
// Soundness is the contract: a regex left out by the scan cannot match the text. Anything the
// analysis does not understand (classes of more than a few characters, `.`, `\w`, optional or
// repeated parts it cannot spell out, backreferences) only widens the result, down to "no
// literal known", and such a regex is always run.
import { RegExpParser } from '@eslint-community/regexpp'
import type { AST } from '@eslint-community/regexpp'

/** What a node can match: exactly one of `exact`, or (`exact` undefined) something containing one of `any` (null: unknown). */
interface Info {
  exact?: ReadonlySet<string>
  any: ReadonlySet<string> | null
}

const UNKNOWN: Info = { any: null }
const EMPTY: Info = { exact: new Set(['']), any: null }
/** Exact sets grow by cross product; past this they become a required-substring candidate instead. */
const MAX_EXACT = 64
const MAX_CLASS = 4
/** Shorter literals would pass most text, so a regex whose literals are shorter is always run. */
export const MIN_LITERAL = 3

const exact = (strings: Iterable<string>): Info => ({ exact: new Set(strings), any: null })
const shortest = (set: ReadonlySet<string>): number => Math.min(...[...set].map((s) => s.length))

/** The more selective of two required sets: the longer shortest literal, then the fewer literals. */
function better(a: ReadonlySet<string> | null, b: ReadonlySet<string> | null): ReadonlySet<string> | null {
  if (a === null || shortest(a) === 0) return b
  if (b === null || shortest(b) === 0) return a
  const la = shortest(a)
  const lb = shortest(b)
  return la !== lb ? (la > lb ? a : b) : a.size <= b.size ? a : b
}

/** The required set of a node: its exact strings, or its `any`. */
const required = (i: Info): ReadonlySet<string> | null => i.exact ?? i.any

function sequence(elements: readonly AST.Element[]): Info {
  let current: Set<string> | undefined = new Set([''])
  let best: ReadonlySet<string> | null = null
  for (const el of elements) {
    const info = element(el)
    if (info.exact && current && current.size * info.exact.size <= MAX_EXACT) {
      const next = new Set<string>()
      for (const a of current) for (const b of info.exact) next.add(a + b)
      current = next
      continue
    }
    // The exact run ends here: what it spelled out is one required candidate, this element another.
    if (current) best = better(best, current)
    best = better(best, required(info))
    current = info.exact ? new Set(info.exact) : undefined
  }
  if (current && best === null) return exact(current)
  return { any: current ? better(best, current) : best }
}

function alternatives(alts: readonly AST.Alternative[]): Info {
  const infos = alts.map((a) => sequence(a.elements))
  if (infos.every((i) => i.exact)) {
    const union = new Set(infos.flatMap((i) => [...i.exact!]))
    if (union.size <= MAX_EXACT) return exact(union)
  }
  // Every branch must contribute a literal, or the whole has none.
  const any = new Set<string>()
  for (const i of infos) {
    const r = required(i)
    if (r === null || shortest(r) === 0) return UNKNOWN
    for (const s of r) any.add(s)
  }
  return { any }
}

function characterClass(c: AST.CharacterClass): Info {
  if (c.negate || c.elements.length > MAX_CLASS) return UNKNOWN
  const chars: string[] = []
  for (const e of c.elements) {
    if (e.type !== 'Character') return UNKNOWN
    chars.push(String.fromCharCode(e.value))
  }
  return exact(chars)
}

function quantifier(q: AST.Quantifier): Info {
  const inner = element(q.element)
  if (q.min === 0) return q.max === 1 && inner.exact ? exact([...inner.exact, '']) : UNKNOWN
  if (inner.exact && q.min === q.max && inner.exact.size ** q.min <= MAX_EXACT) {
    return sequence(Array.from({ length: q.min }, () => q.element))
  }
  // At least one repetition: whatever one repetition requires.
  return { any: required(inner) }
}

function element(el: AST.Element): Info {
  switch (el.type) {
    case 'Character':
      return exact([String.fromCharCode(el.value)])
    case 'CharacterClass':
      return characterClass(el)
    case 'Assertion':
      // Zero-width: ^ $ \b \B and look-arounds add nothing to the matched text.
      return EMPTY
    case 'Group':
    case 'CapturingGroup':
      return alternatives(el.alternatives)
    case 'Quantifier':
      return quantifier(el)
    default:
      // `.`, \d \w \s, backreferences, class expressions: unknown.
      return UNKNOWN
  }
}

const parser = new RegExpParser({ ecmaVersion: 2025 })

/**
 * Strings of which every match of `source` (compiled without flags) contains at least one, each
 * at least MIN_LITERAL long; undefined when no such set is known.
 */
export function requiredLiterals(source: string): string[] | undefined {
  let pattern: AST.Pattern
  try {
    pattern = parser.parsePattern(source, 0, source.length, { unicode: false })
  } catch {
    return undefined
  }
  const set = required(alternatives(pattern.alternatives))
  if (set === null || shortest(set) < MIN_LITERAL) return undefined
  return [...set]
}

/**
 * An Aho–Corasick automaton over several groups of literals; `scan(text)` marks every group with
 * a literal in `text`, in one pass. Characters that occur in no literal share one class, so the
 * transition table stays small; it is a full DFA (failure links folded in), one lookup a character.
 */
export class LiteralScanner {
  readonly #classOf = new Map<number, number>()
  readonly #ascii: Uint16Array
  readonly #classes: number
  /** Per state and character class: the next state's row, negated when that state reports groups. */
  readonly #next: Int32Array
  /** Groups each state reports: out[state] … as offsets into #outGroups. */
  readonly #outStart: Int32Array
  readonly #outGroups: Int32Array
  readonly #marks: Uint32Array
  #stamp = 0

  constructor(groups: readonly (readonly string[])[]) {
    for (const lit of groups.flat()) for (let i = 0; i < lit.length; i++) if (!this.#classOf.has(lit.charCodeAt(i))) this.#classOf.set(lit.charCodeAt(i), this.#classOf.size + 1)
    this.#classes = this.#classOf.size + 1
    this.#ascii = new Uint16Array(128)
    for (const [c, k] of this.#classOf) if (c < 128) this.#ascii[c] = k

    // The trie, then breadth-first failure links folded into a full transition table.
    const edges: Map<number, number>[] = [new Map()]
    const outs: Set<number>[] = [new Set()]
    groups.forEach((lits, g) => {
      for (const lit of lits) {
        let s = 0
        for (let i = 0; i < lit.length; i++) {
          const k = this.#classOf.get(lit.charCodeAt(i))!
          let t = edges[s]!.get(k)
          if (t === undefined) {
            t = edges.length
            edges.push(new Map())
            outs.push(new Set())
            edges[s]!.set(k, t)
          }
          s = t
        }
        outs[s]!.add(g)
      }
    })
    // Entries are the target state's row offset (state × classes), bitwise-negated when the
    // target reports groups: the scan then needs one lookup a character and no multiplication.
    const n = edges.length
    const classes = this.#classes
    const target = new Int32Array(n * classes)
    const fail = new Int32Array(n)
    const queue: number[] = []
    for (let k = 0; k < classes; k++) {
      const t = edges[0]!.get(k) ?? 0
      target[k] = t
      if (t !== 0) queue.push(t)
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!
      for (const g of outs[fail[s]!]!) outs[s]!.add(g)
      for (let k = 0; k < classes; k++) {
        const t = edges[s]!.get(k)
        if (t === undefined) target[s * classes + k] = target[fail[s]! * classes + k]!
        else {
          target[s * classes + k] = t
          fail[t] = target[fail[s]! * classes + k]!
          queue.push(t)
        }
      }
    }
    this.#next = target.map((t) => (outs[t]!.size > 0 ? ~(t * classes) : t * classes))
    this.#outStart = new Int32Array(n + 1)
    const flat: number[] = []
    for (let s = 0; s < n; s++) {
      this.#outStart[s] = flat.length
      flat.push(...outs[s]!)
    }
    this.#outStart[n] = flat.length
    this.#outGroups = Int32Array.from(flat)
    this.#marks = new Uint32Array(groups.length)
  }

  /** Marks the groups with a literal in `text`; read them with `found` until the next scan. */
  scan(text: string): void {
    if (++this.#stamp === 0x1_0000_0000) {
      this.#marks.fill(0)
      this.#stamp = 1
    }
    const ascii = this.#ascii
    const classOf = this.#classOf
    const next = this.#next
    let row = 0
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      const t = next[row + (c < 128 ? ascii[c]! : (classOf.get(c) ?? 0))]!
      if (t >= 0) row = t
      else {
        row = ~t
        this.#mark(row / this.#classes)
      }
    }
  }

  #mark(state: number): void {
    for (let o = this.#outStart[state]!; o < this.#outStart[state + 1]!; o++) this.#marks[this.#outGroups[o]!] = this.#stamp
  }

  /** Whether group `g` had a literal in the last scanned text. */
  found(g: number): boolean {
    return this.#marks[g] === this.#stamp
  }
}
