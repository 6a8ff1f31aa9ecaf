import { describe, expect, it } from 'vitest'
import { fastParse, validateLogInput, zodParse } from './input.js'
import type { InputDefaults } from './input.js'
import type { LogEvent } from './model.js'

const defaults = { tenant: 'acme', source: 'http' as const, observedNs: 1_000_000_000_000_000_000n }

describe('validateLogInput', () => {
  it('turns a minimal record into a LogEvent with defaults', () => {
    const r = validateLogInput({ message: 'hello' }, 0, defaults)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.event).toMatchObject({
      tenant: 'acme',
      service: 'unknown',
      message: 'hello',
      severity_text: 'INFO',
      severity_number: 9,
      timestamp: defaults.observedNs,
      observed_timestamp: defaults.observedNs,
      source: 'http',
      host: null,
      trace_id: null,
    })
    expect(r.event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/)
  })

  it('accepts common aliases and normalises level and timestamp', () => {
    const r = validateLogInput({ msg: 'x', level: 'warning', ts: 1_763_899_200, service: ' api ' }, 3, defaults)
    expect(r.ok && r.event).toMatchObject({ message: 'x', severity_text: 'WARN', timestamp: 1_763_899_200_000_000_000n, service: 'api' })
  })

  it('keeps a client id and folds unknown top-level keys into string attributes, nested ones dotted', () => {
    const r = validateLogInput({ id: 'abc', message: 'm', user: { id: 7, roles: ['a'] }, retry: 3, attributes: { ok: true, http: { status: 502 } } }, 0, defaults)
    expect(r.ok && r.event.id).toBe('abc')
    expect(r.ok && r.event.attributes).toEqual({ ok: 'true', 'http.status': '502', 'user.id': '7', 'user.roles': '["a"]', retry: '3' })
  })

  it('names the field and the record index of every error', () => {
    const r = validateLogInput({ message: 'm', level: 'loud', timestamp: 'yesterday', trace_id: 'xyz' }, 4, defaults)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map((e) => [e.index, e.field])).toEqual([
      [4, 'timestamp'],
      [4, 'level'],
      [4, 'trace_id'],
    ])
    expect(r.errors[1]?.message).toContain('unknown level "loud"')
  })

  it('refuses text that is not valid Unicode (an escaped lone surrogate), naming the field, as no UTF-8 can carry it', () => {
    const bad = JSON.parse('"a \\ud800 b"') as string
    for (const [record, field] of [
      [{ message: bad }, 'message'],
      [{ message: 'm', service: bad }, 'service'],
      [{ message: 'm', attributes: { k: bad } }, 'attributes.k'],
      [{ message: 'm', other: bad }, 'attributes.other'],
      [{ message: 'm', resource: { [bad]: 'v' } }, 'resource'],
      [{ msg: bad, level: 30 }, 'message'],
    ] as const) {
      const r = validateLogInput(record, 2, defaults)
      expect(r.ok, field).toBe(false)
      if (!r.ok) expect(r.errors, field).toEqual([{ index: 2, field, message: expect.stringMatching(/not valid Unicode: a lone surrogate/) }])
    }
    // A pair is one character: fine.
    expect(validateLogInput({ message: JSON.parse('"\\ud83d\\ude00"') as string }, 0, defaults).ok).toBe(true)
  })

  it('keeps __proto__ as an ordinary key, at the top level and in attributes', () => {
    const r = validateLogInput(JSON.parse('{"message":"m","__proto__":"x","attributes":{"__proto__":"y","a":"b"},"resource":{"__proto__":"z"}}'), 0, defaults)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    // The top-level field, an attribute like any unknown one, wins over the attribute of its name.
    expect(Object.keys(r.event.attributes).sort()).toEqual(['__proto__', 'a'])
    expect(Object.getOwnPropertyDescriptor(r.event.attributes, '__proto__')?.value).toBe('x')
    expect(r.event.attributes.a).toBe('b')
    expect(Object.getOwnPropertyDescriptor(r.event.resource, '__proto__')?.value).toBe('z')
    expect(Object.getPrototypeOf(r.event.attributes)).toBe(Object.prototype)
  })

  it('holds the record\'s other fields to the limits of attributes: 256 entries, keys of 1-256 characters', () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i]))
    expect(validateLogInput({ message: 'm', ...many }, 0, defaults)).toEqual({ ok: false, errors: [{ index: 0, field: 'attributes', message: expect.stringMatching(/^at most 256 entries/) }] })
    expect(validateLogInput({ message: 'm', attributes: { nested: many } }, 0, defaults).ok).toBe(false)
    expect(validateLogInput({ message: 'm', '': 'x' }, 0, defaults)).toMatchObject({ ok: false, errors: [{ field: 'attributes', message: 'expected a key of 1-256 characters' }] })
    expect(validateLogInput({ message: 'm', ['k'.repeat(1000)]: 'x' }, 0, defaults)).toMatchObject({ ok: false, errors: [{ message: 'expected a key of 1-256 characters' }] })
    // 256 of the client's and the validator's own log.level: fine.
    expect(validateLogInput({ message: 'm', level: 'warning', ...Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`f${i}`, i])) }, 0, defaults).ok).toBe(true)
  })

  it('takes a standard field set to null as absent', () => {
    const r = validateLogInput({ message: null, msg: 'm', host: null, level: null, timestamp: null, trace_id: null, service: null, id: null, tenant: null, attributes: null }, 0, defaults)
    expect(r.ok && r.event).toMatchObject({ message: 'm', host: null, severity_text: 'INFO', timestamp: defaults.observedNs, service: 'unknown', tenant: 'acme', attributes: {} })
    expect(validateLogInput({ message: null }, 0, defaults)).toMatchObject({ ok: false, errors: [{ field: 'message' }] })
  })

  it('repeats at most 100 characters of a bad value in its error', () => {
    const r = validateLogInput({ message: 'm', timestamp: 'x'.repeat(1_000_000), level: 'y'.repeat(1_000_000) }, 0, defaults)
    expect(r.ok).toBe(false)
    if (!r.ok) for (const e of r.errors) expect(e.message.length, e.field).toBeLessThan(300)
  })

  it('takes event times up to 2096-01-01T00:00:00Z, the latest storage keeps, and refuses later ones saying why', () => {
    const latest = 3_976_214_400_000_000_000n
    for (const t of ['2096-01-01T00:00:00Z', '2096-01-01T00:00:00.000000000Z', '3976214400000000000', 3_976_214_400, latest]) {
      expect(validateLogInput({ message: 'm', timestamp: t }, 0, defaults), String(t)).toMatchObject({ ok: true, event: { timestamp: latest } })
    }
    // Each after the limit, yet within what a LogEvent holds (2262): by every field name and shape.
    const after = [
      { timestamp: '2096-01-01T00:00:00.000000001Z' },
      { ts: '3976214400000000001' },
      { time: latest + 1n },
      { '@timestamp': '2200-06-01T00:00:00+02:00' },
      { timestamp: 4_000_000_000 },
      { timestamp: '2262-04-11T23:47:16.854775807Z' },
      { timestamp: 2n ** 63n - 1n },
    ]
    for (const t of after) {
      const field = Object.keys(t)[0]!
      expect(validateLogInput({ message: 'm', ...t }, 3, defaults), field).toEqual({
        ok: false,
        errors: [{ index: 3, field, message: expect.stringMatching(/^timestamp \S+ is after 2096-01-01T00:00:00Z, the latest time storage keeps \(ClickHouse's DateTime ends in 2106/) }],
      })
    }
    // Past 2262 nothing reads it as a time at all.
    expect(validateLogInput({ message: 'm', timestamp: '9999-01-01T00:00:00Z' }, 0, defaults)).toMatchObject({
      ok: false,
      errors: [{ field: 'timestamp', message: 'unparseable timestamp "9999-01-01T00:00:00Z": expected ISO-8601 or epoch seconds/ms/µs/ns, from 1970 up to 2096-01-01T00:00:00Z' }],
    })
  })

  it('refuses a map of many entries as one problem, before reading them', () => {
    const huge = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i % 2 ? [] : 'v']))
    expect(validateLogInput({ message: 'm', resource: huge }, 0, defaults)).toEqual({ ok: false, errors: [{ index: 0, field: 'resource', message: 'at most 256 entries' }] })
  })

  it('requires a message', () => {
    const r = validateLogInput({ level: 'info' }, 2, defaults)
    expect(r).toEqual({ ok: false, errors: [{ index: 2, field: 'message', message: expect.stringContaining('required') }] })
  })

  it('rejects non-objects', () => {
    expect(validateLogInput('text', 0, defaults)).toMatchObject({ ok: false, errors: [{ field: '', message: 'expected a JSON object' }] })
    expect(validateLogInput([1], 0, defaults).ok).toBe(false)
  })
})

