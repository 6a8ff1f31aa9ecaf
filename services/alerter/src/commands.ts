// Acknowledge, resolve and look up an alert on any alerter instance. An alert lives on the instance
// that owns its input partition; a request arriving elsewhere travels over a command topic (one
// partition, short retention) that every instance tails from its end: the owner applies it and
// answers on the same topic, the asking instance waits for that answer (bounded). Which alerts
// exist at all is read from the compacted `alerts` topic, so an unknown id is a 404 at once.
// The instance that received the request has checked the tenant already (an alert of another
// tenant is a 404 there); `tenant` travels with the request so the owner checks it again.
//
// Records (JSON): {"v":1,"type":"request","id":…,"from":<instance>,"alert_id":…,"command":{…},"tenant":"acme"}
//                 ("tenant" absent: the request may act on any tenant's alert)
//                 {"v":1,"type":"reply","id":…,"to":<instance>,"code":200,"payload":{…}}
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { deleteGroup } from '@sluice/kafka'
import type { MessageProducer } from '@sluice/kafka'

export type Command = { action: 'get' } | { action: 'ack'; by: string } | { action: 'resolve'; by: string; reason: string | null }

export interface CommandResult {
  code: number
  payload: unknown
  /** A 404 for an alert that exists but belongs to another tenant (audited as refused; never sent). */
  hidden?: boolean
}

interface Request {
  v: 1
  type: 'request'
  id: string
  from: string
  alert_id: string
  command: Command
  tenant?: string
}

interface Reply {
  v: 1
  type: 'reply'
  id: string
  to: string
  code: number
  payload: unknown
}

export interface CommandBusOptions {
  kafka: Kafka
  producer: MessageProducer
  topic: string
  groupId: string
  /** How long a request waits for the owner's answer. */
  timeoutMs: number
  /** Applies a command when this instance owns the alert; undefined when it does not. */
  apply: (alertId: string, command: Command, tenant: string | undefined) => Promise<CommandResult | undefined>
  logger: Logger
}

export class CommandBus {
  readonly #o: CommandBusOptions
  readonly #instance = randomUUID()
  readonly #groupId: string
  readonly #waiting = new Map<string, (r: CommandResult) => void>()
  readonly #log: Logger
  #consumer: Consumer | null = null

  constructor(opts: CommandBusOptions) {
    this.#o = opts
    this.#groupId = `${opts.groupId}.commands.${this.#instance}`
    this.#log = opts.logger.child({ component: 'commands' })
  }

  /** Joins the topic's tail; resolves once this instance reads what is written after the call. */
  async start(): Promise<void> {
    // A fetch returns as soon as a command arrives; the wait only bounds an idle poll.
    const consumer = this.#o.kafka.consumer({ groupId: this.#groupId, maxWaitTimeInMs: 1000, retry: { retries: 10 } })
    this.#consumer = consumer
    await consumer.connect()
    await consumer.subscribe({ topic: this.#o.topic, fromBeginning: false })
    await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => this.#receive(message.value) })
    // A fresh group starts at the end it finds on its first fetch: an answer to ourselves proves
    // the reader is in place, so no request or reply written from now on can pass it by.
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const id = randomUUID()
      const seen = new Promise<boolean>((resolve) => {
        this.#waiting.set(id, () => resolve(true))
        setTimeout(() => resolve(false), 1000)
      })
      await this.#send({ v: 1, type: 'reply', id, to: this.#instance, code: 0, payload: null })
      const ok = await seen
      this.#waiting.delete(id)
      if (ok) return
    }
    throw new Error(`${this.#o.topic}: this instance does not read its own commands`)
  }

  /** Asks the owner of an alert, as `tenant` (undefined: any); undefined when no instance answered within the timeout. */
  async request(alertId: string, command: Command, tenant?: string): Promise<CommandResult | undefined> {
    const id = randomUUID()
    let timer: NodeJS.Timeout | undefined
    const answer = new Promise<CommandResult | undefined>((resolve) => {
      this.#waiting.set(id, resolve)
      timer = setTimeout(() => resolve(undefined), this.#o.timeoutMs)
    })
    try {
      await this.#send({ v: 1, type: 'request', id, from: this.#instance, alert_id: alertId, command, ...(tenant !== undefined && { tenant }) })
      return await answer
    } finally {
      clearTimeout(timer)
      this.#waiting.delete(id)
    }
  }

  async close(): Promise<void> {
    await this.#consumer?.disconnect()
    this.#consumer = null
    if (!(await deleteGroup(this.#o.kafka, this.#groupId))) this.#log.debug({ group: this.#groupId }, 'command reader group not deleted')
  }

  #send(record: Request | Reply): Promise<void> {
    return this.#o.producer.send(this.#o.topic, [{ key: record.type === 'request' ? record.alert_id : record.to, value: JSON.stringify(record) }])
  }

  async #receive(value: Buffer | null): Promise<void> {
    let record: Request | Reply
    try {
      record = JSON.parse(value?.toString('utf8') ?? 'null') as Request | Reply
      if (record?.v !== 1) return
    } catch {
      return
    }
    if (record.type === 'reply') {
      if (record.to === this.#instance) this.#waiting.get(record.id)?.({ code: record.code, payload: record.payload })
      return
    }
    if (record.type !== 'request' || record.from === this.#instance) return
    try {
      const result = await this.#o.apply(record.alert_id, record.command, typeof record.tenant === 'string' ? record.tenant : undefined)
      if (result !== undefined) await this.#send({ v: 1, type: 'reply', id: record.id, to: record.from, code: result.code, payload: result.payload })
    } catch (err) {
      // The asker times out and answers 503; the log says why.
      this.#log.error({ err, alert: record.alert_id, action: record.command.action }, 'command from another instance failed')
    }
  }
}
