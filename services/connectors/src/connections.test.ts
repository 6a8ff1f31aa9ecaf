// Connection documents: settings validated by the provider's schema (issues named by field),
// secrets never shown and kept across an update that leaves them out; leases spread connections.
import { describe, expect, it, vi } from 'vitest'
import { SecretBox } from '@sluice/core'
import type { Kafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { ConnectionStore, connectionInput, parseSettings, showConnection, withKeptSecrets } from './connections.js'
import type { Connection } from './connections.js'
import { leaseOf } from './service.js'

const aws = { region: 'eu-west-1', logGroupName: '/ecs/payments-api', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }

function connection(settings: Record<string, unknown>): Connection {
  return { id: 'c-1', tenant: 'acme', name: 'cw', provider: 'aws-cloudwatch', settings, enabled: true, poll_interval_ms: null, lookback_ms: null, start_at: '2026-12-01T00:00:00.000Z', created_at: '2026-12-01T00:00:00.000Z', updated_at: '2026-12-01T00:00:00.000Z' }
}

describe('connections', () => {
  it('validates the document and the settings with the provider schema, naming each wrong field', () => {
    expect(connectionInput.safeParse({ name: 'cw', provider: 'oracle-cloud', settings: {} }).success).toBe(false)
    expect(connectionInput.parse({ name: 'cw', provider: 'aws-cloudwatch', settings: aws })).toMatchObject({ enabled: true })
    const bad = parseSettings('aws-cloudwatch', { ...aws, region: 'moon-1', colour: 'red' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.message).toMatch(/settings\./)
      expect(bad.message).not.toContain(aws.secretAccessKey)
    }
    expect(parseSettings('aws-cloudwatch', aws).ok).toBe(true)
  })

  it('shows which secrets are set, never their values', () => {
    const shown = showConnection(connection(aws))
    expect(shown.secrets_set).toEqual(['secretAccessKey'])
    expect(shown.settings).toEqual({ region: 'eu-west-1', logGroupName: '/ecs/payments-api', accessKeyId: 'AKIAIOSFODNN7EXAMPLE' })
    expect(JSON.stringify(shown)).not.toContain(aws.secretAccessKey)
  })

  it('keeps the stored secrets an update leaves out, not across providers', () => {
    const previous = connection(aws)
    const { secretAccessKey: _, ...update } = aws
    expect(withKeptSecrets('aws-cloudwatch', { ...update, filterPattern: 'ERROR' }, previous)).toEqual({ ...aws, filterPattern: 'ERROR' })
    expect(withKeptSecrets('aws-cloudwatch', { ...update, secretAccessKey: 'new' }, previous).secretAccessKey).toBe('new')
    expect(withKeptSecrets('gcp-logging', { projectId: 'p' }, previous)).toEqual({ projectId: 'p' })
  })

  it('refuses a start_at before 1970 (providers take epoch times)', () => {
    const r = connectionInput.safeParse({ name: 'cw', provider: 'aws-cloudwatch', settings: aws, start_at: '0000-01-01T00:00:00Z' })
    expect(r.success).toBe(false)
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['start_at'])
    expect(connectionInput.safeParse({ name: 'cw', provider: 'aws-cloudwatch', settings: aws, start_at: '1970-01-01T00:00:00Z' }).success).toBe(true)
  })

  it('drops the stored session token when the access key changes, and removes a secret given as null', () => {
    const previous = connection({ ...aws, accessKeyId: 'ASIAOLDTEMPORARYKEY1', sessionToken: 'old-token' })
    const { secretAccessKey: _, ...rest } = aws
    // New long-term keys, no token: the old token belonged to the old key.
    expect(withKeptSecrets('aws-cloudwatch', { ...aws }, previous)).toEqual(aws)
    // The same key: its token is kept, as every secret left out.
    expect(withKeptSecrets('aws-cloudwatch', { ...rest, accessKeyId: 'ASIAOLDTEMPORARYKEY1' }, previous)).toMatchObject({ sessionToken: 'old-token', secretAccessKey: aws.secretAccessKey })
    // null removes it, and passes the provider's schema.
    const removed = withKeptSecrets('aws-cloudwatch', { ...rest, accessKeyId: 'ASIAOLDTEMPORARYKEY1', sessionToken: null }, previous)
    expect(removed).not.toHaveProperty('sessionToken')
    expect(parseSettings('aws-cloudwatch', removed).ok).toBe(true)
    // A required secret given as null is a 400 naming it.
    const missing = parseSettings('aws-cloudwatch', withKeptSecrets('aws-cloudwatch', { ...aws, secretAccessKey: null }, previous))
    expect(missing.ok === false && missing.message).toMatch(/settings\.secretAccessKey/)
  })

  it('spreads connections over the lease partitions, stably', () => {
    const counts = [0, 0, 0]
    for (let i = 0; i < 300; i++) counts[leaseOf(`acme|c-${i}`, 3)]!++
    for (const n of counts) expect(n).toBeGreaterThan(60)
    expect(leaseOf('acme|c-7', 3)).toBe(leaseOf('acme|c-7', 3))
  })

  it('keeps every change even when two fall in the same millisecond (the version moves on)', async () => {
    const changes: boolean[] = []
    const store = new ConnectionStore({
      kafka: undefined as unknown as Kafka,
      producer: { send: async () => undefined },
      topic: 't',
      groupId: 'g',
      box: new SecretBox(Buffer.alloc(32, 7)),
      listener: { set: (c) => void changes.push(c.enabled), remove: () => undefined },
      logger: createLogger({ level: 'silent' }),
    })
    // The clock stands still: every change falls in one millisecond.
    vi.useFakeTimers({ now: Date.parse('2026-12-01T10:00:00.000Z'), toFake: ['Date'] })
    try {
      const input = connectionInput.parse({ name: 'cw', provider: 'aws-cloudwatch', settings: aws, enabled: false })
      const c = await store.create('acme', input, aws, '2026-12-01T00:00:00.000Z')
      const started = await store.update({ ...c, enabled: true })
      const stopped = await store.update({ ...started, enabled: false })
      expect(new Set([c.updated_at, started.updated_at, stopped.updated_at]).size).toBe(3)
      expect(changes).toEqual([false, true, false])
      expect(store.get('acme', c.id)?.enabled).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })
})