describe('logger-native records', () => {
  const ok = (input: unknown, d: Partial<InputDefaults> = {}): LogEvent => {
    const r = validateLogInput(input, 0, { ...defaults, ...d })
    if (!r.ok) throw new Error(JSON.stringify(r.errors))
    return r.event
  }

  it('reads pino output: numeric level, epoch-ms time, msg, hostname, pid, name', () => {
    const e = ok({ level: 30, time: 1_763_899_200_123, pid: 4242, hostname: 'web-1', name: 'checkout', msg: 'order paid', orderId: 'o-1' })
    expect(e).toMatchObject({ severity_text: 'INFO', severity_number: 9, timestamp: 1_763_899_200_123_000_000n, host: 'web-1', service: 'checkout', message: 'order paid' })
    expect(e.resource).toEqual({ 'process.pid': '4242' })
    expect(e.attributes).toEqual({ orderId: 'o-1', 'log.level': '30' })
  })

  it.each([
    [10, 'TRACE'], [20, 'DEBUG'], [30, 'INFO'], [35, 'INFO'], [40, 'WARN'], [50, 'ERROR'], [60, 'FATAL'],
  ])('maps pino/bunyan level %i to %s', (level, text) => {
    expect(ok({ level, msg: 'm' }).severity_text).toBe(text)
  })

  it('reads 1-24 as OTel numbers outside a pino record, and larger numbers on the pino scale', () => {
    expect(ok({ level: 10, message: 'm' })).toMatchObject({ severity_text: 'INFO', severity_number: 10 })
    expect(ok({ level: 20, message: 'm' })).toMatchObject({ severity_text: 'ERROR', severity_number: 20 })
    expect(ok({ level: 50, message: 'm' }).severity_text).toBe('ERROR')
    expect(ok({ level: '40', message: 'm' }).severity_text).toBe('WARN')
    // 0 is OTel's UNSPECIFIED: the default level, the value kept.
    expect(ok({ level: 0, message: 'm' })).toMatchObject({ severity_text: 'INFO', attributes: { 'log.level': '0' } })
  })

  it('reads 1-24 beside msg as OTel numbers too, except pino\'s 10 and 20, and 0 as unspecified', () => {
    for (const [level, text] of [[17, 'ERROR'], [13, 'WARN'], [9, 'INFO'], [24, 'FATAL'], [0, 'INFO'], ['17', 'ERROR'], [10, 'TRACE'], [20, 'DEBUG']] as const) {
      expect(ok({ level, msg: 'm' }).severity_text, String(level)).toBe(text)
    }
  })

  it('reads bunyan output, whose time is ISO and whose name is the service', () => {
    const e = ok({ name: 'myapp', hostname: 'h', pid: 1, level: 50, msg: 'boom', time: '2025-11-23T12:00:00.114Z', v: 0 })
    expect(e).toMatchObject({ service: 'myapp', host: 'h', severity_text: 'ERROR', timestamp: 1_763_899_200_114_000_000n, attributes: { v: '0', 'log.level': '50' } })
  })

  it('keeps `name` as an attribute outside a pino record', () => {
    expect(ok({ name: 'Ada', message: 'signed up' })).toMatchObject({ service: 'unknown', attributes: { name: 'Ada' } })
  })

  it('reads winston and logstash JSON, keeping non-canonical level spellings', () => {
    expect(ok({ level: 'warn', message: 'slow', timestamp: '2025-11-23T12:00:00Z', service: 'api' })).toMatchObject({ severity_text: 'WARN', service: 'api', attributes: {} })
    expect(ok({ level: 'http', message: 'GET /' })).toMatchObject({ severity_text: 'DEBUG', attributes: { 'log.level': 'http' } })
    expect(ok({ level: 'silly', message: 'x' }).severity_text).toBe('TRACE')
    const logstash = ok({ '@timestamp': '2025-11-23T12:00:00.000Z', '@version': '1', message: 'm', logger_name: 'com.acme.Api', level: 'WARNING', HOSTNAME: 'h' })
    expect(logstash).toMatchObject({ severity_text: 'WARN', timestamp: 1_763_899_200_000_000_000n, attributes: { '@version': '1', logger_name: 'com.acme.Api', HOSTNAME: 'h', 'log.level': 'WARNING' } })
  })

  it('reads ECS, dotted or nested', () => {
    const trace = '0af7651916cd43dd8448eb211c80319c'
    const nested = ok({ '@timestamp': '2025-11-23T12:00:00Z', 'log.level': 'error', message: 'm', 'ecs.version': '8.10.0', service: { name: 'checkout', version: '1.2' }, host: { hostname: 'h1' }, trace: { id: trace }, log: { logger: 'app' } })
    expect(nested).toMatchObject({ severity_text: 'ERROR', service: 'checkout', host: 'h1', trace_id: trace })
    expect(nested.attributes).toEqual({ 'ecs.version': '8.10.0', 'service.version': '1.2', 'log.logger': 'app' })
    const dotted = ok({ '@timestamp': '2025-11-23T12:00:00Z', 'log.level': 'error', message: 'm', 'service.name': 'checkout', 'host.name': 'h1', 'trace.id': trace })
    expect(dotted).toMatchObject({ severity_text: 'ERROR', service: 'checkout', host: 'h1', trace_id: trace, attributes: {} })
  })

  it('names a nested field by its dotted path', () => {
    const r = validateLogInput({ message: 'm', service: { name: '' }, log: { level: 'loud' } }, 1, defaults)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.errors.map((e) => e.field).sort()).toEqual(['log.level', 'service.name'])
  })

  it('refuses pathological nesting and field counts with an error instead of throwing', () => {
    let deep: unknown = 'leaf'
    for (let i = 0; i < 100; i++) deep = { d: deep }
    expect(validateLogInput({ message: 'm', deep }, 0, defaults)).toMatchObject({ ok: false, errors: [{ field: expect.stringMatching(/^deep(\.d)+$/), message: expect.stringContaining('nested too deeply') }] })
    const arrays = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)
    expect(validateLogInput({ message: 'm', arrays }, 0, defaults)).toMatchObject({ ok: false, errors: [{ field: 'arrays' }] })
    const wide = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i]))
    expect(validateLogInput({ message: 'm', wide }, 0, defaults)).toMatchObject({ ok: false, errors: [{ message: expect.stringContaining('more than 1000 fields') }] })
  })
})

