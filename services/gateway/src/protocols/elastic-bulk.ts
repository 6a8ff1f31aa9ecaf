// Reads an Elasticsearch `_bulk` body into items, one per action, in the order the client sent
// them (the response answers item by item, and clients match answers to documents by position).
//
// Wire format: NDJSON, one action line per item, followed by one source line except for `delete`.
//   {"index":{"_index":"app-logs","_id":"a1"}}         ← action: index | create | update | delete
//   {"@timestamp":"2026-11-30T12:00:00Z","message":"…"} ← its source document
//   {"create":{}}                                       ← no _index: the path's, POST /app-logs/_bulk
//   {"message":"…"}
//   {"delete":{"_id":"a1"}}                             ← no source line
//   {"update":{"_id":"a1"}}                             ← source line {"doc":{…}}
//   {"doc":{"message":"…"}}
// Other action metadata (`routing`, `pipeline`, `_type` from older shippers, …) is ignored.
//
// Lines alternate strictly, as Elasticsearch reads them: the line after an index, create or update
// action is its source, whatever it looks like (a document {"index":{…}} is a document).
// Elasticsearch refuses the whole request when an action line is malformed. Here it is one item's
// error instead, so one bad line does not cost the rest of the request: the bad line and the line
// after it are taken as one item unless that next line is itself an action, which is where the
// parser picks up again (once a line was not an action, the alternation is lost anyway; this finds
// it again). Sluice stores logs append-only, so `update` and `delete` are refused per item.

import { ILL_FORMED as NOT_UNICODE, clipped } from '@sluice/core'

export const BULK_OPS = ['index', 'create', 'update', 'delete'] as const
export type BulkOp = (typeof BULK_OPS)[number]

/** Why Elasticsearch would refuse an item: its HTTP status, exception type and reason. */
export interface ItemError {
  status: number
  type: string
  reason: string
}

export interface BulkItem {
  op: BulkOp
  /** `_index` of the action, else the path's; null when neither names one. */
  index: string | null
  /** `_id` of the action, if any. */
  id: string | null
  /** The source document of an index or create action that can be stored. */
  doc?: Record<string, unknown>
  /** Set when the item cannot be stored, whatever its document says. */
  error?: ItemError
}

/** Longest `_id` accepted: it becomes the record id, which Sluice caps at 128 characters. */
const MAX_ID_LENGTH = 128
const MAX_INDEX_BYTES = 255
const INDEX_FORBIDDEN = /[\\/*?"<>| ,#:]/

/** What an error message repeats of a client's value at most, in characters. */
const MAX_SHOWN_CHARS = 200

/** `text` cut to a length fit for an error message (a 5 MB index name is not echoed three times). */
export function shown(text: string): string {
  return clipped(text, MAX_SHOWN_CHARS)
}

/** Why a text of the client's cannot be stored (@sluice/core's words), as a predicate. */
export const ILL_FORMED = `is ${NOT_UNICODE}`

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * What is wrong with an index name by Elasticsearch's rules (lowercase, no \ / * ? " < > | , # :
 * or space, not starting with _ - +, at most 255 bytes), or undefined when it is a valid name.
 * Date-math names (`<logs-{now/d}>`) are allowed only where `dateMath` says so: the index routes
 * answer them, but a document's index is stored as written and would keep the unresolved name.
 */
export function indexNameProblem(name: string, dateMath = false): string | undefined {
  if (dateMath && name.length > 2 && name.startsWith('<') && name.endsWith('>')) return undefined
  if (name === '') return 'must not be empty'
  if (!name.isWellFormed()) return 'must be valid Unicode (it has a lone surrogate)'
  if (name !== name.toLowerCase()) return 'must be lowercase'
  if (name === '.' || name === '..') return "must not be '.' or '..'"
  if (/^[-_+]/.test(name)) return "must not start with '_', '-', or '+'"
  const bad = INDEX_FORBIDDEN.exec(name)
  if (bad) return name.startsWith('<') ? 'date math index names are not resolved by Sluice: name the index' : `must not contain '${bad[0]}'`
  const bytes = Buffer.byteLength(name)
  if (bytes > MAX_INDEX_BYTES) return `index name is too long, (${bytes} > ${MAX_INDEX_BYTES})`
  return undefined
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string }

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) }
  }
}

/** The operation and metadata of a well-formed action line ({"<op>":{…}}), else undefined. */
type Action = { op: BulkOp; meta: Record<string, unknown> }

/** The parsed actions, by the object they were read from (an action line is parsed once, see parseBulk). */
const ACTIONS = new WeakMap<object, Action>()

function actionOf(p: Parsed): Action | undefined {
  if (!p.ok || !isPlainObject(p.value)) return undefined
  const v = p.value
  const known = ACTIONS.get(v)
  if (known) return known
  // One key, an operation: a document's first key is almost never one, so it is told apart
  // without listing all its keys.
  let op: BulkOp | undefined
  for (const k in v) {
    if (op !== undefined || !BULK_OPS.includes(k as BulkOp)) return undefined
    op = k as BulkOp
  }
  if (op === undefined) return undefined
  const meta = v[op]
  if (!isPlainObject(meta)) return undefined
  const action = { op, meta }
  ACTIONS.set(v, action)
  return action
}

const invalid = (type: string, reason: string): ItemError => ({ status: 400, type, reason })

/** Why a line that should be an action is not one. */
function malformed(p: Parsed, lineNo: number): ItemError {
  const at = `Malformed action/metadata line [${lineNo}]`
  if (!p.ok) return invalid('x_content_parse_exception', `${at}: ${p.message}`)
  const keys = isPlainObject(p.value) ? Object.keys(p.value) : []
  if (keys.length === 1 && !BULK_OPS.includes(keys[0] as BulkOp)) {
    return invalid('illegal_argument_exception', `${at}, expected one of [create, delete, index, update] but found [${shown(keys[0]!)}]`)
  }
  return invalid('illegal_argument_exception', `${at}, expected an object with one key, the action (create, delete, index or update), whose value is an object`)
}

