// Per-tenant spending limits for the language model: requests in a sliding minute, requests and
// tokens per calendar day (UTC). Pure bookkeeping with an injected clock, so the limits can be
// tested without waiting a minute or a day. The limit names in the answers are the settings an
// operator changes, so a `budget` failure says what to raise.

export interface BudgetLimits {
  requestsPerMinute: number
  requestsPerDay: number
  /** Prompt plus completion tokens, as the provider's `usage` reports them. */
  tokensPerDay: number
}

/** The settings behind each limit, as the failure detail names them. */
export const BUDGET_SETTINGS = {
  requestsPerMinute: 'QUERY_AI_MAX_REQUESTS_PER_MINUTE',
  requestsPerDay: 'QUERY_AI_MAX_REQUESTS_PER_DAY',
  tokensPerDay: 'QUERY_AI_MAX_TOKENS_PER_DAY',
} as const

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

interface TenantUsage {
  /** Start times of the requests in the last minute, oldest first. */
  minute: number[]
  /** Days since the epoch (UTC) the counters below belong to. */
  day: number
  requests: number
  tokens: number
}

export class TenantBudgets {
  readonly #limits: BudgetLimits
  readonly #tenants = new Map<string, TenantUsage>()
  #day = -1

  constructor(limits: BudgetLimits) {
    this.#limits = { ...limits }
  }

  /**
   * Counts one request for `tenant` at `now` if every limit allows it and answers undefined;
   * otherwise counts nothing and answers the limit that is spent, e.g.
   * `10 requests per minute (QUERY_AI_MAX_REQUESTS_PER_MINUTE)`.
   * The day limits are named first: they are the ones that last.
   */
  take(tenant: string, now: number): string | undefined {
    const u = this.#usage(tenant, now)
    while (u.minute.length > 0 && u.minute[0]! <= now - MINUTE_MS) u.minute.shift()
    const l = this.#limits
    if (u.requests >= l.requestsPerDay) return `${l.requestsPerDay} requests per day (${BUDGET_SETTINGS.requestsPerDay})`
    if (u.tokens >= l.tokensPerDay) return `${l.tokensPerDay} tokens per day (${BUDGET_SETTINGS.tokensPerDay})`
    if (u.minute.length >= l.requestsPerMinute) return `${l.requestsPerMinute} requests per minute (${BUDGET_SETTINGS.requestsPerMinute})`
    u.minute.push(now)
    u.requests += 1
    return undefined
  }

  /** Tokens become known only with the answer, so a call in flight can overshoot the day's tokens once. */
  addTokens(tenant: string, tokens: number, now: number): void {
    this.#usage(tenant, now).tokens += tokens
  }

  #usage(tenant: string, now: number): TenantUsage {
    const day = Math.floor(now / DAY_MS)
    if (day !== this.#day) this.#forgetIdle(day, now)
    let u = this.#tenants.get(tenant)
    if (u === undefined) {
      u = { minute: [], day, requests: 0, tokens: 0 }
      this.#tenants.set(tenant, u)
    } else if (u.day !== day) {
      u.day = day
      u.requests = 0
      u.tokens = 0
    }
    return u
  }

  /** At each new day, tenants with nothing left to count are dropped, so the map stays as small as the active tenants. */
  #forgetIdle(day: number, now: number): void {
    this.#day = day
    for (const [tenant, u] of this.#tenants) if (u.day !== day && (u.minute.at(-1) ?? -Infinity) <= now - MINUTE_MS) this.#tenants.delete(tenant)
  }
}