describe('field mapping', () => {
  const fields = { timestamp: ['date'], message: ['log', 'text'], level: ['lvl'], service: ['kubernetes.container_name', 'app'] }

  it('takes each role from the named field, the first one set, reaching into nested objects', () => {
    const r = validateLogInput({ date: 1_763_899_200.5, log: 'hello', message: 'shadowed', lvl: 'E', kubernetes: { container_name: 'web', pod: 'p-1' } }, 0, { ...defaults, fields })
    expect(r.ok && r.event).toMatchObject({ timestamp: 1_763_899_200_500_000_000n, message: 'hello', severity_text: 'ERROR', service: 'web', attributes: { message: 'shadowed', 'kubernetes.pod': 'p-1', 'log.level': 'E' } })
    const fallback = validateLogInput({ text: 'second choice', app: 'api' }, 0, { ...defaults, fields })
    expect(fallback.ok && fallback.event).toMatchObject({ message: 'second choice', service: 'api' })
  })

  it('names the client field in errors', () => {
    expect(validateLogInput({ date: 'someday', log: 'x' }, 5, { ...defaults, fields })).toMatchObject({ ok: false, errors: [{ index: 5, field: 'date', message: expect.stringContaining('unparseable timestamp') }] })
    expect(validateLogInput({ other: 'x' }, 0, { ...defaults, fields })).toMatchObject({ ok: false, errors: [{ field: 'log', message: 'required: none of log, text is set' }] })
  })
})