/** The index and id an action names, or the error that keeps its item from being stored. */
function target(meta: Record<string, unknown>, pathIndex: string | undefined): Pick<BulkItem, 'index' | 'id' | 'error'> {
  const rawIndex = meta._index ?? pathIndex
  const rawId = meta._id ?? null
  const id = typeof rawId === 'string' ? rawId : typeof rawId === 'number' && Number.isFinite(rawId) ? String(rawId) : null
  const index = typeof rawIndex === 'string' ? rawIndex : null
  if (rawIndex === undefined) return { index, id, error: invalid('action_request_validation_exception', 'Validation Failed: 1: index is missing;') }
  if (index === null) return { index, id, error: invalid('illegal_argument_exception', '_index must be a string') }
  // A refused item's index and id are answered cut (shown): the answer repeats them.
  const problem = indexNameProblem(index)
  if (problem) return { index: shown(index), id: id === null ? null : shown(id), error: invalid('invalid_index_name_exception', `Invalid index name [${shown(index)}], ${problem}`) }
  if (rawId !== null && id === null) return { index, id, error: invalid('illegal_argument_exception', '_id must be a string') }
  if (id === '') return { index, id: null, error: invalid('illegal_argument_exception', 'if _id is specified it must not be empty') }
  if (id !== null && id.length > MAX_ID_LENGTH) return { index, id: shown(id), error: invalid('illegal_argument_exception', `id [${id.slice(0, 32)}…] is too long, must be no longer than ${MAX_ID_LENGTH} characters`) }
  if (id !== null && !id.isWellFormed()) return { index, id, error: invalid('illegal_argument_exception', `_id ${ILL_FORMED}`) }
  return { index, id }
}

/** The non-blank lines of a body: their text and 1-based line numbers (as Elasticsearch counts them). */
interface Lines {
  texts: string[]
  nos: number[]
}

function lines(body: string): Lines {
  const out: Lines = { texts: [], nos: [] }
  let no = 0
  for (let start = 0; start <= body.length; ) {
    let end = body.indexOf('\n', start)
    if (end === -1) end = body.length
    no++
    const text = body.slice(start, end).trim()
    start = end + 1
    if (text !== '') {
      out.texts.push(text)
      out.nos.push(no)
    }
  }
  return out
}

/**
 * The items of a bulk body; `pathIndex` is the index named by the path, if any. Lines numbered in
 * `invalidUtf8` (body.ts invalidUtf8Lines) are read as unparseable, as Elasticsearch's parser
 * refuses them.
 */
export function parseBulk(body: string, pathIndex?: string, invalidUtf8?: ReadonlySet<number>): BulkItem[] {
  const { texts, nos } = lines(body)
  const count = texts.length
  const parsed: Array<Parsed | undefined> = []
  // Shippers repeat one action line ({"create":{"_index":"logs"}}) before every document: it is
  // parsed once (the parsed action is only read). Comparing with the last one costs a length check
  // for a document line.
  let lastAction: { text: string; parsed: Parsed } | undefined
  const parseLine = (text: string): Parsed => {
    if (lastAction?.text === text) return lastAction.parsed
    const p = parseJson(text)
    if (actionOf(p)) lastAction = { text, parsed: p }
    return p
  }
  const parse = (i: number): Parsed => (parsed[i] ??= invalidUtf8?.has(nos[i]!) ? { ok: false, message: 'Invalid UTF-8' } : parseLine(texts[i]!))
  const isAction = (i: number) => i < count && actionOf(parse(i)) !== undefined
  const items: BulkItem[] = []
  // The repeated action's target (its index name checked) is worked out once too.
  let lastMeta: Record<string, unknown> | undefined
  let lastTarget: ReturnType<typeof target> | undefined
  let i = 0
  while (i < count) {
    const lineNo = nos[i]!
    const line = parse(i++)
    const action = actionOf(line)
    if (action === undefined) {
      items.push({ op: 'index', index: pathIndex ?? null, id: null, error: malformed(line, lineNo) })
      if (i < count && !isAction(i)) i++ // its source line, most likely
      continue
    }
    const { op } = action
    if (action.meta !== lastMeta) {
      lastMeta = action.meta
      lastTarget = target(action.meta, pathIndex)
    }
    const t = lastTarget!
    const item: BulkItem = { op, index: t.index, id: t.id }
    if (t.error) item.error = t.error
    items.push(item)
    if (op === 'delete') {
      item.error = invalid('illegal_argument_exception', 'delete is not supported: Sluice stores logs append-only')
      continue
    }
    // Strictly the next line, as Elasticsearch reads it: the source may look like an action.
    if (i >= count) {
      item.error = invalid('action_request_validation_exception', `Validation Failed: 1: the ${op} action on line [${lineNo}] has no source line;`)
      continue
    }
    const sourceNo = nos[i]!
    const source = parse(i++)
    if (item.error) continue
    if (op === 'update') item.error = invalid('illegal_argument_exception', 'update is not supported: Sluice stores logs append-only; send index or create')
    else if (!source.ok) item.error = invalid('mapper_parsing_exception', `failed to parse the document on line [${sourceNo}]: ${source.message}`)
    else if (!isPlainObject(source.value)) item.error = invalid('mapper_parsing_exception', `the document on line [${sourceNo}] is not a JSON object`)
    else item.doc = source.value
  }
  return items
}