describe('fast path', () => {
  // A small deterministic PRNG so failures reproduce.
  let seed = 42
  const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const pools: Record<string, readonly unknown[]> = {
    id: ['a', '', 'x'.repeat(128), 'x'.repeat(129), 7, null],
    tenant: ['acme', 'bad tenant', '', 'a'.repeat(64), 'a'.repeat(65), 3],
    timestamp: ['2026-11-23T12:00:00.123Z', '2026-11-23 12:00:00', 1_763_899_200, 1_763_899_200_123, '1763899200123456789', 'soon', -1, null, true, 1_763_899_200_123_456_789n, -1n, 2n ** 63n, '2096-01-01T00:00:00Z', '2096-01-01T00:00:00.000000001Z', '3976214400000000001', 3_976_214_400_000_000_000n, 3_976_214_400_000_000_001n, '2200-01-01T00:00:00Z'],
    level: ['info', 'WARNING', 'E', 17, 0, 25, 'loud', '', null],
    severity_number: [1, 10, 24, 0, 25, 9.5, '9', null],
    message: ['hello', '', 'x'.repeat(5000), 5, null],
    service: ['api', ' api ', '   ', '', 's'.repeat(256), 's'.repeat(257), ` ${'s'.repeat(256)} `, 1],
    host: ['h', ' h ', '', 'h'.repeat(257), null],
    trace_id: ['0123456789abcdef0123456789ABCDEF', '0123', 'zz23456789abcdef0123456789abcdef', 5],
    span_id: ['0123456789ABCDEF', '012345', null],
    attributes: [{ a: 'b' }, { n: 1, t: true, z: null }, { '': 'x' }, { nested: { a: 1 } }, { list: [1] }, [], null, 'x', Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']))],
    resource: [{ 'service.version': '1.2' }, { k: { deep: true } }, 5],
    msg: ['alias'],
    extra: ['unknown key'],
  }
  const keys = Object.keys(pools)

  it('accepts only what zod accepts, with the same parsed result', () => {
    let fastAccepted = 0
    for (let n = 0; n < 40_000; n++) {
      const record: Record<string, unknown> = {}
      for (const k of keys) if (rand() < (k === 'message' ? 0.9 : 0.35)) record[k] = pick(pools[k]!)
      const fast = fastParse(record)
      if (fast === undefined) continue
      fastAccepted++
      const slow = zodParse(record)
      expect(slow.success, JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(true)
      expect(fast).toEqual(slow.data)
    }
    // The generator must exercise the fast path, not just the fallback.
    expect(fastAccepted).toBeGreaterThan(400)
  })

  it('gives the same events as the zod path for the common shape', () => {
    const record = { id: 'r1', timestamp: '2026-11-23T12:00:00.5Z', level: 'warn', service: ' api ', host: 'h1', message: 'm', trace_id: 'ABCDEF0123456789ABCDEF0123456789', attributes: { a: 1, b: null } }
    const viaFast = validateLogInput(record, 0, defaults)
    const slow = zodParse(record)
    expect(slow.success).toBe(true)
    expect(viaFast).toMatchObject({ ok: true, event: { service: 'api', severity_text: 'WARN', trace_id: 'abcdef0123456789abcdef0123456789', attributes: { a: '1', b: '' } } })
  })
})
